"""The columns measured together (spicecim.measure_batch) against one at a time
(spicecim.measure.measure_column): on real ngspice and batched-engine runs of every front end
(the tia's columns each on its own time points and length), on the full array's columns (one
time grid),
and on the edge cases the per-column functions single out."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from spicecim.measure import ColumnMeasure, measure_column
from spicecim.measure_batch import measure_columns, stack
from spicecim.netlist.spec import DEFAULT_READOUT, CrossbarSpec, Tile, default_spec
from spicecim.sim.batched.array import array_column_runs
from spicecim.sim.batched.engine import simulate_columns
from spicecim.sim.column import ColumnRun, simulate_column
from spicecim.sim.driver import sim_options
from spicecim.sim.sweep import row_drives


def _tile(spec: CrossbarSpec, seed: int = 0) -> Tile:
    rng = np.random.default_rng(seed)
    mem = spec.cell.memristor
    g = rng.uniform(max(1e-6, mem.g_off_s), min(40e-6, mem.g_on_s), (spec.rows, spec.cols))
    x = rng.uniform(0, 1, spec.rows)
    x[0] = 0.0  # a row driven to 0 V: the input edge still comes from the largest row
    return Tile(spec, g, x)


def _front_end(name: str, **kw: object) -> CrossbarSpec:
    spec = default_spec(8, 4, **kw)  # type: ignore[arg-type]
    return dataclasses.replace(spec, readout=dataclasses.replace(DEFAULT_READOUT,
                                                                 front_end=name))


def _together(tile: Tile, runs: list[ColumnRun]) -> list[ColumnMeasure]:
    groups = list(runs[0].power_w)
    return measure_columns(stack([r.time_s for r in runs]), stack([r.v_out_v for r in runs]),
                           stack([r.v_in_v for r in runs]),
                           {g: stack([r.power_w[g] for r in runs]) for g in groups},
                           np.array([len(r.time_s) for r in runs]), tile.readout, 0.9,
                           tile.spec.driver.rise_s)


def _alone(tile: Tile, run: ColumnRun) -> ColumnMeasure:
    return measure_column(run.time_s, run.v_out_v, run.v_in_v, run.power_w, tile.readout, 0.9,
                          tile.spec.driver.rise_s)


def _same(a: ColumnMeasure, b: ColumnMeasure) -> None:
    """Equal to float rounding (NaN where the other is NaN)."""
    for name in ("latency_s", "settle_s", "threshold_s", "v_final_v", "window_s", "snr_db"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-12, abs=0.0,
                                                 nan_ok=True), name
    assert a.energy_j.keys() == b.energy_j.keys()
    for part, e in b.energy_j.items():
        assert a.energy_j[part] == pytest.approx(e, rel=1e-12, abs=1e-30), part
    assert dict(a.power_end_w) == dict(b.power_end_w)


@pytest.mark.ngspice
@pytest.mark.parametrize("spec", [_front_end("tia"), _front_end("integrator"),
                                  _front_end("passive", cell="linear")],
                         ids=["tia", "integrator", "passive"])
def test_measured_together_as_one_at_a_time_on_both_engines(spec: CrossbarSpec) -> None:
    tile = _tile(spec)
    options = sim_options(tile)
    drives = row_drives(tile, "coupled")
    columns = range(spec.cols)
    for runs in ([simulate_column(tile, j, drives[j], options) for j in columns],
                 simulate_columns([(tile, j, drives[j]) for j in columns], options)):
        for together, run in zip(_together(tile, runs), runs, strict=True):
            _same(together, _alone(tile, run))


def test_measured_together_on_the_full_arrays_one_grid() -> None:
    tile = _tile(default_spec(8, 8))
    runs = array_column_runs(tile, sim_options(tile))
    for together, run in zip(_together(tile, runs), runs, strict=True):
        _same(together, _alone(tile, run))


def _synthetic(n: int, v_end: float, in_end: float, t_end: float = 1.0) -> ColumnRun:
    """A column run of ``n`` uneven points: an exponential to ``v_end``, an input ramp."""
    t = np.sort(np.random.default_rng(n).uniform(0, t_end, n))
    t[0] = 0.0
    v = v_end * (1 - np.exp(-t / (0.1 * t_end)))
    v_in = in_end * np.clip(t / (0.05 * t_end), 0, 1)
    p = np.abs(np.sin(7 * t)) + 1.0
    power = {g: p * (k + 1) for k, g in enumerate(("drivers", "frontend", "rowrail",
                                                   "wordline"))}
    return ColumnRun(0, "ok", 0, 0, "", "", "", float(t[-1]), 0.0, 0.0, t, v, v_in, power)


def test_edge_cases_as_one_at_a_time() -> None:
    """Two and three points, a flat output, a zero input, an output leaving its band on
    the last interval, a negative output, and the lengths mixed."""
    tile = _tile(default_spec(8, 4))
    runs = [_synthetic(2, 0.1, 0.5), _synthetic(3, 0.1, 0.5), _synthetic(4, 0.0, 0.5),
            _synthetic(9, 0.2, 0.0), _synthetic(50, 0.3, 0.5), _synthetic(51, -0.3, 0.5)]
    v = runs[4].v_out_v.copy()
    v[-2] = 10.0  # outside the band up to the last interval
    runs[4] = dataclasses.replace(runs[4], v_out_v=v)
    for together, run in zip(_together(tile, runs), runs, strict=True):
        _same(together, _alone(tile, run))
