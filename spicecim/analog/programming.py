"""IR-drop-aware programming: conductances pre-distorted so the tile's column currents are the
target matrix-vector products despite its wires.

A tile of linear cells reads column currents ``v @ T(G)`` (:func:`spicecim.solve.transfer_matrix`:
wires, driver and readout included); the target is ``v @ G_t``, the programmed conductances on
ideal wires. ``T_ij(G)`` is the current into column ``j`` per volt on row ``i``: the cell's own
conductance, lowered by the IR drop on its row and column and raised by nothing else (every
transfer admittance of the resistive network is positive). :func:`predistort` iterates

    G <- clip(G * G_t / T(G), lo, hi)

(one transfer matrix per iteration: the fast solver), which moves every cell's effective
conductance onto its target at once, so the column currents match the target for *every*
input, not only for a calibration batch; it stops when the largest relative mismatch
``max |T / G_t - 1|`` is below ``tolerance`` or after ``iterations``. Cells whose compensation
would leave the device's range ``[lo, hi]`` are clipped and the residual says so. The
residual reported is the relative RMS error of the column currents against the target over a
calibration batch of row voltages, before and after.

Row-parallel reads (:class:`spicecim.cost.mapping.TileGeometry` ``rows_per_read``): each
group of rows is read with the other rows disconnected (1T1R cells, access transistors off;
:data:`DISCONNECTED_S`), so each group has its own transfer matrix and is pre-distorted on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spicecim.errors import check
from spicecim.netlist.spec import CrossbarSpec
from spicecim.solve import transfer_matrix

DISCONNECTED_S = 1e-12
"""A cell whose access transistor is off: 1 Tohm, so 0.1 pA at 0.1 V (an off 1T1R cell; the
solver needs every cell > 0 S)."""
DEFAULT_ITERATIONS = 12
DEFAULT_TOLERANCE = 1e-3


@dataclass(frozen=True, slots=True)
class Predistortion:
    """Pre-distorted conductances of one tile, and how well they match the target."""

    g_s: np.ndarray
    transfers: tuple[np.ndarray, ...]  # per row group, (group rows, cols)
    initial: tuple[np.ndarray, ...]  # the same for the target itself (no pre-distortion)
    iterations: int
    mismatch: float  # max |T / G_t - 1| over the cells, at the end
    clipped: int  # cells held at the device's range


def group_transfer(spec: CrossbarSpec, g_s: np.ndarray, rows: slice) -> np.ndarray:
    """Transfer matrix of rows ``rows`` read alone, (group rows, cols): the other rows' cells
    disconnected (when ``rows`` is the whole tile, the tile's own)."""
    if rows.start == 0 and rows.stop >= spec.rows:
        return transfer_matrix(spec, g_s)
    g = np.full_like(g_s, DISCONNECTED_S)
    g[rows] = g_s[rows]
    return transfer_matrix(spec, g)[rows]


def row_groups(rows_used: int, rows_per_read: int | None, tile_rows: int) -> list[slice]:
    """The row groups of a tile read ``rows_per_read`` at a time; all ``tile_rows`` at once
    when None (unused rows then stay connected at their programmed g_min)."""
    if rows_per_read is None:
        return [slice(0, tile_rows)]
    return [slice(a, min(a + rows_per_read, rows_used)) for a in range(0, rows_used,
                                                                       rows_per_read)]


def predistort(spec: CrossbarSpec, target_s: np.ndarray, groups: list[slice], lo_s: float,
               hi_s: float, iterations: int = DEFAULT_ITERATIONS,
               tolerance: float = DEFAULT_TOLERANCE) -> Predistortion:
    """Conductances whose transfer matrices match ``target_s`` within each row group
    (module docstring), inside the device range ``[lo_s, hi_s]``."""
    check(iterations >= 1, "iterations", iterations, "an integer >= 1")
    check(tolerance > 0, "tolerance", tolerance, "a relative mismatch > 0")
    target = np.asarray(target_s, dtype=float)
    g = target.copy()
    transfers = [group_transfer(spec, g, rows) for rows in groups]
    initial = tuple(transfers)
    done, mismatch = 0, _mismatch(transfers, target, groups)
    while done < iterations and mismatch > tolerance:
        for rows, t in zip(groups, transfers, strict=True):
            g[rows] = np.clip(g[rows] * target[rows] / np.maximum(t, DISCONNECTED_S), lo_s, hi_s)
        transfers = [group_transfer(spec, g, rows) for rows in groups]
        mismatch = _mismatch(transfers, target, groups)
        done += 1
    clipped = int(sum(np.count_nonzero((g[r] <= lo_s) | (g[r] >= hi_s)) for r in groups))
    return Predistortion(g, tuple(transfers), initial, done, mismatch, clipped)


def _mismatch(transfers: list[np.ndarray], target: np.ndarray, groups: list[slice]) -> float:
    return max(float(np.max(np.abs(t / target[rows] - 1.0))) for rows, t in
               zip(groups, transfers, strict=True))


def current_error(v: np.ndarray, transfer: np.ndarray, target_s: np.ndarray) -> float:
    """Relative RMS error of column currents ``v @ transfer`` against ``v @ target_s``."""
    got, want = v @ transfer, v @ target_s
    scale = math.sqrt(float(np.mean(want**2)))
    return math.sqrt(float(np.mean((got - want) ** 2))) / scale if scale > 0 else 0.0
