"""NeRF positional encoding (Mildenhall et al. 2020, arXiv 2003.08934, sec. 5.1).

gamma(p) = (p, sin(2^0 pi p), cos(2^0 pi p), ..., sin(2^(L-1) pi p), cos(2^(L-1) pi p)),
applied to each coordinate.  The raw input is kept in front as the reference
implementation does, so L=10 turns a position into 3 + 3*2*10 = 63 features and
L=4 turns a view direction into 3 + 3*2*4 = 27 features.  The paper's pi factor
is kept (the reference code drops it): inputs are expected in [-1, 1], where
the lowest frequency then spans exactly one period.
"""

from __future__ import annotations

import numpy as np

from spicecim.errors import check

POSITION_LEVELS = 10
DIRECTION_LEVELS = 4


def encoded_dim(n_inputs: int, n_levels: int) -> int:
    """Width of gamma(p) for p with n_inputs coordinates and L = n_levels."""
    return n_inputs * (1 + 2 * n_levels)


def positional_encoding(x: np.ndarray, n_levels: int) -> np.ndarray:
    """gamma(x) for x of shape (N, D): float32 (N, D * (1 + 2 * n_levels)).

    The feature order is [x, sin(2^0 pi x), cos(2^0 pi x), sin(2^1 pi x), ...]
    with each block D wide, matching the reference implementation's layout.
    """
    check(isinstance(n_levels, int) and n_levels >= 0, "n_levels", n_levels, "an int >= 0")
    x = np.asarray(x, dtype=np.float32)
    check(x.ndim == 2, "x.shape", x.shape, "(N, D)")
    freqs = (np.pi * 2.0 ** np.arange(n_levels)).astype(np.float32)
    angles = x[:, None, :] * freqs[:, None]  # (N, L, D)
    # Stacking sin/cos on a new axis before flattening interleaves them per level.
    trig = np.stack([np.sin(angles), np.cos(angles)], axis=2).reshape(len(x), -1)
    return np.concatenate([x, trig], axis=1)
