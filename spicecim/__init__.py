"""spicecim: memristor compute-in-memory from SPICE circuits to model-level figures.

The public API; every name loads its module when first used, so ``import spicecim`` is cheap::

    spec = spicecim.default_spec(rows, cols)          # a cited tile specification
    tile = spicecim.make_tile(spec, weights=w, inputs=x, seed=0)
    summary = spicecim.simulate(tile, "run.h5")       # every column in ngspice, resumable
    with spicecim.open_run("run.h5") as run: ...      # the run file's typed reader
    report = spicecim.evaluate.run(model, "run.h5")   # latency, energy, accuracy, baselines
    print(report)
    analog = spicecim.analog_model(mlp, "run.h5")     # your MLP on the crossbars: analog(x),
    analog.cost(), analog.accuracy(x, labels=y)       # its latency, energy and accuracy

Specifications and data: :class:`CrossbarSpec`, :class:`Tile`, :class:`WeightMapping`,
:func:`default_spec`, :func:`default_mapping`, :func:`make_tile`. Running: :class:`RunOptions`,
:func:`simulate` (one tile), :func:`cosimulate` with :func:`cosim_plan` (every tile of a
model with its own weights and activations), :class:`Cluster` (where to run). Reading:
:func:`open_run`, :func:`tables` (the text ``spicecim tables`` prints). Models: :class:`Mlp`,
:class:`Dense`, :func:`preset`, :func:`load_mlp`, :func:`save_mlp`, :func:`load_onnx`. Running
a model on the crossbars: :func:`analog_model` (an :class:`AnalogModel`, called on inputs,
costed and scored, under a :class:`Nonideality`; :class:`Workload`). Evaluating:
:mod:`spicecim.evaluate` (``evaluate.run``). Figures: :mod:`spicecim.plot`.
``docs/architecture.md`` describes the stages behind them.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

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
    "tables": ("spicecim.report.text", "render"),
    "Mlp": "spicecim.models.mlp",
    "Dense": "spicecim.models.mlp",
    "preset": ("spicecim.models.presets", "preset_mlp"),
    "load_onnx": "spicecim.models.onnx_import",
    "SpiceCimError": "spicecim.errors",
    "analog_model": "spicecim.analog.model",
    "AnalogModel": "spicecim.analog.model",
    "Nonideality": "spicecim.analog.accuracy",
    "Workload": "spicecim.cost.schedule",
    "load_mlp": "spicecim.models.mlp",
    "save_mlp": "spicecim.models.mlp",
}
# Public module names and the package each one is: ``spicecim.evaluate`` is the report wing,
# whose ``run`` evaluates a model on run files.
_MODULES = {"evaluate": "spicecim.report", "plot": "spicecim.plot"}

# Spelled out so linters and type checkers read it (tests/test_api.py: it is _API and _MODULES).
__all__ = [
    "AnalogModel", "Cluster", "CrossbarSpec", "Dense", "Mlp", "Nonideality", "RunOptions",
    "RunSummary", "SpiceCimError", "Tile", "WeightMapping", "Workload", "__version__",
    "analog_model", "cosim_plan", "cosimulate", "default_mapping", "default_spec", "evaluate",
    "load_mlp", "load_onnx", "make_tile", "open_run", "plot", "preset", "save_mlp", "simulate",
    "tables",
]


# Type checkers see the names themselves; at run time each loads its module on first use.
if TYPE_CHECKING:
    from spicecim import plot
    from spicecim import report as evaluate
    from spicecim.analog.accuracy import Nonideality
    from spicecim.analog.model import AnalogModel, analog_model
    from spicecim.cost.cosim import cosimulate
    from spicecim.cost.schedule import Workload
    from spicecim.errors import SpiceCimError
    from spicecim.models.mlp import Dense, Mlp, load_mlp, save_mlp
    from spicecim.models.onnx_import import load_onnx
    from spicecim.models.presets import preset_mlp as preset
    from spicecim.nerf.plan import make_plan as cosim_plan
    from spicecim.netlist.spec import CrossbarSpec, Tile, default_spec
    from spicecim.netlist.weights import WeightMapping, default_mapping, make_tile
    from spicecim.report.text import render as tables
    from spicecim.sim.driver import RunOptions, RunSummary, simulate
    from spicecim.sim.executors import Cluster
    from spicecim.store.hdf5 import open_run


else:
    def __getattr__(name: str) -> Any:  # noqa: ANN401 - loads the names above
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
