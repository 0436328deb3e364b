"""The batched engine's full array (the whole tile as one circuit) against ngspice's full array:
the same netlist's circuit on the same time points, every column's latency and final value
measured as the column-decomposition test measures them (tests/sim/test_column.py). Run with
``pytest -s`` to see the agreement."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from spicecim.devices.amplifier import opamp
from spicecim.errors import SpecError
from spicecim.measure import measure_column
from spicecim.netlist.spec import DEFAULT_READOUT, CrossbarSpec, Tile, default_spec
from spicecim.sim import column
from spicecim.sim.batched import array
from spicecim.sim.check import ENERGY_TOL, FINAL_TOL_LSB, LATENCY_TOL
from spicecim.sim.driver import sim_options


def _tile_of(spec: CrossbarSpec, seed: int = 0) -> Tile:
    """Conductances and inputs drawn over their whole ranges."""
    rng = np.random.default_rng(seed)
    n = spec.rows
    return Tile(spec, rng.uniform(1e-6, 40e-6, (n, spec.cols)), rng.uniform(0, 1, n))


def _figures(tile: Tile, run: column.ArrayRun) -> tuple[np.ndarray, np.ndarray]:
    ms = [measure_column(run.time_s, v, run.v_in_v, {}, tile.readout) for v in run.v_out_v]
    return np.array([m.latency_s for m in ms]), np.array([m.v_final_v for m in ms])


def _agreement(tile: Tile) -> None:
    """Both full arrays on the array's own step and stop: every column's latency, final value
    and each source group's energy over the run within the engines' tolerances."""
    options = sim_options(tile)
    stop, step = array.array_transient_s(tile, options)
    start = time.perf_counter()
    ref = column.simulate_array(tile, options, stop_s=stop, max_step_s=step)
    ngspice_s = time.perf_counter() - start
    start = time.perf_counter()
    run = array.simulate_array(tile, options, stop_s=stop, max_step_s=step)
    batched_s = time.perf_counter() - start
    assert (ref.status, run.status) == ("ok", "ok")
    np.testing.assert_allclose(run.time_s, ref.time_s, rtol=1e-9, atol=1e-6 * step)
    lat_ref, v_ref = _figures(tile, ref)
    lat, v = _figures(tile, run)
    assert lat_ref.min() > 5 * tile.spec.driver.rise_s  # the readout, not the edge, sets it
    lat_err = np.abs(lat / lat_ref - 1)
    final_lsb = np.abs(v - v_ref) / tile.readout.lsb_v
    energy = {g: float(np.trapezoid(run.power_w[g], run.time_s)) for g in run.power_w}
    energy_ref = {g: float(np.trapezoid(ref.power_w[g], ref.time_s)) for g in ref.power_w}
    energy_err = max(abs(energy[g] / e - 1) if e else abs(energy[g])
                     for g, e in energy_ref.items())
    print(f"\n{tile.spec.rows}x{tile.spec.cols} {tile.spec.readout.front_end} "
          f"{tile.spec.cell.kind} access={tile.spec.cell.access is not None} full array, "
          f"batched vs ngspice: latency max {lat_err.max():.3%} median "
          f"{np.median(lat_err):.3%}, final value max {final_lsb.max():.2e} LSB, energy max "
          f"{energy_err:.2e}; {batched_s:.3g} s (compilation included) vs {ngspice_s:.3g} s",
          end="")
    assert lat_err.max() <= LATENCY_TOL
    assert final_lsb.max() <= FINAL_TOL_LSB
    assert energy_err <= ENERGY_TOL


@pytest.mark.ngspice
@pytest.mark.slow
@pytest.mark.parametrize("n", [32, pytest.param(64, marks=pytest.mark.heavy)])
def test_full_array_agrees_with_ngspices_full_array(n: int) -> None:
    """Every column's latency within 0.5 %, final value within 1/10 LSB, and each source
    group's energy over the run within 0.2 %, on ngspice's own time points (measured, on the
    loaded 2-core machine: 0.002 % latency, 2e-7 LSB and 2e-6 in energy at 32x32 in 25 s of
    wall, ngspice 17 s of it; 0.002 %, 8e-7 LSB at 64x64, ngspice 587 s, batched 1.8 s).
    No 128x128 case: ngspice's full array cost 35x per point from 32x32 to 64x64, which
    projects to about 40 h at 128x128 (7x the points of 64x64 on its finer step)."""
    _agreement(_tile_of(default_spec(n, n)))


def test_shorted_wires_are_refused_in_one_line() -> None:
    """The full array's line solves need resistive wires; a shorted wire is named."""
    base = default_spec(4, 4)
    spec = dataclasses.replace(base, wire=dataclasses.replace(base.wire, r_row_ohm=0.0))
    tile = Tile(spec, np.full((4, 4), 1e-5), np.ones(4))
    with pytest.raises(SpecError, match="resistive row and column wires"):
        array.simulate_array(tile, sim_options(tile), stop_s=1e-9, max_step_s=1e-11)


def _front_end(name: str, **kw: object) -> CrossbarSpec:
    spec = default_spec(8, 8, **kw)  # type: ignore[arg-type]
    return dataclasses.replace(spec, readout=dataclasses.replace(DEFAULT_READOUT,
                                                                 front_end=name))


@pytest.mark.ngspice
@pytest.mark.slow
@pytest.mark.parametrize("spec", [
    _front_end("integrator"),
    _front_end("passive", cell="linear", access=False),
    pytest.param(default_spec(8, 8, access=False), marks=pytest.mark.heavy),
    pytest.param(dataclasses.replace(default_spec(8, 8), readout=dataclasses.replace(
        DEFAULT_READOUT, opamp=opamp("opamp_1p"))), marks=pytest.mark.heavy),
], ids=["integrator", "passive-linear", "0T1R", "opamp_1p"])
def test_every_element_kind_agrees_with_ngspice(spec: CrossbarSpec) -> None:
    """The integrator's and the passive front end's sample-and-hold, linear cells, cells
    without an access transistor and the one-pole amplifier, each in an 8x8 full array
    (measured: latency within 0.002 %, final value within 1e-3 LSB, energy within 4e-6). Each
    costs JAX's compilation of its circuit, 8-15 s on the loaded 2-core machine (0.1-0.9 s in
    ngspice): the last two, whose elements the default tile's case and the column engine's
    tests cover, run in make test-heavy."""
    _agreement(_tile_of(spec))


@pytest.mark.ngspice
def test_column_runs_share_the_arrays_sources_between_them() -> None:
    """Each column of the full array as a column run: its latency is the array's, and the
    rows' sources split among the columns (each cell's current and its stretch of row wire's)
    sum to what ngspice's sources deliver, group by group, within 0.2 %."""
    tile = _tile_of(_front_end("integrator"))
    options = sim_options(tile)
    stop, step = array.array_transient_s(tile, options)
    ref = column.simulate_array(tile, options, stop_s=stop, max_step_s=step)
    runs = array.array_column_runs(tile, options)
    assert [r.column for r in runs] == list(range(tile.spec.cols))
    lat_ref, _ = _figures(tile, ref)
    lat = np.array([measure_column(r.time_s, r.v_out_v, r.v_in_v, r.power_w, tile.readout
                                   ).latency_s for r in runs])
    np.testing.assert_allclose(lat, lat_ref, rtol=LATENCY_TOL)
    for group, p_ref in ref.power_w.items():
        total = sum(float(np.trapezoid(r.power_w[group], r.time_s)) for r in runs)
        expected = float(np.trapezoid(p_ref, ref.time_s))
        print(f"\n{group}: columns {total:.6g} J, ngspice's array {expected:.6g} J", end="")
        assert total == pytest.approx(expected, rel=ENERGY_TOL, abs=1e-30)
    assert np.all(np.array([np.trapezoid(r.power_w["drivers"], r.time_s) for r in runs]) > 0)
