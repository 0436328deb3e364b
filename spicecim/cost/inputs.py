"""A model's co-simulation plan from a file of its own inputs (``spicecim simulate --model
--inputs-file``): ``.npy`` for a one-input model, ``.npz`` by input name."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from spicecim.cost.cosim import Plan
from spicecim.errors import SpecError, check
from spicecim.models import presets
from spicecim.models.mlp import Mlp, batch_size
from spicecim.netlist.spec import CrossbarSpec
from spicecim.netlist.weights import WeightMapping
from spicecim.store import npy


def file_digest(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def file_plan(mlp: Mlp, spec: CrossbarSpec, mapping: WeightMapping, path: Path, samples: int,
              *, model: str, weights: str, seed: int = 0, variation: float = 0.0) -> Plan:
    """A plan from a file of the model's inputs (``.npy`` for a one-input model, ``.npz`` by
    input name): the first ``samples`` rows drive the tiles, every row sets the DAC scales."""
    inputs = read_inputs(mlp, path)
    n = batch_size(inputs)
    check(1 <= samples <= n, "inputs", samples, f"1 to {n} (the rows of {path})")
    return Plan(mlp, spec, mapping, {k: v[:samples] for k, v in inputs.items()}, inputs,
                model=model, weights=weights,
                description=f"the first {samples} of {n} rows of {path} ({file_digest(path)})",
                variation=variation, seed=seed)


def read_inputs(mlp: Mlp, path: Path) -> dict[str, np.ndarray]:
    """A model's inputs from ``path``, checked against its input widths."""
    widths = mlp.input_widths()
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"inputs file {str(path)!r} does not exist: expected a .npy (one input) "
                        f"or .npz (inputs {sorted(widths)})")
    loaded = npy.load(path, "inputs", f"a .npy (one input) or .npz (inputs {sorted(widths)})")
    if isinstance(loaded, dict):
        arrays = loaded
    elif len(widths) != 1:
        raise SpecError(f"inputs file {str(path)!r} holds one array: expected a .npz with "
                        f"the model's inputs {sorted(widths)}")
    else:
        arrays = {next(iter(widths)): loaded}
    out = {}
    for name, width in widths.items():
        if name not in arrays:
            raise SpecError(f"inputs file {str(path)!r} lacks input {name!r}: expected "
                            f"{sorted(widths)}")
        a = arrays[name]  # finite real numbers (npy.load)
        if a.ndim != 2 or a.shape[1] != width or len(a) < 1:
            raise SpecError(f"inputs file {str(path)!r}: input {name!r} has shape {a.shape}: "
                            f"expected (samples >= 1, {width})")
        out[name] = a.astype(np.float32)
    return out


def make_plan(model: str, spec: CrossbarSpec, mapping: WeightMapping, samples: int,
              inputs_path: Path, *, weights_path: Path | None = None, seed: int = 0,
              variation: float = 0.0) -> Plan:
    """A plan of ``model`` (a preset name, ``mlp:...`` or an ``.onnx`` in ``weights_path``,
    :func:`~spicecim.models.presets.choose_model`) driven by the inputs in ``inputs_path``
    (:func:`file_plan`)."""
    choice = presets.choose_model(model, weights_path, seed=seed)
    return file_plan(choice.mlp, spec, mapping, inputs_path, samples, model=choice.name,
                     weights=choice.weights, seed=seed, variation=variation)
