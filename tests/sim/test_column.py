"""Column transients in a real ngspice: closed forms, the full array, time-step honesty,
failures. Run with ``pytest -s`` to see the agreement figures.

Failure injection: ``SPICECIM_TEST_UNCONVERGEABLE=3,5`` (read where a sweep starts) adds to
those columns' netlists a current ``1e6 v(out)^2`` into the readout, positive feedback that
blows up in finite time, which no tolerance can integrate through.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy.integrate import quad

from spicecim import devices
from spicecim.measure import adc_band, measure_column
from spicecim.netlist.crossbar import Transient, build_column, isolated_drive
from spicecim.netlist.spec import (
    CellParams,
    CrossbarSpec,
    DriverParams,
    Tile,
    WireParams,
    default_spec,
)
from spicecim.netlist.weights import WeightMapping
from spicecim.sim import column as sim
from spicecim.sim import sweep
from spicecim.sim.ngspice import NgspiceSession

ADC = devices.AdcModel(bits=8, t_conv_s=1e-9, e_conv_j=1e-12)
MAPPING = WeightMapping("differential", 50e-6, 225e-6, 4)


def _options(tile: Tile, g_max: float, **kw: object) -> sim.SimOptions:
    band = adc_band(tile.spec, g_max)
    return sim.SimOptions(settle_tol_v=band.half_lsb_v / 100, full_scale_v=band.full_scale_v, **kw)


def _measure(tile: Tile, g_max: float, run: sim.ColumnRun):  # noqa: ANN202
    assert run.status == "ok", run.message
    return measure_column(run.time_s, run.v_out_v, run.v_in_v, run.power_w,
                          adc_band(tile.spec, g_max), tile.spec.readout.adc)


def _one_cell(style: str, g: float, r: float, c: float, rise: float, u: float) -> Tile:
    spec = CrossbarSpec(1, 1, CellParams("linear", devices.memristor()), WireParams(0, 0, 0, 0),
                        DriverParams(u, 0.0, rise, 8), devices.Readout(style, r, c, ADC))
    return Tile(spec, np.array([[g]]), np.array([1.0]))


def _ramp_rc(a: float, b: float, slope: float, rise: float):  # noqa: ANN202
    """v' = b u(t) - a v with u a ramp of ``slope`` up to ``rise``, then flat."""
    def v(t: float) -> float:
        ramp = b * slope / a * (min(t, rise) - (1 - math.exp(-a * min(t, rise))) / a)
        if t <= rise:
            return ramp
        v_inf = b * slope * rise / a
        return v_inf + (ramp - v_inf) * math.exp(-a * (t - rise))
    return v


@pytest.mark.ngspice
def test_one_cell_into_the_adc_capacitor_is_the_closed_form_rc() -> None:
    """Sense readout: C v' = g (u - v) - v / R, so tau = C / (g + 1/R); the source delivers
    u g (u - v). Settling to +-LSB/2 after the ramp takes tau ln((v_inf - v(t_r)) / (LSB/2))."""
    g, r, c, rise, u = 1e-4, 1e4, 100e-15, 50e-12, 0.1
    tile = _one_cell("sense", g, r, c, rise, u)
    run = sim.simulate_column(tile, 0, isolated_drive(tile, 0), _options(tile, g))
    m = _measure(tile, g, run)
    a, b = (g + 1 / r) / c, g / c
    v = _ramp_rc(a, b, u / rise, rise)
    half = adc_band(tile.spec, g).half_lsb_v
    settle = rise + math.log((b * u / a - v(rise)) / half) / a
    drive = lambda t: u * min(t / rise, 1.0)  # noqa: E731
    energy = sum(quad(lambda t: drive(t) * g * (drive(t) - v(t)), lo, hi, epsrel=1e-12)[0]
                 for lo, hi in ((0, rise), (rise, settle)))
    print(f"\nRC closed form: latency {m.latency_s:.5g} s vs {settle - rise / 2:.5g} s "
          f"({m.latency_s / (settle - rise / 2) - 1:+.2%}), energy {m.energy_j['drivers']:.5g} J "
          f"vs {energy:.5g} J ({m.energy_j['drivers'] / energy - 1:+.2%})")
    assert m.latency_s == pytest.approx(settle - rise / 2, rel=0.02)
    assert m.energy_j["drivers"] == pytest.approx(energy, rel=0.02)
    assert m.v_final_v == pytest.approx(b * u / a, rel=1e-3)


@pytest.mark.ngspice
def test_virtual_ground_readout_is_the_closed_form_and_its_amplifier_delivers_power() -> None:
    """Column held at 0 V: the cell carries g u(t) exactly; the TIA output is g u R through a
    pole at R C; the drivers deliver g u^2, the amplifier v_out i."""
    g, r, c, rise, u = 1e-4, 1e4, 100e-15, 50e-12, 0.1
    tile = _one_cell("virtual_ground", g, r, c, rise, u)
    m = _measure(tile, g, sim.simulate_column(tile, 0, isolated_drive(tile, 0), _options(tile, g)))
    a = 1 / (r * c)
    v = _ramp_rc(a, g * r * a, u / rise, rise)
    half = adc_band(tile.spec, g).half_lsb_v
    settle = rise + math.log((g * u * r - v(rise)) / half) / a
    assert m.latency_s == pytest.approx(settle - rise / 2, rel=0.02)
    assert m.energy_j["drivers"] == pytest.approx(g * u**2 * (settle - rise + rise / 3), rel=0.02)
    readout = quad(lambda t: v(t) * g * u * min(t / rise, 1.0), 0, settle, points=[rise])[0]
    assert m.energy_j["readout"] == pytest.approx(readout, rel=0.02)


def _lossy_tile(n: int) -> Tile:
    """Memristor cells, 2 ohm / 2 fF per cell wires and a slow readout (200 ohm || 2 pF), so the
    latency is set by the readout and the wires rather than by the input edge."""
    base = default_spec(n, n)
    spec = dataclasses.replace(base, wire=WireParams(2.0, 2e-15, 2.0, 2e-15),
                               readout=devices.Readout("sense", 200.0, 2e-12, base.readout.adc))
    rng = np.random.default_rng(1)
    g = MAPPING.to_conductances(rng.uniform(-1, 1, (n, n // 2)))
    return Tile(spec, g, rng.uniform(0, 1, n))


@pytest.mark.ngspice
@pytest.mark.slow
@pytest.mark.parametrize("n", [16, 32])
def test_columns_agree_with_the_full_array_transient(n: int) -> None:
    tile = _lossy_tile(n)
    options = _options(tile, MAPPING.g_max_s)
    session = NgspiceSession()
    figures, runs = {}, {}
    for mode in sweep.DRIVES:
        drives = sweep.row_drives(tile, mode)
        runs[mode] = [sim.simulate_column(tile, j, drives[j], options, session) for j in range(n)]
        figures[mode] = [_measure(tile, MAPPING.g_max_s, r) for r in runs[mode]]
    stop = max(r.stop_s for r in runs["coupled"])
    step = min(r.max_step_s for r in runs["coupled"])
    array = sim.simulate_array(tile, options, stop_s=stop, max_step_s=step, session=session)
    band = adc_band(tile.spec, MAPPING.g_max_s)
    ref = [measure_column(array.time_s, array.v_out_v[j], array.v_in_v, {}, band, ADC)
           for j in range(n)]
    lat_ref = np.array([m.latency_s for m in ref])
    v_ref = np.array([m.v_final_v for m in ref])
    assert lat_ref.min() > 5 * tile.spec.driver.rise_s  # the readout, not the edge, sets it
    errors = {}
    for mode, ms in figures.items():
        v_err = np.max(np.abs(np.array([m.v_final_v for m in ms]) / v_ref - 1))
        lat_err = np.max(np.abs(np.array([m.latency_s for m in ms]) / lat_ref - 1))
        errors[mode] = (v_err, lat_err)
        print(f"\n{n}x{n} drive {mode:<8}: final value max error {v_err:.2e}, latency max error "
              f"{lat_err:.2%} (array latencies {lat_ref.min():.4g}..{lat_ref.max():.4g} s)", end="")
    v_err, lat_err = errors[sweep.DRIVES[0]]
    assert v_err < 0.01
    assert lat_err < 0.05
    assert v_err < errors["isolated"][0]
    assert lat_err < errors["solver"][1]


@pytest.mark.ngspice
@pytest.mark.parametrize("which", ["default_64", "lossy_16"])
def test_latencies_do_not_move_when_the_maximum_step_shrinks_tenfold(which: str) -> None:
    if which == "default_64":
        spec = default_spec(64, 64)
        rng = np.random.default_rng(2)
        g = MAPPING.to_conductances(rng.uniform(-1, 1, (64, 32)))
        tile = Tile(spec, g, rng.uniform(0, 1, 64))
    else:
        tile = _lossy_tile(16)
    drives = sweep.row_drives(tile, "coupled")
    columns = range(3)
    lat = {}
    for scale in (1.0, 0.1):
        options = _options(tile, MAPPING.g_max_s, max_step_scale=scale)
        lat[scale] = np.array([_measure(tile, MAPPING.g_max_s, sim.simulate_column(
            tile, j, drives[j], options)).latency_s for j in columns])
    change = np.max(np.abs(lat[1.0] / lat[0.1] - 1))
    print(f"\n{which}: latency change with max step / 10: {change:.3%}", end="")
    assert change < 0.01


def _small_linear_tile(cols: int = 4) -> Tile:
    spec = default_spec(4, cols, cell="linear")
    rng = np.random.default_rng(3)
    g = MAPPING.to_conductances(rng.uniform(-1, 1, (4, cols // 2)))
    return Tile(spec, g, rng.uniform(0.2, 1, 4))


@pytest.mark.ngspice
def test_an_unconvergeable_column_is_retried_then_failed_and_the_sweep_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tile = _small_linear_tile()
    monkeypatch.setenv(sweep.UNCONVERGEABLE_ENV, "2")
    runs = [r for batch in sweep.sweep(tile, sweep.row_drives(tile, "isolated"),
                                     _options(tile, MAPPING.g_max_s), workers=1) for r in batch]
    by_column = {r.column: r for r in runs}
    assert sorted(by_column) == [0, 1, 2, 3]
    failed = by_column.pop(2)
    assert failed.status == "failed"
    assert failed.retries == len(sim.RELAXED_ATTEMPTS)
    assert "Timestep too small" in failed.message
    assert "itl4=500" in failed.ngspice_options
    assert all(r.status == "ok" and r.retries == 0 for r in by_column.values())


@pytest.mark.ngspice
def test_any_executor_will_do_and_threads_share_the_one_ngspice_safely() -> None:
    tile = _small_linear_tile(8)
    drives = sweep.row_drives(tile, "coupled")
    options = _options(tile, MAPPING.g_max_s)
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = [r for batch in sweep.sweep(tile, drives, options, executor=pool, columns_per_task=1)
                for r in batch]
    assert sorted(r.column for r in runs) == list(range(8))
    for r in runs:
        alone = sim.simulate_column(tile, r.column, drives[r.column], options)
        np.testing.assert_array_equal(r.v_out_v, alone.v_out_v)


@pytest.mark.ngspice
def test_each_run_leaves_ngspice_empty_and_energy_flows_out_of_the_drivers() -> None:
    tile = _small_linear_tile()
    session = NgspiceSession()
    options = _options(tile, MAPPING.g_max_s)
    run = sim.simulate_column(tile, 1, isolated_drive(tile, 1), options, session)
    assert session.plot() == "const"  # every plot and circuit destroyed
    assert "no circuit" in session.command("listing").lower() or session.command("listing") == ""
    assert run.power_w["drivers"].min() >= 0 and run.power_w["drivers"][-1] > 0
    assert run.time_s[0] == 0.0 and run.v_out_v[0] == 0.0
    uic = sim.simulate_column(tile, 1, isolated_drive(tile, 1),
                              dataclasses.replace(options, skip_op=True), session)
    assert uic.time_s[0] == 0.0 and "uic" in uic.ngspice_options
    assert uic.v_out_v[-1] == pytest.approx(run.v_out_v[-1], rel=1e-6)


def test_sources_are_grouped_and_zero_volt_sources_skipped() -> None:
    spec = dataclasses.replace(default_spec(2, 2, access=True),
                               readout=devices.Readout("virtual_ground", 1e3, 1e-13, ADC))
    tile = Tile(spec, np.full((2, 2), 1e-4), np.array([0.0, 1.0]))
    sources = sim._sources(build_column(tile, 1, Transient(1e-9, 1e-11)))
    groups = sorted((s.group, s.plus, s.current) for s in sources)
    assert groups == [("drivers", "d1", "v1#branch"), ("readout", "0", "vs1#branch"),
                      ("wordline", "wl", "vwl#branch")]  # V0 (input 0) and Vs1 (0 V) skipped


def test_time_scales_of_one_cell_are_its_rc() -> None:
    tile = _one_cell("sense", 1e-4, 1e4, 100e-15, 50e-12, 0.1)
    scales = sim.time_scales(tile, isolated_drive(tile, 0))
    assert scales.tau_s == pytest.approx(100e-15 / (1e-4 + 1e-4))
    assert scales.row_s == 0 and scales.column_s == 0
    assert scales.max_step_s(10, 5) == pytest.approx(scales.tau_s / 10)
    assert scales.max_step_s(10**6, 5) == pytest.approx(50e-12 / 5)  # when the edge is longer


def test_a_source_voltage_is_read_from_its_dc_or_pwl_value_and_saved_otherwise() -> None:
    assert sim._waveform("dc 0.1") == ((0.0,), (0.1,))
    assert sim._waveform("0") == ((0.0,), (0.0,))
    assert sim._waveform("pwl(0 0 1e-10 0.1)") == ((0.0, 1e-10), (0.0, 0.1))
    for other in ("sin(0 1 1e9)", "1n", "pwl(0 0 1e-10)", "dc 0.1 ac 1"):
        assert sim._waveform(other) is None
    source = sim._Source("drivers", "d0", "0", "v0#branch", 1.0, sim._waveform("pwl(0 0 1 2)"))
    t = np.array([0.0, 0.5, 1.0, 3.0])
    np.testing.assert_array_equal(source.voltage({"time": t}), [0.0, 1.0, 2.0, 2.0])
    saved = dataclasses.replace(source, waveform=None)
    np.testing.assert_array_equal(saved.voltage({"time": t, "d0": 2 * t}), 2 * t)


@pytest.mark.ngspice
def test_a_fresh_session_may_start_with_load() -> None:
    """PySpice fixes the library path when first imported: the session must find it first."""
    code = ("from spicecim.sim.ngspice import NgspiceSession as S; s = S(); "
            "s.load('* t\\nV1 a 0 1\\nR1 a 0 1\\n.op\\n.end\\n'); print(s.plot())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
