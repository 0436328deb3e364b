"""The tiny MLP the analog tests program: written once, for every test that needs it."""

from __future__ import annotations

import numpy as np
import pytest

from spicecim.models.mlp import Dense, Mlp

# Small enough to program in milliseconds, shaped like NeRF: a signed encoded input, a skip,
# a feature without activation joined with the direction, sigma and rgb heads.
_LAYERS = (("fc0", ("pos",), 12, "relu"), ("fc1", ("fc0", "pos"), 12, "relu"),
           ("sigma", ("fc1",), 1, "softplus"), ("feature", ("fc1",), 6, "none"),
           ("rgb_hidden", ("feature", "dir"), 8, "relu"), ("rgb", ("rgb_hidden",), 3, "sigmoid"))


@pytest.fixture(scope="session")
def tiny_mlp() -> Mlp:
    """The NeRF-shaped MLP of seed 0 (frozen, so tests can share it): weights uniform with the
    variance of a He-like init, small biases."""
    rng = np.random.default_rng(0)
    widths = {"pos": 9, "dir": 9}
    layers = []
    for name, sources, width, activation in _LAYERS:
        fan_in = sum(widths[s] for s in sources)
        w = (rng.uniform(-1, 1, (fan_in, width)) * np.sqrt(3 / fan_in)).astype(np.float32)
        b = rng.uniform(-0.1, 0.1, width).astype(np.float32)
        layers.append(Dense(name, sources, w, b, activation))
        widths[name] = width
    return Mlp({"pos": 9, "dir": 9}, tuple(layers))
