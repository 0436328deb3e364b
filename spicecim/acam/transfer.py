"""The ACAM cell's transfer curve, measured: two ngspice DC sweeps (the bounds against
conductance and data-line voltage; the pull-down current against its gate), kept in memory for
the process and, given a cache file, on disk.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spicecim.acam.netlist import AcamCell, build_gate_sweep, build_transfer
from spicecim.errors import ResultFileError, check
from spicecim.sim.ngspice import NgspiceSession
from spicecim.store import files

# A 64-point log grid over a 45x conductance range puts neighbours 6 % apart; the bound is a
# smooth (square-root-like) function of G there, so monotone cubic interpolation between them is
# far inside a millivolt. Along the 1 mV data-line steps the divider nodes are smooth too. The
# pull-down current against its gate is not (with lambda = 0 the inverter's gain is unbounded at
# its switching point), so that sweep takes 10 uV steps: a small circuit, so a cheap run.
TRANSFER_POINTS = 64
# The most conductances a sweep takes: 16x the default's grid, neighbours 0.4 % apart, far
# finer than the interpolation needs; ngspice's DC sweep of one cell per conductance grows
# faster than linearly (100,000 points ran over 3 min under load, 10^9 would not fit in memory).
MAX_TRANSFER_POINTS = 1024
TRANSFER_STEP_V = 1e-3
GATE_STEP_V = 1e-5
_TABLE_ARRAYS = ("g_s", "dl_v", "v_lo_v", "v_hi_v", "gate_v", "i_gate_lo_a", "i_gate_hi_a")

_TRANSFER_MEMO: dict[tuple[str, int, float], TransferTable] = {}


@dataclass(frozen=True, slots=True)
class TransferTable:
    """The cell measured in two ngspice DC sweeps.

    ``v_lo_v`` / ``v_hi_v`` (conductance x DL voltage): the lower / upper divider node against
    the DL, one row per conductance of ``g_s``. ``i_gate_lo_a`` / ``i_gate_hi_a``: the lower /
    upper pull-down current (drain at the sense threshold) against that divider node, ``gate_v``.
    """

    cell: AcamCell
    g_s: np.ndarray = field(repr=False)
    dl_v: np.ndarray = field(repr=False)
    v_lo_v: np.ndarray = field(repr=False)
    v_hi_v: np.ndarray = field(repr=False)
    gate_v: np.ndarray = field(repr=False)
    i_gate_lo_a: np.ndarray = field(repr=False)
    i_gate_hi_a: np.ndarray = field(repr=False)

    def trip_nodes(self, i_trip_a: float) -> tuple[float, float]:
        """Divider-node voltages at which the lower / upper pull-down carries ``i_trip_a``."""
        check(i_trip_a > 0, "i_trip_a", i_trip_a, "a current > 0 A")
        lo = level_crossing(self.gate_v, np.sqrt(np.maximum(self.i_gate_lo_a, 0.0)),
                            float(np.sqrt(i_trip_a)), rising=True)[0]
        hi = level_crossing(self.gate_v, self.i_gate_hi_a, i_trip_a, rising=False)[0]
        return float(lo), float(hi)

    def bounds(self, i_trip_a: float) -> tuple[np.ndarray, np.ndarray]:
        """DL voltages at which each conductance's lower / upper pull-down carries ``i_trip_a``
        (NaN where it never does inside the sweep)."""
        node_lo, node_hi = self.trip_nodes(i_trip_a)
        return (level_crossing(self.dl_v, self.v_lo_v, node_lo, rising=False),
                level_crossing(self.dl_v, self.v_hi_v, node_hi, rising=False))


def level_crossing(x: np.ndarray, y: np.ndarray, level: float, *, rising: bool) -> np.ndarray:
    """For each row of ``y`` (over ``x``), the first ``x`` where it crosses ``level`` in the given
    direction, by linear interpolation; NaN where it does not (or ``level`` is NaN)."""
    y = np.atleast_2d(np.asarray(y, dtype=float))
    s = (y >= level) if rising else (y <= level)
    hit = s[:, 1:] & ~s[:, :-1]
    out = np.full(y.shape[0], np.nan)
    rows = np.flatnonzero(hit.any(axis=1))
    k = np.argmax(hit[rows], axis=1)
    y0, y1 = y[rows, k], y[rows, k + 1]
    out[rows] = x[k] + (level - y0) / (y1 - y0) * (x[k + 1] - x[k])
    return out


def transfer_grid(cell: AcamCell, points: int = TRANSFER_POINTS) -> np.ndarray:
    check(isinstance(points, int) and 8 <= points <= MAX_TRANSFER_POINTS, "points", points,
          f"an integer from 8 to {MAX_TRANSFER_POINTS}")
    return np.geomspace(cell.g_min_s, cell.g_max_s, points)


def measure_transfer(cell: AcamCell, *, points: int = TRANSFER_POINTS,
                     dl_step_v: float = TRANSFER_STEP_V, session: NgspiceSession | None = None,
                     cache: Path | None = None) -> TransferTable:
    """The cell's transfer table from real ngspice DC sweeps, memoised in this process and, when
    ``cache`` (an ``.npz`` path) is given, on disk."""
    key = (cell.transfer_digest(), points, dl_step_v)
    memo = _TRANSFER_MEMO.get(key)
    if memo is not None:
        if cache is not None and not cache.is_file():  # a memoised table is still stored
            save_transfer(memo, cache)
        return memo
    table: TransferTable | None = None
    if cache is not None and cache.is_file():
        table = load_transfer(cache, cell)
        if not _measured_as(table, points, dl_step_v):
            table = None
    if table is None:
        session = session or NgspiceSession()
        g = transfer_grid(cell, points)
        sweep = session.run(build_transfer(cell, g, dl_step_v))
        gate = session.run(build_gate_sweep(cell, GATE_STEP_V))
        table = TransferTable(
            cell=cell,
            g_s=g,
            dl_v=sweep["v-sweep"],
            v_lo_v=np.stack([sweep[f"alo{k}"] for k in range(g.size)]),
            v_hi_v=np.stack([sweep[f"ahi{k}"] for k in range(g.size)]),
            gate_v=gate["v-sweep"],
            i_gate_lo_a=gate["vplo#branch"],
            i_gate_hi_a=gate["vphi#branch"],
        )
        if cache is not None:
            save_transfer(table, cache)
    _TRANSFER_MEMO[key] = table
    return table


def _measured_as(table: TransferTable, points: int, dl_step_v: float) -> bool:
    return table.g_s.size == points and bool(np.isclose(table.dl_v[1] - table.dl_v[0],
                                                        dl_step_v))


def reusable_transfer(path: Path, cell: AcamCell, *, points: int = TRANSFER_POINTS,
                      dl_step_v: float = TRANSFER_STEP_V) -> bool:
    """Whether :func:`measure_transfer` would read ``path`` as its cache rather than write it:
    a table of this cell measured on this grid."""
    try:
        return _measured_as(load_transfer(path, cell), points, dl_step_v)
    except ResultFileError:
        return False


def save_transfer(table: TransferTable, path: Path) -> Path:
    """Write the table as ``.npz`` (atomically), tagged with the cell's digest."""
    def write(f) -> None:  # noqa: ANN001 - a binary file object
        np.savez(f, cell_digest=np.array(table.cell.transfer_digest()),
                 **{name: getattr(table, name) for name in _TABLE_ARRAYS})
    return files.write_stream(path, write)


def load_transfer(path: Path, cell: AcamCell) -> TransferTable:
    try:
        # opened here, so a damaged archive's handle is closed too (np.load leaks it)
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            digest = str(z["cell_digest"])
            arrays = {name: np.asarray(z[name]) for name in _TABLE_ARRAYS}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ResultFileError(f"{path} is not an ACAM transfer table "
                              f"({exc or type(exc).__name__})") from exc
    if digest != cell.transfer_digest():
        raise ResultFileError(f"{path} holds the transfer table of another cell ({digest}, "
                              f"expected {cell.transfer_digest()})")
    return TransferTable(cell=cell, **arrays)
