"""Feed-forward MLPs from ONNX files (the ``onnx`` package), as spicecim ``Mlp`` graphs.

Accepted graphs are dense layers and what folds into them:

- ``Gemm`` (``alpha``, ``beta``, ``transB``; not ``transA``) and ``MatMul`` with a constant
  weight, each followed by any number of ``Add`` nodes of a constant bias;
- an activation right after a layer: ``Relu``, ``Sigmoid``, ``Tanh``, ``Softplus`` (a layer that
  feeds anything else first has none);
- ``Concat`` on the feature axis (skip connections: a layer reading several tensors);
- ``Identity``, ``Flatten`` (axis 1, of the 2-D tensors an MLP has) and ``Constant``.

Graph inputs must be 2-D, ``[batch, width]`` with a fixed width. Any other op is refused with
one line naming it, so a graph is imported whole or not at all. Layers are named after the
ONNX tensor they produce, and the graph's outputs keep their ONNX names, so
``mlp.forward(inputs)[name]`` is the ONNX output ``name``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spicecim.errors import ResultFileError, SpecError
from spicecim.models.mlp import Dense, Mlp

if TYPE_CHECKING:  # onnx is optional: imported where a model is loaded
    from onnx import AttributeProto, ModelProto, NodeProto

ACTIVATIONS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus"}
SUPPORTED = ("Gemm", "MatMul", "Add", *ACTIVATIONS, "Concat", "Identity", "Flatten", "Constant")


@dataclass(slots=True)
class _Linear:
    """A layer's product and bias not yet closed by an activation."""

    sources: tuple[str, ...]
    weight: np.ndarray
    bias: np.ndarray


@dataclass(frozen=True, slots=True)
class _Tensor:
    """A concatenation of graph inputs and layer outputs (one name: the tensor itself)."""

    sources: tuple[str, ...]


def load_onnx(source: str | os.PathLike | ModelProto) -> Mlp:
    """The MLP of an ONNX file (or an ``onnx.ModelProto``); see the module docstring."""
    import onnx
    from onnx import numpy_helper

    where = "ONNX model"
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise SpecError(f"ONNX file {where!r} does not exist")
        try:
            model = onnx.load(path)
        except Exception as exc:  # onnx raises protobuf's DecodeError and others
            raise ResultFileError(f"{where}: not a readable ONNX file ({exc})") from exc
    else:
        model = source
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ResultFileError(f"{where}: not a valid ONNX model ({first})") from exc
    graph = model.graph
    consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    inputs = {}
    for value in graph.input:
        if value.name in consts:
            continue
        dims = value.type.tensor_type.shape.dim
        if len(dims) != 2 or dims[1].dim_value <= 0:
            shape = [d.dim_value or d.dim_param or "?" for d in dims]
            raise SpecError(f"{where}: input {value.name!r} has shape {shape}: expected "
                            "[batch, width] with a fixed width")
        inputs[value.name] = int(dims[1].dim_value)
    builder = _Builder(where, consts, {name: _Tensor((name,)) for name in inputs})
    for node in graph.node:
        builder.node(node, onnx.helper.get_attribute_value)
    outputs = [builder.output(value.name) for value in graph.output]
    return _renamed(Mlp(tuple(inputs.items()), tuple(builder.layers), tuple(outputs)),
                    dict(zip(outputs, [v.name for v in graph.output], strict=True)))


class _Builder:
    def __init__(self, where: str, consts: dict[str, np.ndarray],
                 values: dict[str, _Tensor | _Linear]) -> None:
        self.where, self.consts, self.values = where, consts, values
        self.layers: list[Dense] = []

    def _refuse(self, node: object, why: str) -> SpecError:
        name = getattr(node, "name", "") or getattr(node, "output", ["?"])[0]
        return SpecError(f"{self.where}: ONNX op {getattr(node, 'op_type', '?')!r} (node "
                         f"{name!r}) {why}")

    def _close(self, name: str, activation: str = "none") -> _Tensor:
        """The tensor ``name``, closing a pending layer there (as a layer without activation)."""
        value = self.values[name]
        if isinstance(value, _Tensor):
            return value
        self.layers.append(Dense(name, value.sources, value.weight.astype(np.float32),
                                 value.bias.astype(np.float32), activation))
        tensor = _Tensor((name,))
        self.values[name] = tensor
        return tensor

    def _const(self, node: object, name: str) -> np.ndarray:
        if name not in self.consts:
            raise self._refuse(node, f"reads {name!r} as a weight or bias, which is not a "
                                     "constant")
        return np.asarray(self.consts[name], dtype=np.float64)

    def node(self, node: NodeProto, attribute: Callable[[AttributeProto], Any]) -> None:
        op = node.op_type
        attrs = {a.name: attribute(a) for a in node.attribute}
        ins = list(node.input)
        out = node.output[0]
        if op not in SUPPORTED:
            raise self._refuse(node, "is not supported: spicecim imports MLPs of "
                                     f"{', '.join(SUPPORTED)}")
        if op == "Constant":
            if "value" not in attrs:
                raise self._refuse(node, "has no 'value' tensor")
            from onnx import numpy_helper

            self.consts[out] = numpy_helper.to_array(attrs["value"])
        elif op in ("Identity", "Flatten"):
            if op == "Flatten" and attrs.get("axis", 1) != 1:
                raise self._refuse(node, f"has axis {attrs['axis']}: expected 1")
            if ins[0] in self.consts:
                self.consts[out] = self.consts[ins[0]]
            else:
                self.values[out] = self.values[self._known(node, ins[0])]
        elif op in ("Gemm", "MatMul"):
            self._product(node, op, ins, out, attrs)
        elif op == "Add":
            self._add(node, ins, out)
        elif op in ACTIVATIONS:
            value = self.values[self._known(node, ins[0])]
            if not isinstance(value, _Linear):
                raise self._refuse(node, f"acts on {ins[0]!r}, which is not the output of a "
                                         "Gemm or MatMul (+ bias): every activation must "
                                         "follow a layer")
            self.values[out] = value
            self._close(out, ACTIVATIONS[op])
        else:  # Concat
            if attrs.get("axis") not in (1, -1):
                raise self._refuse(node, f"has axis {attrs.get('axis')}: expected 1 (features)")
            sources: tuple[str, ...] = ()
            for name in ins:
                sources += self._close(self._known(node, name)).sources
            self.values[out] = _Tensor(sources)

    def _known(self, node: object, name: str) -> str:
        if name not in self.values:
            raise self._refuse(node, f"reads {name!r}, which no supported node produced")
        return name

    def _product(self, node: object, op: str, ins: list[str], out: str, attrs: dict) -> None:
        if op == "Gemm" and attrs.get("transA", 0):
            raise self._refuse(node, "has transA=1: expected the batch on the first axis")
        x = self._close(self._known(node, ins[0]))
        weight = self._const(node, ins[1])
        if weight.ndim != 2:
            raise self._refuse(node, f"has a weight of shape {weight.shape}: expected 2-D")
        if op == "Gemm":
            weight = attrs.get("alpha", 1.0) * (weight.T if attrs.get("transB", 0) else weight)
        bias = np.zeros(weight.shape[1])
        if op == "Gemm" and len(ins) > 2 and ins[2]:
            bias = attrs.get("beta", 1.0) * self._bias(node, ins[2], weight.shape[1])
        self.values[out] = _Linear(x.sources, weight, bias)

    def _bias(self, node: object, name: str, width: int) -> np.ndarray:
        c = self._const(node, name)
        if c.size not in (1, width) or (c.ndim == 2 and c.shape[0] != 1) or c.ndim > 2:
            raise self._refuse(node, f"adds {name!r} of shape {c.shape}: expected a bias of "
                                     f"shape ({width},) or (1, {width})")
        return np.broadcast_to(c.reshape(-1), (width,)).astype(np.float64)

    def _add(self, node: object, ins: list[str], out: str) -> None:
        pending = [n for n in ins if isinstance(self.values.get(n), _Linear)]
        other = [n for n in ins if n not in pending]
        if len(pending) != 1 or len(other) != 1 or other[0] not in self.consts:
            raise self._refuse(node, "is not a constant bias added to a Gemm or MatMul: "
                                     "sums of tensors (residual adds) are not supported")
        value = self.values[pending[0]]
        assert isinstance(value, _Linear)
        self.values[out] = _Linear(value.sources, value.weight,
                                   value.bias + self._bias(node, other[0], value.weight.shape[1]))

    def output(self, name: str) -> str:
        """The layer that holds graph output ``name``."""
        if name not in self.values:
            raise SpecError(f"{self.where}: output {name!r} is not produced by a supported node")
        tensor = self._close(name)
        if len(tensor.sources) != 1 or tensor.sources[0] not in {d.name for d in self.layers}:
            raise SpecError(f"{self.where}: output {name!r} is {list(tensor.sources)}: expected "
                            "one layer's output")
        return tensor.sources[0]


def _renamed(mlp: Mlp, names: dict[str, str]) -> Mlp:
    """``mlp`` with each output layer named as its graph output (an Identity may stand
    between them)."""
    names = {old: new for old, new in names.items() if old != new}
    if not names:
        return mlp

    def rename(name: str) -> str:
        return names.get(name, name)

    layers = tuple(Dense(rename(d.name), tuple(map(rename, d.sources)), d.weight, d.bias,
                         d.activation) for d in mlp.layers)
    return Mlp(mlp.inputs, layers, tuple(map(rename, mlp.outputs)), mlp.nonnegative)
