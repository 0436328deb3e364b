"""Analog CAM: programming by the inverse of the cell's measured transfer curve, array searches.

Data flow: :func:`~spicecim.acam.netlist.acam_cell` (device files) ->
:func:`~spicecim.acam.transfer.measure_transfer`
(an ngspice DC sweep over conductance) -> :class:`Programmer` (interval -> conductances by
interpolating that measured curve) -> :func:`run_search` (ngspice transients of the array) ->
:class:`SearchResult` (sampled match lines, crossing times, energy by source) ->
:func:`write_search`.

Conventions: voltages in V on the data line (DL); an interval ``[lo, hi]`` matches a DL voltage
inside it; ``lo = -inf`` / ``hi = inf`` mean "no bound" (the cell programmed to the extreme
conductance, whose bound lies at the edge of its window). A bound is where the pull-down current
of the measured sweep equals the array's trip current :attr:`AcamArray.i_trip_a`: the ML then
reaches the sense threshold exactly at the sample time.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from scipy.interpolate import PchipInterpolator

from spicecim.acam.netlist import (
    AcamArray,
    SearchData,
    build_search,
)
from spicecim.acam.transfer import TransferTable, level_crossing, measure_transfer
from spicecim.errors import ResultFileError, SpecError, check, raise_if_stopped
from spicecim.measure import crossing_time
from spicecim.sim.ngspice import NgspiceSession
from spicecim.store import files, schema
from spicecim.store.hdf5 import FileRun, RunWriter, Table, open_run
from spicecim.store.runs import read_table

# Cells per netlist: ngspice's set-up time grows faster than linearly with circuit size (128
# one-cell rows take 0.1 s, 800 take 3.4 s), so small arrays are batched up to about this many
# cells and larger ones go one input vector per netlist.
CELLS_PER_RUN = 192


@dataclass(frozen=True, slots=True)
class Window:
    """The DL voltages each bound can be programmed to (its value at g_min and at g_max)."""

    lo_min_v: float
    lo_max_v: float
    hi_min_v: float
    hi_max_v: float

    @property
    def common(self) -> tuple[float, float]:
        """Where an edge can be both a row's upper bound and the next row's lower bound."""
        return max(self.lo_min_v, self.hi_min_v), min(self.lo_max_v, self.hi_max_v)


@dataclass(frozen=True, slots=True)
class Programmer:
    """Intervals -> conductances for one array, by inverting the measured transfer curve."""

    table: TransferTable
    array: AcamArray
    g_s: np.ndarray = field(init=False, repr=False)
    lo_v: np.ndarray = field(init=False, repr=False)
    hi_v: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        same = self.table.cell.transfer_digest() == self.array.cell.transfer_digest()
        check(same, "array.cell", self.array.cell.name,
              "the cell (devices, supplies) the transfer table was measured for")
        lo, hi = self.table.bounds(self.array.i_trip_a)
        # conductances whose bound lies beyond the supply (a strongly non-linear memristor at
        # the top of its range) cannot be sensed: the usable range ends below them
        finite = np.isfinite(lo) & np.isfinite(hi)
        usable = lo.size if finite.all() else int(np.argmin(finite))
        lo, hi = lo[:usable], hi[:usable]
        if usable < 8 or not (np.all(np.diff(lo) > 0) and np.all(np.diff(hi) > 0)):
            c = self.array.cell
            raise SpecError(
                f"the bounds are not rising functions of conductance over [{c.g_min_s}, "
                f"{c.g_max_s}] S at the trip current {self.array.i_trip_a:.3g} A "
                f"({self.array.cells} cells, t_eval {c.t_eval_s} s): expected a cell "
                "and timing that can sense them")
        object.__setattr__(self, "g_s", self.table.g_s[:usable])
        object.__setattr__(self, "lo_v", lo)
        object.__setattr__(self, "hi_v", hi)

    @property
    def window(self) -> Window:
        return Window(float(self.lo_v[0]), float(self.lo_v[-1]), float(self.hi_v[0]),
                      float(self.hi_v[-1]))

    def conductances(self, lo_v: np.ndarray | float, hi_v: np.ndarray | float
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Conductances (g_lo, g_hi) whose sensed bounds are ``lo_v`` and ``hi_v``."""
        lo = np.asarray(lo_v, dtype=float)
        hi = np.asarray(hi_v, dtype=float)
        bad = np.isnan(lo) | np.isnan(hi) | ~(lo < hi)
        if np.any(bad):
            i = int(np.flatnonzero(bad.ravel())[0])
            raise SpecError(f"interval [{lo.ravel()[i]}, {hi.ravel()[i]}] V is invalid: expected "
                            "a non-empty interval with low < high")
        w = self.window
        _check_inside("lower bound", lo, w.lo_min_v, w.lo_max_v)
        _check_inside("upper bound", hi, w.hi_min_v, w.hi_max_v)
        log_g = np.log(self.g_s)
        g_lo = np.exp(PchipInterpolator(self.lo_v, log_g)(np.clip(lo, w.lo_min_v, w.lo_max_v)))
        g_hi = np.exp(PchipInterpolator(self.hi_v, log_g)(np.clip(hi, w.hi_min_v, w.hi_max_v)))
        return (np.clip(g_lo, self.g_s[0], self.g_s[-1]), np.clip(g_hi, self.g_s[0], self.g_s[-1]))


def _check_inside(what: str, v: np.ndarray, lo: float, hi: float) -> None:
    finite = v[np.isfinite(v)]
    outside = finite[(finite < lo) | (finite > hi)]
    if outside.size:
        raise SpecError(f"{what} {float(outside[0]):.6g} V is outside what the cell can be "
                        f"programmed to: expected [{lo:.6g}, {hi:.6g}] V")


def programmer(array: AcamArray, *, session: NgspiceSession | None = None,
               cache: Path | None = None, executor: cf.Executor | None = None) -> Programmer:
    """The programmer of ``array`` from its cell's (memoised) measured transfer table, measured
    on ``executor`` if given (and no ``cache``): ngspice in this process would hold a signal
    until its sweep ends, seconds for the memristor cell."""
    if executor is not None and cache is None:
        return Programmer(executor.submit(measure_transfer, array.cell).result(), array)
    return Programmer(measure_transfer(array.cell, session=session, cache=cache), array)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Searches of one array: per input vector and row, the sampled ML voltage and the time from
    the start of the search until the ML fell through the sense threshold (NaN: it did not, in
    the window); per input vector, the energy each supply delivered.

    The search starts at t = 0, when the inputs reach the precharged ML and the precharge's
    release edge begins, not at the edge's 50 % point: a pull-down whose gate is near vdd (a
    strong mismatch) carries more than the fully-on precharge device (about 0.42 against 0.27 mA
    saturated, from the level-1 cards), so the ML starts falling at once and a short row crosses
    the threshold before that point."""

    data: SearchData
    v_ml_v: np.ndarray = field(repr=False)
    t_cross_s: np.ndarray = field(repr=False)
    energy_divider_j: np.ndarray = field(repr=False)
    energy_inverter_j: np.ndarray = field(repr=False)
    energy_precharge_j: np.ndarray = field(repr=False)

    @property
    def match(self) -> np.ndarray:
        return self.v_ml_v > self.data.array.cell.vsense_v

    @property
    def energy_j(self) -> np.ndarray:
        return self.energy_divider_j + self.energy_inverter_j + self.energy_precharge_j


def source_energy(t: np.ndarray, v_source: float, i_branch: np.ndarray) -> float:
    """Energy a DC source delivered; ngspice's branch current flows into its + terminal."""
    return float(-v_source * np.trapezoid(i_branch, t))


@dataclass(frozen=True, slots=True)
class _Measured:
    """What one netlist's searches reduce to (plain arrays, so a pool worker can return it)."""

    v_ml_v: np.ndarray
    t_cross_s: np.ndarray
    energy: np.ndarray  # (inputs, 3): divider, inverter, precharge


def search_chunk(data: SearchData, session: NgspiceSession | None = None) -> _Measured:
    """One netlist: every input vector of ``data`` at once (the worker function of a pool)."""
    a, c = data.array, data.array.cell
    vec = (session or NgspiceSession()).run(build_search(data))
    t = vec["time"]
    v_ml, t_cross, energy = [], [], []
    for q in range(data.inputs):
        raise_if_stopped()
        waves = [vec[f"ml{q}_{r}"] for r in range(a.rows)]
        sampled = np.array([np.interp(c.sample_s, t, w) for w in waves])
        v_ml.append(sampled)
        t_cross.append([crossing_time(t, w, c.vsense_v) for w in waves])
        # the precharge phase that follows returns the charge each ML lost
        recharge = a.c_ml_f * c.vpre_v * float(np.sum(c.vpre_v - sampled))
        energy.append([source_energy(t, c.vsl_v, vec[f"vsl{q}#branch"]),
                       source_energy(t, c.vdd_v, vec[f"vdd{q}#branch"]),
                       source_energy(t, c.vpre_v, vec[f"vpre{q}#branch"]) + recharge])
    return _Measured(np.array(v_ml), np.array(t_cross), np.array(energy))


def _kept_path(kept: Path, chunk: SearchData) -> Path:
    return kept / f"{chunk.digest()}.npz"


def _read_kept(kept: Path | None, chunk: SearchData) -> _Measured | None:
    """A netlist's searches kept by an earlier, stopped run (None: not kept, or unreadable:
    simulated again)."""
    path = None if kept is None else _kept_path(kept, chunk)
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path) as f:
            return _Measured(f["v_ml_v"], f["t_cross_s"], f["energy"])
    except (OSError, ValueError, KeyError):
        return None


def _keep(kept: Path | None, chunk: SearchData, measured: _Measured) -> _Measured:
    """Keep ``measured`` under ``kept`` (named by the netlist's digest), whole or not at all."""
    if kept is not None:
        files.write_stream(_kept_path(kept, chunk), lambda f: np.savez(
            f, v_ml_v=measured.v_ml_v, t_cross_s=measured.t_cross_s, energy=measured.energy))
    return measured


def run_search(data: SearchData, *, session: NgspiceSession | None = None,
               executor: cf.Executor | None = None, kept: Path | None = None) -> SearchResult:
    """Simulate every input vector of ``data``: several per netlist for small arrays, the
    netlists one after another in this process or spread over ``executor`` (for instance
    :func:`spicecim.sim.executors.local_executor`). Each finished netlist's searches are kept
    in the folder ``kept`` (if given), and read back from it instead of simulated again: a
    stopped run resumes."""
    a = data.array
    per_run = max(1, CELLS_PER_RUN // (a.rows * a.cells))
    chunks = [SearchData(a, data.g_lo_s, data.g_hi_s, data.dl_v[k:k + per_run])
              for k in range(0, data.inputs, per_run)]
    found = [_read_kept(kept, chunk) for chunk in chunks]
    todo = [i for i, part in enumerate(found) if part is None]
    if executor is None:
        session = session or NgspiceSession()
        for i in todo:
            raise_if_stopped()
            found[i] = _keep(kept, chunks[i], search_chunk(chunks[i], session))
    else:
        # waiting on a worker, this process takes a signal at once (ngspice's call would hold it)
        futures = {executor.submit(search_chunk, chunks[i]): i for i in todo}
        for future in cf.as_completed(futures):
            raise_if_stopped()
            i = futures[future]
            found[i] = _keep(kept, chunks[i], future.result())
    parts = [part for part in found if part is not None]
    energy = np.concatenate([p.energy for p in parts])
    return SearchResult(data, np.concatenate([p.v_ml_v for p in parts]),
                        np.concatenate([p.t_cross_s for p in parts]),
                        energy[:, 0], energy[:, 1], energy[:, 2])


def sensed_bounds(dl_v: np.ndarray, v_ml_v: np.ndarray, vsense_v: float, lo_v: float,
                  hi_v: float) -> tuple[float, float]:
    """Measured bounds of one cell from a DL sweep: where the sampled ML crosses the sense
    threshold nearest each target bound (interpolated); NaN if it does not cross there."""
    order = np.argsort(dl_v)
    x, y = np.asarray(dl_v)[order], np.asarray(v_ml_v)[order] - vsense_v
    mid = 0.5 * (lo_v + hi_v)
    below, above = x <= mid, x >= mid
    lo = level_crossing(x[below], y[below], 0.0, rising=True)[0]
    hi = level_crossing(x[above], y[above], 0.0, rising=False)[0]
    return float(lo), float(hi)


def sweep_interval(prog: Programmer, lo_v: float, hi_v: float, *, span_v: float = 10e-3,
                   step_v: float = 0.5e-3, session: NgspiceSession | None = None
                   ) -> tuple[SearchResult, tuple[float, float]]:
    """Program one cell to ``[lo_v, hi_v]``, sweep the DL around both bounds and a few points
    well inside and outside, and return the searches with the sensed bounds."""
    a = prog.array
    check(a.rows == 1 and a.cells == 1, "array", (a.rows, a.cells), "a single cell (1 x 1)")
    g_lo, g_hi = prog.conductances(lo_v, hi_v)
    near = np.arange(-span_v, span_v + step_v / 2, step_v)
    w = prog.window
    far = [w.lo_min_v - 0.02, 0.5 * (lo_v + hi_v), w.hi_max_v + 0.02]
    dl = np.clip(np.concatenate([lo_v + near, hi_v + near, far]), 0.0, prog.array.cell.vdd_v)
    data = SearchData(prog.array, np.full((1, 1), g_lo), np.full((1, 1), g_hi), dl[:, None])
    result = run_search(data, session=session)
    bounds = sensed_bounds(dl, result.v_ml_v[:, 0], prog.array.cell.vsense_v, lo_v, hi_v)
    return result, bounds


def check_intervals(prog: Programmer, intervals: list[tuple[float, float]], *,
                    session: NgspiceSession | None = None) -> list[dict]:
    """Each interval programmed into one cell and swept (:func:`sweep_interval`): the sensed
    bounds, their errors in mV, and whether the cell matches inside and mismatches outside."""
    single = Programmer(prog.table, AcamArray(rows=1, cells=1, cell=prog.array.cell))
    out = []
    for lo, hi in intervals:
        result, (m_lo, m_hi) = sweep_interval(single, lo, hi, span_v=2e-3, step_v=2e-5,
                                              session=session)
        out.append({"interval_v": [lo, hi], "sensed_v": [m_lo, m_hi],
                    "error_mv": [(m_lo - lo) * 1e3, (m_hi - hi) * 1e3],
                    "match_inside": bool(result.match[-2, 0]),
                    "mismatch_outside": not (result.match[-3, 0] or result.match[-1, 0])})
    return out


def transfer_curve(prog: Programmer, points: int = 9) -> list[dict[str, float]]:
    """The programmed bounds at ``points`` conductances evenly spread over the cell's range."""
    pick = np.unique(np.linspace(0, prog.g_s.size - 1, points).round().astype(int))
    return [{"g_s": float(prog.g_s[k]), "lower_v": float(prog.lo_v[k]),
             "upper_v": float(prog.hi_v[k])} for k in pick]


SEARCH_CASES = ("match", "lower", "upper")


@dataclass(frozen=True, slots=True)
class SearchReport:
    """Worst-case searches of an array. Every row stores the same interval (the middle quarter of
    the window); every cell but cell 0 sees a DL in the middle of it. Cell 0 sees the same
    ("match": a control, every row must stay high) or a DL at the edge of the programmable
    window, below the interval ("lower") or above it ("upper"): one cell mismatching per row."""

    array: AcamArray
    interval_v: tuple[float, float]
    result: SearchResult

    @property
    def t_cross_s(self) -> np.ndarray:
        """Per case: the slowest row's time from the start of the search to the ML crossing the
        threshold (NaN for the matching control)."""
        t = np.max(self.result.t_cross_s, axis=1)
        return np.where(np.array(SEARCH_CASES) == "match", np.nan, t)

    @property
    def latency_s(self) -> float:
        return float(np.nanmax(self.t_cross_s))

    @property
    def energy_j(self) -> float:
        """Energy of one search of the whole array, worst case."""
        return float(np.max(self.result.energy_j))

    @property
    def problem(self) -> str:
        """Empty when the control matched in every row and every row with a mismatching cell
        fell through the threshold before the sample."""
        match = self.result.match
        if not match[0].all():
            return ("a row of matching cells fell below the sense threshold: at this sense time "
                    "the trip current lets cells inside their intervals conduct, and their "
                    "pull-downs add up along the row (use a longer sense time)")
        if match[1:].any():
            return "a row with a mismatching cell was sensed as a match"
        return ""

    @property
    def ok(self) -> bool:
        return not self.problem

    def summary(self) -> dict:
        r = self.result
        return {
            "rows": self.array.rows,
            "cells": self.array.cells,
            "device": self.array.cell.device,
            "interval_v": list(self.interval_v),
            "t_eval_s": self.array.cell.t_eval_s,
            "latency_s": self.latency_s,
            "energy_j": self.energy_j,
            "energy_per_cell_j": self.energy_j / (self.array.rows * self.array.cells),
            "cases": {
                case: {
                    # JSON has no NaN: the matching control has no latency
                    "latency_s": None if case == "match" else float(self.t_cross_s[i]),
                    "energy_j": float(r.energy_j[i]),
                    "energy_divider_j": float(r.energy_divider_j[i]),
                    "energy_inverter_j": float(r.energy_inverter_j[i]),
                    "energy_precharge_j": float(r.energy_precharge_j[i]),
                }
                for i, case in enumerate(SEARCH_CASES)
            },
            "ok": self.ok,
            "problem": self.problem,
        }


def simulate_search(array: AcamArray, *, session: NgspiceSession | None = None,
                    cache: Path | None = None, executor: cf.Executor | None = None,
                    kept: Path | None = None) -> SearchReport:
    """Latency and energy of the worst-case search (see :class:`SearchReport`) from ngspice."""
    session = session or NgspiceSession()
    prog = programmer(array, session=session, cache=cache, executor=executor)
    w = prog.window
    lo_c, hi_c = w.common
    lo, hi = lo_c + 0.375 * (hi_c - lo_c), lo_c + 0.625 * (hi_c - lo_c)
    g_lo, g_hi = prog.conductances(lo, hi)
    dl = np.full((len(SEARCH_CASES), array.cells), 0.5 * (lo + hi))
    dl[1, 0], dl[2, 0] = w.lo_min_v, w.hi_max_v
    shape = (array.rows, array.cells)
    data = SearchData(array, np.full(shape, g_lo), np.full(shape, g_hi), dl)
    return SearchReport(array, (float(lo), float(hi)),
                        run_search(data, session=session, executor=executor, kept=kept))


# Sense times tried by shortest_sense_time: octaves around the cell file's 1 ns.
SENSE_TIMES_S = (0.125e-9, 0.25e-9, 0.5e-9, 1e-9, 2e-9, 4e-9, 8e-9, 16e-9)


def shortest_sense_time(array: AcamArray, *, candidates_s: tuple[float, ...] = SENSE_TIMES_S,
                        session: NgspiceSession | None = None,
                        executor: cf.Executor | None = None,
                        kept: Path | None = None) -> SearchReport:
    """The worst-case search at the shortest sense time of ``candidates_s`` at which it works
    (:attr:`SearchReport.ok`). A shorter sense time needs a larger trip current, so cells well
    inside their intervals conduct too and, summed along a long row, pull a matching row down:
    the shortest workable time grows with the row's length."""
    session = session or NgspiceSession()
    for t_eval in sorted(candidates_s):
        raise_if_stopped()
        cell = dataclasses.replace(array.cell, t_eval_s=t_eval)
        try:
            report = simulate_search(dataclasses.replace(array, cell=cell), session=session,
                                     executor=executor, kept=kept)
        except SpecError:  # bounds cannot be sensed at all this fast
            continue
        if report.ok:
            return report
    raise SpecError(f"no sense time of {sorted(candidates_s)} s senses a {array.cells}-cell row "
                    "correctly: expected a longer one")


def write_search(path: Path, report: SearchReport, *, command: str = "",
                 ngspice_version: str = "") -> Path:
    """One run file (written to a temporary name and renamed into place), every dataset with
    its ``units``: one table row per case, and the raw arrays."""
    r = report.result
    config = {"acam_array": report.array.to_dict(), "interval_v": list(report.interval_v),
              "data_digest": r.data.digest()}
    values = {"case": np.array(SEARCH_CASES, dtype=object), "latency_s": report.t_cross_s,
              "energy_j": r.energy_j, "energy_divider_j": r.energy_divider_j,
              "energy_inverter_j": r.energy_inverter_j,
              "energy_precharge_j": r.energy_precharge_j,
              "t_cross_s": r.t_cross_s, "v_ml_v": r.v_ml_v, "dl_v": r.data.dl_v,
              "g_lo_s": r.data.g_lo_s, "g_hi_s": r.data.g_hi_s}

    def add_search(file: h5py.File) -> None:
        group = file.create_group(schema.ACAM_SEARCH)
        for f in schema.ACAM_SEARCH_FIELDS + schema.ACAM_SEARCH_ARRAYS:
            dtype = h5py.string_dtype() if f.kind == "str" else np.dtype(f.kind)
            group.create_dataset(f.name, data=values[f.name], dtype=dtype).attrs[
                schema.ATTR_UNITS] = f.units

    writer = RunWriter(path, config, {schema.ATTR_NGSPICE: ngspice_version,
                                      schema.ATTR_COMMAND: command}, overwrite=True)
    try:
        return writer.finish(add_search)
    finally:
        writer.close()


def read_search(path: Path) -> Table:
    """The per-case table of a run file written by :func:`write_search`."""
    with open_run(path) as run:
        if not isinstance(run, FileRun) or schema.ACAM_SEARCH not in run.file:
            raise ResultFileError(f"{path} holds no ACAM search: expected a file written by "
                                  "'spicecim acam simulate'")
        return read_table(run.file[schema.ACAM_SEARCH], schema.ACAM_SEARCH_FIELDS,
                          "expected a file written by 'spicecim acam simulate'")

