"""The batched engine's spot check: a sample of a run's columns simulated again in ngspice,
the reference, and compared figure by figure. A batched run records the worst disagreement,
and fails (naming the column) when any is over the tolerance: no figure depends on which
engine made it by more than that, or the run says so.

A run on the ``array`` drive compares like with like: its checked columns run on the coupled
decomposition in both engines, checked against each other as above, and the decomposition's
difference from the stored full array is recorded beside them, as information (the full array
is the reference; a decomposition is a model of it, off by what it is off)."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from spicecim.errors import SimulationError, check
from spicecim.measure import measure_column
from spicecim.netlist.crossbar import RowDrive
from spicecim.netlist.spec import Tile
from spicecim.sim.column import ColumnRun, simulate_column
from spicecim.sim.scales import SimOptions
from spicecim.store import schema

LATENCY_TOL = 0.005
"""Relative latency disagreement allowed (DESIGN.md section 3: the stated tolerance)."""
ENERGY_TOL = 0.002
"""Relative disagreement allowed in each part's energy."""
FINAL_TOL_LSB = 0.1
"""Final-value disagreement allowed, in the ADC's LSB."""
NEGLIGIBLE_PART = 1e-6
"""A part below this fraction of the column's energy is compared against the whole (the word
line's gates take none in either engine)."""
DEFAULT_CHECK_COLUMNS = 4
"""Columns per tile checked by default: the slowest, the fastest and two drawn at random."""


class EngineDisagreementError(SimulationError):
    """The batched engine and ngspice disagree on a column by more than the tolerance."""


@dataclass(frozen=True, slots=True)
class Disagreement:
    """One column's figures, batched against ngspice: latency and energy relative (the worst
    part named), the final value in LSB."""

    tile: str
    column: int
    latency: float
    energy: float
    energy_part: str
    final_lsb: float

    def __post_init__(self) -> None:
        check(self.column >= 0, "column", self.column, "an index >= 0")

    @property
    def over(self) -> list[str]:
        """The figures over their tolerance, described."""
        out = []
        if self.latency > LATENCY_TOL:
            out.append(f"latency {100 * self.latency:.3g} % > {100 * LATENCY_TOL:g} %")
        if self.energy > ENERGY_TOL:
            out.append(f"{self.energy_part} energy {100 * self.energy:.3g} % > "
                       f"{100 * ENERGY_TOL:g} %")
        if self.final_lsb > FINAL_TOL_LSB:
            out.append(f"final value {self.final_lsb:.3g} LSB > {FINAL_TOL_LSB:g} LSB")
        return out

    def name(self) -> str:
        return f"{self.tile} column {self.column}"


@dataclass(frozen=True, slots=True)
class SpotCheck:
    """Every checked column's disagreement; on the array drive, each one's ``decomposition``
    (the coupled decomposition on the batched engine against the stored full array)."""

    columns: tuple[Disagreement, ...]
    decomposition: tuple[Disagreement, ...] = ()

    def worst(self) -> dict[str, object]:
        """The worst of each figure over the checked columns, and where."""
        return _worst(self.columns)

    def decomposition_json(self) -> dict[str, object]:
        """The decomposition's differences from the full array (none: not an array run)."""
        if not self.decomposition:
            return {}
        return {"worst": _worst(self.decomposition),
                "columns": [asdict(d) for d in self.decomposition]}

    def failures(self) -> list[str]:
        return [f"{d.name()}: {', '.join(d.over)}" for d in self.columns if d.over]

    def to_json(self) -> dict[str, object]:
        return {"worst": self.worst(), "columns": [asdict(d) for d in self.columns],
                "tolerance": {"latency": LATENCY_TOL, "energy": ENERGY_TOL,
                              "final_lsb": FINAL_TOL_LSB}}

    def summary(self) -> str:
        w = self.worst()
        return (f"engine check against ngspice ({w['columns']} columns): worst latency "
                f"{100 * float(w['latency']):.3g} % ({w['latency_at']}), energy "  # type: ignore[arg-type]
                f"{100 * float(w['energy']):.3g} % ({w['energy_at']}), final value "  # type: ignore[arg-type]
                f"{float(w['final_lsb']):.3g} LSB ({w['final_lsb_at']})"  # type: ignore[arg-type]
                + self._decomposition_summary())

    def _decomposition_summary(self) -> str:
        if not self.decomposition:
            return ""
        w = _worst(self.decomposition)
        return ("\ncoupled decomposition against the full array (information, not checked): "
                f"worst latency {100 * float(w['latency']):.3g} % ({w['latency_at']}), "  # type: ignore[arg-type]
                f"energy {100 * float(w['energy']):.3g} % ({w['energy_at']}), final value "  # type: ignore[arg-type]
                f"{float(w['final_lsb']):.3g} LSB ({w['final_lsb_at']})")  # type: ignore[arg-type]


def _worst(columns: Sequence[Disagreement]) -> dict[str, object]:
    out: dict[str, object] = {"columns": len(columns)}
    for figure in ("latency", "energy", "final_lsb"):
        top = max(columns, key=lambda d: getattr(d, figure))
        out[figure] = getattr(top, figure)
        out[f"{figure}_at"] = top.name()
    return out


def pick_columns(table: Mapping[str, np.ndarray], count: int, seed: str) -> list[int]:
    """Up to ``count`` columns of a table: its slowest and fastest ``ok`` columns, then others
    drawn at random (seeded by ``seed``, so a rerun checks the same)."""
    ok = np.flatnonzero(np.asarray(table["status"]) == "ok")
    if count <= 0 or not len(ok):
        return []
    latency = np.asarray(table["latency_s"], dtype=float)[ok]
    picked = [int(ok[np.argmax(latency)]), int(ok[np.argmin(latency)])][:count]
    rest = [int(j) for j in ok if int(j) not in picked]
    rng = np.random.default_rng(int(seed[:8], 16) if seed else 0)
    draw = rng.permutation(len(rest))[:max(count - len(set(picked)), 0)]
    columns = list(dict.fromkeys(picked)) + [rest[k] for k in sorted(draw)]
    return [int(np.asarray(table["column"])[j]) for j in columns]


def ngspice_column(tile: Tile, column: int, drive: RowDrive, options: SimOptions
                   ) -> ColumnRun:
    """Column ``column`` of ``tile`` in ngspice (a pool worker's task)."""
    return simulate_column(tile, column, drive, options)


def batched_columns(tile: Tile, columns: Sequence[int], drives: Sequence[RowDrive],
                    options: SimOptions) -> list[ColumnRun]:
    """``columns`` of ``tile`` under ``drives`` (by column) on the batched column engine, none
    handed to ngspice where it fails (a pool worker's task)."""
    from spicecim.sim.batched.engine import simulate_columns  # JAX only where it runs

    return simulate_columns([(tile, j, drives[j]) for j in columns], options)


def _against(tile: Tile, name: str, column: int, row: Mapping[str, object], run: ColumnRun,
             threshold_fraction: float) -> Disagreement:
    """Stored ``row`` against ngspice's ``run`` of the column."""
    if run.status == "failed":
        raise EngineDisagreementError(f"{name} column {column}: ngspice failed where the batched "
                                      f"engine did not: {run.message}")
    return difference(tile, name, column, row, _figures(tile, run, threshold_fraction))


def _figures(tile: Tile, run: ColumnRun, threshold_fraction: float) -> dict[str, float]:
    """A run's figures under their column table names."""
    m = measure_column(run.time_s, run.v_out_v, run.v_in_v, run.power_w, tile.readout,
                       threshold_fraction, tile.spec.driver.rise_s)
    return {"latency_s": m.latency_s, "v_final_v": m.v_final_v,
            **{schema.energy_field(k): e for k, e in m.energy_j.items()}}


def difference(tile: Tile, name: str, column: int, row: Mapping[str, object],
               ref: Mapping[str, float]) -> Disagreement:
    """``row``'s figures (a column table's) against the reference's ``ref``."""
    latency = abs(float(row["latency_s"]) - ref["latency_s"]) / max(abs(ref["latency_s"]), 1e-15)  # type: ignore[arg-type]
    parts = {k: ref[schema.energy_field(k)] for k in schema.ENERGY_PARTS}
    total = sum(abs(e) for e in parts.values())
    energy, part = 0.0, schema.ENERGY_PARTS[0]
    for k, e in parts.items():
        scale = abs(e) if abs(e) > NEGLIGIBLE_PART * total else total
        error = abs(float(row[schema.energy_field(k)]) - e) / max(scale, 1e-30)  # type: ignore[arg-type]
        if error > energy:
            energy, part = error, k
    final = abs(float(row["v_final_v"]) - ref["v_final_v"]) / tile.readout.lsb_v  # type: ignore[arg-type]
    return Disagreement(name, column, latency, energy, part, final)


def _submit(executor: cf.Executor | None, fn: Callable[..., Any], *args: Any) -> cf.Future:
    """``fn(*args)`` on ``executor``, or here and now without one."""
    if executor is not None:
        return executor.submit(fn, *args)
    done: cf.Future = cf.Future()
    done.set_result(fn(*args))
    return done


def spot_check(tiles: Sequence[tuple[str, Tile, Sequence[RowDrive], Mapping[str, np.ndarray]]],
               options_of: Mapping[str, SimOptions], count: int,
               threshold_fraction: float, *, array: bool = False,
               executor: cf.Executor | None = None) -> SpotCheck:
    """``count`` columns of each ``(name, tile, drives, table)`` (:func:`pick_columns`) again
    in ngspice. ``array``: the tables came from the full array, and ``drives`` are the coupled
    decomposition's: each column runs on the decomposition in both engines, the batched
    against ngspice (the engines' agreement), and the batched against the stored full array
    (the decomposition's difference, one engine on both sides). Every run is a task of
    ``executor`` (a column per ngspice task, a tile's columns per batched task), all submitted
    before any is awaited, so they share the pool's workers; without one, they run here."""
    picked = []
    for name, tile, drives, table in tiles:
        index = {int(j): n for n, j in enumerate(np.asarray(table["column"]))}
        rows = {j: {k: np.asarray(v)[index[j]] for k, v in table.items()}
                for j in pick_columns(table, count, tile.digest())}
        if rows:
            picked.append((name, tile, drives, rows))
    tasks = []
    for name, tile, drives, rows in picked:
        options = options_of[name]
        mine = (_submit(executor, batched_columns, tile, list(rows), drives, options)
                if array else None)
        tasks.append((mine, {j: _submit(executor, ngspice_column, tile, j, drives[j], options)
                             for j in rows}))
    found, decomposition = [], []
    for (name, tile, _, rows), (mine, refs) in zip(picked, tasks, strict=True):
        if mine is None:
            found += [_against(tile, name, j, row, refs[j].result(), threshold_fraction)
                      for j, row in rows.items()]
            continue
        for j, run in zip(rows, mine.result(), strict=True):
            if run.status == "failed":
                raise EngineDisagreementError(
                    f"{name} column {j}: the batched engine failed on the coupled "
                    f"decomposition: {run.message}")
            figures = _figures(tile, run, threshold_fraction)
            found.append(_against(tile, name, j, figures, refs[j].result(), threshold_fraction))
            decomposition.append(difference(tile, name, j, figures, rows[j]))
    return SpotCheck(tuple(found), tuple(decomposition))
