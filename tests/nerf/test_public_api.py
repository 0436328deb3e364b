"""The NeRF wing imports only the public API (scripts/layers.py, ``private_imports``): the
package root's names, a package's ``__all__``, the public modules of each part, the ground."""

from __future__ import annotations

import layers


def test_nerf_imports_only_public_names() -> None:
    assert layers.private_imports() == []


def test_what_is_public_and_what_is_not() -> None:
    why = layers._why_private
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
