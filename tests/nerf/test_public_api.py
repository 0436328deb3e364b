"""The NeRF wing imports only the public API (scripts/layers.py, ``private_imports``): the
package root's names, a package's ``__all__``, the public modules of each part, the ground."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _layers() -> ModuleType:
    if "layers" in sys.modules:  # tests/test_layers.py loaded it already
        return sys.modules["layers"]
    spec = importlib.util.spec_from_file_location("layers", ROOT / "scripts" / "layers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["layers"] = module
    spec.loader.exec_module(module)
    return module


def test_nerf_imports_only_public_names() -> None:
    assert _layers().private_imports() == []


def test_what_is_public_and_what_is_not() -> None:
    why = _layers()._why_private
    assert why("spicecim", "WeightMapping") is None
    assert why("spicecim.solve", "transfer_cache") is None  # in spicecim.solve.__all__
    assert why("spicecim.cost", "schedule") is None  # a public module, imported as one
    assert why("spicecim.cost.schedule", "TileTable") is None
    assert why("spicecim.errors", "check") is None  # the ground
    assert why("spicecim.netlist.weights", "WeightMapping") == (
        "the package root exports it: import it from spicecim")
    assert why("spicecim.analog.forward", "_read") == "a private name"
    assert why("spicecim.sim.batched.engine", "CACHE_ENV") == (
        "not a public module of sim (PUBLIC_MODULES) nor in its __all__")
    assert why("spicecim", "read_layer") == "not in spicecim.__all__"
