"""Feed-forward MLPs as plain layer graphs: the model description every evaluator stage reads.

An :class:`Mlp` has named inputs of given widths (``{"x": 784}``, or ``{"pos": 63, "dir": 27}``
for a NeRF) and a list of dense layers, each reading the concatenation of earlier tensors (an
input or an earlier layer's output; several sources are a skip connection). Its outputs are the
layers it declares, by default those no other layer reads. Keeping the graph this explicit lets
an analog model replace each layer's product through ``forward(..., matmul=...)`` without
knowing the architecture.

Weights come from a preset's seeded initialisation (:mod:`spicecim.models.presets`), a
spicecim ``.npz`` (:func:`save_mlp` / :func:`load_mlp`), a PyTorch state dict
(:func:`from_state_dict`, :func:`torch_state`) or an ONNX file
(:mod:`spicecim.models.onnx_import`).

``.npz`` layout: ``meta`` (JSON: format, inputs, layers with sources and activation, outputs,
non-negative inputs, and an ``extra`` object a wrapper such as the NeRF field keeps its own
settings in), then ``w<i>`` (in, out) and ``b<i>`` float32 per layer. Files of the first format,
``spicecim-nerf-mlp-v1`` (NeRF only: position and direction levels, bound), are still read.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from spicecim.errors import ResultFileError, SpecError, check
from spicecim.store import files

Matmul = Callable[[str, np.ndarray, np.ndarray], np.ndarray]
ACTIVATIONS = ("relu", "none", "sigmoid", "softplus", "tanh")
NONNEGATIVE = ("relu", "sigmoid", "softplus")
FILE_FORMAT = "spicecim-mlp-v2"
_NERF_V1 = "spicecim-nerf-mlp-v1"


def activate(z: np.ndarray, activation: str) -> np.ndarray:
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "sigmoid":
        return 0.5 + 0.5 * np.tanh(0.5 * z)  # no overflow for large |z|
    if activation == "softplus":
        return np.logaddexp(0.0, z)
    if activation == "tanh":
        return np.tanh(z)
    return z


@dataclass(frozen=True, slots=True)
class Dense:
    """One layer: activation(concat(sources) @ weight + bias), weight (in, out) float32."""

    name: str
    sources: tuple[str, ...]
    weight: np.ndarray
    bias: np.ndarray
    activation: str

    def __post_init__(self) -> None:
        name, w, b = self.name, self.weight, self.bias
        check(isinstance(name, str) and name != "", "name", name, "a non-empty str")
        check(len(self.sources) > 0, f"{name}.sources", self.sources, "one or more tensor names")
        check(self.activation in ACTIVATIONS, "activation", self.activation, str(ACTIVATIONS))
        ok = isinstance(w, np.ndarray) and w.dtype == np.float32 and w.ndim == 2
        check(ok, f"{name}.weight", getattr(w, "shape", w), "a float32 array (in, out)")
        ok = isinstance(b, np.ndarray) and b.dtype == np.float32 and b.shape == w.shape[1:]
        check(ok, f"{name}.bias", getattr(b, "shape", b), f"a float32 array ({w.shape[1]},)")

    @property
    def fan_in(self) -> int:
        return int(self.weight.shape[0])

    @property
    def fan_out(self) -> int:
        return int(self.weight.shape[1])


@dataclass(frozen=True, slots=True)
class Mlp:
    """Named inputs (name -> width; a mapping is accepted), dense layers in execution order,
    the output layers (default: the layers no other layer reads) and the inputs known to be
    non-negative (every other input may be negative, so a layer reading it is read in two
    phases on a crossbar)."""

    inputs: tuple[tuple[str, int], ...]
    layers: tuple[Dense, ...]
    outputs: tuple[str, ...] = ()
    nonnegative: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.inputs, Mapping):
            object.__setattr__(self, "inputs", tuple(self.inputs.items()))
        object.__setattr__(self, "layers", tuple(self.layers))
        widths: dict[str, int] = {}
        for name, width in self.inputs:
            check(isinstance(name, str) and name != "" and name not in widths, "input name",
                  name, "a non-empty str used once")
            check(isinstance(width, int | np.integer) and width >= 1, f"input {name!r} width",
                  width, "an integer >= 1")
            widths[name] = int(width)
        check(len(widths) >= 1, "inputs", self.inputs, "one or more (name, width) pairs")
        check(len(self.layers) >= 1, "layers", len(self.layers), "one or more Dense layers")
        read: set[str] = set()
        for layer in self.layers:
            check(isinstance(layer, Dense), "layer", layer, "a Dense")
            check(layer.name not in widths, "layer name", layer.name,
                  "a name used once, by no input")
            ok = all(s in widths for s in layer.sources)
            check(ok, f"{layer.name}.sources", layer.sources, "inputs or earlier layers")
            fan_in = sum(widths[s] for s in layer.sources)
            shape = layer.weight.shape
            check(shape[0] == fan_in, f"{layer.name}.weight.shape", shape, f"({fan_in}, out)")
            widths[layer.name] = layer.fan_out
            read.update(layer.sources)
        names = [layer.name for layer in self.layers]
        if not self.outputs:
            object.__setattr__(self, "outputs", tuple(n for n in names if n not in read))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "nonnegative", tuple(self.nonnegative))
        for name in self.outputs:
            check(name in names, "output", name, f"a layer name, one of {names}")
        for name in self.nonnegative:
            check(name in dict(self.inputs), "nonnegative input", name,
                  f"an input name, one of {[n for n, _ in self.inputs]}")

    def input_widths(self) -> dict[str, int]:
        return {name: int(width) for name, width in self.inputs}

    def widths(self) -> dict[str, int]:
        """Width of every tensor: inputs and layer outputs."""
        return self.input_widths() | {layer.name: layer.fan_out for layer in self.layers}

    def layer(self, name: str) -> Dense:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def with_layers(self, layers: tuple[Dense, ...]) -> Mlp:
        """The same graph with other layers (new weights), checked again."""
        return replace(self, layers=tuple(layers))

    def signed_inputs(self, layer: Dense) -> bool:
        """Whether ``layer``'s input can be negative: it reads an input not declared
        non-negative, or a layer without a non-negative activation."""
        kinds = {other.name: other.activation for other in self.layers}
        inputs = self.input_widths()
        return any(s not in self.nonnegative if s in inputs else kinds[s] not in NONNEGATIVE
                   for s in layer.sources)

    def forward(self, inputs: Mapping[str, np.ndarray], matmul: Matmul | None = None
                ) -> dict[str, np.ndarray]:
        """The output layers' activations, name -> (N, width), from ``inputs`` name -> (N, width).

        ``matmul(layer_name, x, weight) -> x @ weight`` is the hook through which an analog
        crossbar model can stand in for each layer's product.
        """
        tensors = self.tensors(inputs, matmul)
        return {name: tensors[name][1] for name in self.outputs}

    def tensors(self, inputs: Mapping[str, np.ndarray], matmul: Matmul | None = None
                ) -> dict[str, tuple[np.ndarray | None, np.ndarray]]:
        """Every tensor of the graph as name -> (pre-activation, output)."""
        tensors: dict[str, tuple[np.ndarray | None, np.ndarray]] = {}
        n = None
        for name, width in self.inputs:
            if name not in inputs:
                raise SpecError(f"input {name!r} is missing: the model reads "
                                f"{[i for i, _ in self.inputs]}")
            x = np.asarray(inputs[name], np.float32)
            check(x.ndim == 2 and x.shape[1] == width and (n is None or len(x) == n),
                  f"input {name!r} shape", x.shape, f"(N, {width}), N the same for all inputs")
            n = len(x)
            tensors[name] = (None, x)
        for layer in self.layers:
            parts = [tensors[s][1] for s in layer.sources]
            x = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
            z = x @ layer.weight if matmul is None else matmul(layer.name, x, layer.weight)
            z = z + layer.bias
            tensors[layer.name] = (z, activate(z, layer.activation))
        return tensors


def random_inputs(mlp: Mlp, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``n`` float32 samples of every input, uniform in [0, 1] for the non-negative inputs and
    in [-1, 1] for the others."""
    check(isinstance(n, int) and n >= 1, "points", n, "an integer >= 1")
    return {name: rng.uniform(0.0 if name in mlp.nonnegative else -1.0, 1.0,
                              (n, width)).astype(np.float32)
            for name, width in mlp.inputs}


def batch_size(inputs: Mapping[str, np.ndarray]) -> int:
    return len(next(iter(inputs.values())))


# --- files ---------------------------------------------------------------------------------


def save_mlp(mlp: Mlp, path: str | os.PathLike, extra: Mapping | None = None) -> None:
    """Write ``mlp`` (and a wrapper's JSON-able ``extra`` settings) to an .npz file atomically
    (:mod:`spicecim.store.files`)."""
    path = Path(path)
    meta = {
        "format": FILE_FORMAT,
        "inputs": [[name, width] for name, width in mlp.inputs],
        "layers": [
            {"name": layer.name, "sources": list(layer.sources), "activation": layer.activation}
            for layer in mlp.layers
        ],
        "outputs": list(mlp.outputs),
        "nonnegative": list(mlp.nonnegative),
        "extra": dict(extra or {}),
    }
    arrays = {"meta": np.array(json.dumps(meta))}
    for i, layer in enumerate(mlp.layers):
        arrays[f"w{i}"], arrays[f"b{i}"] = layer.weight, layer.bias
    # Keys are meta, w<i> and b<i>, never savez's own allow_pickle keyword.
    files.write_stream(path, lambda fh: np.savez(fh, **arrays))  # type: ignore[arg-type]


def load_mlp(path: str | os.PathLike) -> Mlp:
    """Read an MLP written by :func:`save_mlp` (either format)."""
    return load_mlp_extra(path)[0]


def load_mlp_extra(path: str | os.PathLike) -> tuple[Mlp, dict]:
    """The MLP of a spicecim ``.npz`` and the ``extra`` settings saved with it; a v1 (NeRF)
    file's bound and encoding levels come back as ``extra["nerf"]``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            fmt = meta.get("format")
            if fmt not in (FILE_FORMAT, _NERF_V1):
                raise ResultFileError(f"{path}: format {fmt!r}, expected {FILE_FORMAT!r} "
                                      f"(or {_NERF_V1!r})")
            layers = tuple(
                Dense(spec["name"], tuple(spec["sources"]), data[f"w{i}"].copy(),
                      data[f"b{i}"].copy(), spec["activation"])
                for i, spec in enumerate(meta["layers"])
            )
    except (OSError, KeyError, AttributeError, TypeError, ValueError, EOFError,
            zipfile.BadZipFile) as exc:
        raise ResultFileError(f"{path}: not a readable spicecim MLP file ({exc})") from exc
    if fmt == _NERF_V1:
        nerf = {k: meta[k] for k in ("bound", "pos_levels", "dir_levels")}
        widths = {"pos": 3 * (1 + 2 * nerf["pos_levels"]), "dir": 3 * (1 + 2 * nerf["dir_levels"])}
        return Mlp(tuple(widths.items()), layers), {"nerf": nerf}
    mlp = Mlp(tuple((str(n), int(w)) for n, w in meta["inputs"]), layers,
              tuple(meta["outputs"]), tuple(meta["nonnegative"]))
    return mlp, dict(meta.get("extra") or {})


def from_state_dict(template: Mlp, state: Mapping[str, np.ndarray], what: str,
                    names: Mapping[str, str] | None = None) -> Mlp:
    """``template``'s graph with weights from a PyTorch-style state dict.

    Keys are ``<layer>.weight`` in PyTorch's (out, in) layout and ``<layer>.bias``, with the
    graph's layer names or their aliases in ``names`` (alias -> layer name). Keys of other
    layers are refused, so a checkpoint of another architecture fails instead of loading in
    part; ``what`` names the model in the errors.
    """
    names = names or {}
    arrays: dict[str, np.ndarray] = {}
    for key, value in state.items():
        prefix, _, kind = str(key).rpartition(".")
        arrays[f"{names.get(prefix, prefix)}.{kind}"] = np.asarray(value, dtype=np.float32)
    have = {layer.name for layer in template.layers}
    extra = sorted({k.rpartition(".")[0] for k in arrays} - have)
    if extra:
        raise SpecError(f"state dict has layers {extra} that model {what!r} does not: "
                        f"expected {sorted(have)}")
    layers = []
    for layer in template.layers:
        try:
            weight, bias = arrays[f"{layer.name}.weight"], arrays[f"{layer.name}.bias"]
        except KeyError as exc:
            raise SpecError(f"state dict lacks {exc.args[0]!r} for model {what!r}") from exc
        layers.append(Dense(layer.name, layer.sources, np.ascontiguousarray(weight.T), bias,
                            layer.activation))
    return template.with_layers(tuple(layers))


def torch_state(path: Path) -> dict[str, np.ndarray]:
    """The state dict of a PyTorch ``.pt``/``.pth`` file (needs torch)."""
    try:
        import torch
    except ImportError as exc:
        raise SpecError(f"weights file {str(path)!r} is a PyTorch file, but PyTorch is not "
                        "installed: pip install torch, or save the state dict as .npz") from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ResultFileError(f"{path}: not a readable PyTorch file ({exc})") from exc
    # nerf-pytorch checkpoints hold both networks; the fine one is what 192 samples run through.
    for key in ("network_fine_state_dict", "network_fn_state_dict", "state_dict"):
        if isinstance(obj, dict) and key in obj:
            obj = obj[key]
            break
    if not isinstance(obj, Mapping):
        raise ResultFileError(f"{path}: expected a state dict, found {type(obj).__name__}")
    return {str(k): v.detach().cpu().numpy() for k, v in obj.items()}
