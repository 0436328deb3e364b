"""The public API: every name in ``__all__`` loads, and type checkers see the names."""

from __future__ import annotations

import spicecim


def test_all_is_every_public_name_and_each_loads() -> None:
    assert sorted(spicecim.__all__) == sorted(["__version__", *spicecim._API, *spicecim._MODULES])
    for name in spicecim.__all__:
        assert getattr(spicecim, name) is not None, name
