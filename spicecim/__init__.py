"""spicecim: memristor compute-in-memory from SPICE circuits to model-level figures.

The public API; every name loads its module when first used, so ``import spicecim`` is cheap::

    spec = spicecim.default_spec(rows, cols)          # a cited tile specification
    tile = spicecim.make_tile(spec, weights=w, inputs=x, seed=0)
    summary = spicecim.simulate(tile, "run.h5")       # every column in ngspice, resumable
    with spicecim.open_run("run.h5") as run: ...      # the run file's typed reader
    report = spicecim.evaluate.run(model, "run.h5")   # latency, energy, accuracy, baselines
    print(report)

Specifications and data: :class:`CrossbarSpec`, :class:`Tile`, :class:`WeightMapping`,
:func:`default_spec`, :func:`default_mapping`, :func:`make_tile`. Running: :class:`RunOptions`,
:func:`simulate` (one tile), :func:`cosimulate` with :func:`cosim_plan` (every tile of a
model with its own weights and activations), :class:`Cluster` (where to run). Reading:
:func:`open_run`, :func:`tables` (the text ``spicecim tables`` prints). Models: :class:`Mlp`,
:class:`Dense`, :func:`preset`, :func:`load_onnx`. Evaluating: :mod:`spicecim.evaluate`
(``evaluate.run``). Figures: :mod:`spicecim.plot`. ``docs/architecture.md`` describes the
stages behind them.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("spicecim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

_API = {
    "CrossbarSpec": "spicecim.netlist.spec",
    "Tile": "spicecim.netlist.spec",
    "default_spec": "spicecim.netlist.spec",
    "WeightMapping": "spicecim.netlist.weights",
    "default_mapping": "spicecim.netlist.weights",
    "make_tile": "spicecim.netlist.weights",
    "RunOptions": "spicecim.sim.driver",
    "RunSummary": "spicecim.sim.driver",
    "simulate": "spicecim.sim.driver",
    "Cluster": "spicecim.sim.executors",
    "cosimulate": "spicecim.cost.cosim",
    "cosim_plan": ("spicecim.nerf.plan", "make_plan"),
    "open_run": "spicecim.store.hdf5",
    "tables": ("spicecim.cli.tables", "render"),
    "Mlp": "spicecim.models.mlp",
    "Dense": "spicecim.models.mlp",
    "preset": ("spicecim.models.presets", "preset_mlp"),
    "load_onnx": "spicecim.models.onnx_import",
    "SpiceCimError": "spicecim.errors",
}
# Public module names and the package each one is: ``spicecim.evaluate`` is the report wing,
# whose ``run`` evaluates a model on run files.
_MODULES = {"evaluate": "spicecim.report", "plot": "spicecim.plot"}

__all__ = ["__version__", *_API, *_MODULES]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    if name not in _API:
        raise AttributeError(f"module 'spicecim' has no attribute {name!r}")
    where = _API[name]
    module, attr = where if isinstance(where, tuple) else (where, name)
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
