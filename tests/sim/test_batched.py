"""The batched engine against the real ngspice, column for column: the same circuits (every
front end, linear and memristor cells, access transistor on and off, every drive), the same
time points, the same figures within the tolerances a run's spot check enforces. Run with
``pytest -s`` to see the agreement."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from spicecim.devices.amplifier import OpAmp, opamp
from spicecim.measure import ColumnMeasure, measure_column
from spicecim.netlist.spec import DEFAULT_READOUT, CrossbarSpec, Tile, default_spec
from spicecim.sim.batched.circuit import build_batch, structure_of
from spicecim.sim.batched.engine import simulate_columns
from spicecim.sim.batched.schedule import ngspice_schedule
from spicecim.sim.check import ENERGY_TOL, FINAL_TOL_LSB, LATENCY_TOL
from spicecim.sim.column import ColumnRun, simulate_column
from spicecim.sim.driver import sim_options
from spicecim.sim.ngspice import NgspiceSession
from spicecim.sim.sweep import row_drives

TIGHT = ".options reltol=1e-9 vntol=1e-15 abstol=1e-18"
"""Newton converged far below the equations' differences, so only those show."""


def _tile(spec: CrossbarSpec, seed: int = 0) -> Tile:
    rng = np.random.default_rng(seed)
    mem = spec.cell.memristor
    lo, hi = max(1e-6, mem.g_off_s), min(40e-6, mem.g_on_s)
    g = rng.uniform(lo, hi, (spec.rows, spec.cols))
    return Tile(spec, g, rng.uniform(0, 1, spec.rows))


def _measure(tile: Tile, run: ColumnRun) -> ColumnMeasure:
    return measure_column(run.time_s, run.v_out_v, run.v_in_v, run.power_w, tile.readout, 0.9,
                          tile.spec.driver.rise_s)


def _worst(tile: Tile, drive: str, columns: list[int]) -> dict[str, float]:
    """The worst disagreement over ``columns``: relative latency and energy per part, final
    value in LSB."""
    options = sim_options(tile)
    drives = row_drives(tile, drive)
    batched = simulate_columns([(tile, j, drives[j]) for j in columns], options)
    worst = {"latency": 0.0, "energy": 0.0, "final_lsb": 0.0}
    for j, b in zip(columns, batched, strict=True):
        n = simulate_column(tile, j, drives[j], options)
        assert (b.status, n.status) == ("ok", "ok")
        mb, mn = _measure(tile, b), _measure(tile, n)
        worst["latency"] = max(worst["latency"], abs(mb.latency_s / mn.latency_s - 1))
        for part, e in mn.energy_j.items():
            # a part that takes no energy in ngspice (the word line's gates) takes none here
            error = abs(mb.energy_j[part] / e - 1) if e else abs(mb.energy_j[part])
            worst["energy"] = max(worst["energy"], error)
        worst["final_lsb"] = max(worst["final_lsb"],
                                 abs(mb.v_final_v - mn.v_final_v) / tile.readout.lsb_v)
    print(f"\n{tile.spec.rows}x{tile.spec.cols} {tile.spec.readout.front_end} "
          f"{tile.spec.cell.kind} access={tile.spec.cell.access is not None} {drive}: {worst}")
    return worst


def _check(worst: dict[str, float]) -> None:
    assert worst["latency"] <= LATENCY_TOL
    assert worst["energy"] <= ENERGY_TOL
    assert worst["final_lsb"] <= FINAL_TOL_LSB


def test_schedule_is_ngspices() -> None:
    """The computed time points are the ones ngspice stores for a default column."""
    tile = _tile(default_spec(16, 2))
    options = sim_options(tile)
    drive = row_drives(tile, "isolated")[1]
    run = simulate_column(tile, 1, drive, options)
    edge = tile.spec.driver.rise_s * np.arange(1, options.edge_points + 1) / options.edge_points
    s = ngspice_schedule(run.stop_s, run.max_step_s, run.max_step_s, edge)
    assert len(s.time_s) == len(run.time_s)
    np.testing.assert_allclose(s.time_s, run.time_s, rtol=1e-9, atol=1e-6 * run.max_step_s)


@pytest.mark.ngspice
@pytest.mark.parametrize("v_source", [0.0, 0.2])
def test_the_access_transistor_equations_are_the_cards(v_source: float) -> None:
    """The engine's level-1 current and its slopes against ngspice's MOS1 on the .lib card,
    in both directions (drain below and above source); node voltages >= 0, as in a read."""
    a = default_spec(1, 1).cell.access
    assert a is not None
    lines = [a.model_text().rstrip(), f"Vwl wl 0 DC {a.v_gate_v!r}", "Vd d 0 DC 0",
             f"Vs s 0 DC {v_source!r}", f"M1 d wl s 0 {a.name} W={a.w_m!r} L={a.l_m!r}",
             TIGHT, ".dc Vd 0 0.5 0.01", ".end", ""]
    vectors = NgspiceSession().run("\n".join(lines))
    v_d = vectors["d"]
    current, di_dvd, _ = a.drain_current_slopes(v_d, np.full_like(v_d, v_source))
    # reverse-biased junctions leak IS + gmin v (< 1e-12 A) in ngspice's MOS1
    np.testing.assert_allclose(-vectors["vd#branch"], current, rtol=1e-9, atol=2e-12)
    np.testing.assert_allclose(np.gradient(current, v_d)[1:-1], di_dvd[1:-1], rtol=0.05,
                               atol=1e-6)


@pytest.mark.ngspice
@pytest.mark.parametrize(("name", "v_in_v"), [("opamp_1p", 1e-3), ("opamp_2s", 1e-3),
                                               ("opamp_2s", 0.3)])
def test_the_amplifier_equations_are_the_macromodels(name: str, v_in_v: float) -> None:
    """Open loop at DC the gain node sits at ``r1`` times the first stage's current (its tanh
    limit reached at 0.3 V): the pin is :meth:`output_v` of it behind ``Ro`` into the load,
    and the supply delivers :meth:`supply_power_w`."""
    amp = _tile(_amplifier(opamp(name))).readout.readout.opamp
    r_load = 1e4
    lines = [amp.subckt_text().rstrip(), f"Vdd vdd 0 DC {amp.vdd_v / 2!r}",
             f"Vss vss 0 DC {-amp.vdd_v / 2!r}", "Vin inn 0 DC 0",
             f"X1 0 inn out vdd vss {amp.name} {amp.instance_params()}", f"Rl out 0 {r_load!r}",
             TIGHT, f".dc Vin {-v_in_v!r} {v_in_v!r} {v_in_v / 20!r}", ".end", ""]
    vectors = NgspiceSession().run("\n".join(lines))
    p1 = amp.first_stage_a(-vectors["inn"]) * amp.a0 / amp.gm_s
    out = amp.output_v(p1) * r_load / (r_load + amp.output_resistance_ohm)
    np.testing.assert_allclose(vectors["out"], out, rtol=1e-9, atol=1e-12)
    supplied = (-amp.vdd_v / 2 * vectors["vdd#branch"] + amp.vdd_v / 2 * vectors["vss#branch"])
    np.testing.assert_allclose(supplied, amp.supply_power_w(out / r_load), rtol=1e-9)


def _front_end(name: str, **kw: object) -> CrossbarSpec:
    spec = default_spec(8, 8, **kw)  # type: ignore[arg-type]
    return dataclasses.replace(spec, readout=dataclasses.replace(DEFAULT_READOUT,
                                                                 front_end=name))


def _amplifier(amp: OpAmp, front_end: str = "tia") -> CrossbarSpec:
    """The default 8x8 tile read through ``amp`` (sized for it where its model is sized)."""
    return dataclasses.replace(default_spec(8, 8), readout=dataclasses.replace(
        DEFAULT_READOUT, front_end=front_end, opamp=amp))


@pytest.mark.ngspice
@pytest.mark.parametrize(("spec", "drive"), [
    (default_spec(8, 8), "coupled"),
    (default_spec(8, 8), "solver"),
    (default_spec(8, 8, access=False), "isolated"),
    (default_spec(8, 8, cell="linear", access=False), "isolated"),
    (_front_end("integrator"), "coupled"),
    (_front_end("passive", cell="linear"), "isolated"),
    (_amplifier(opamp("opamp_1p")), "coupled"),
    (_amplifier(opamp("opamp_2s", slew_v_per_s=4e6)), "coupled"),
    (_amplifier(opamp("opamp_2s", slew_v_per_s=4e6), "integrator"), "coupled"),
], ids=["default-coupled", "default-solver", "0T1R", "linear", "integrator", "passive",
        "opamp_1p", "slewing", "slewing-integrator"])
def test_agrees_with_ngspice(spec: CrossbarSpec, drive: str) -> None:
    _check(_worst(_tile(spec), drive, list(range(spec.cols))))


@pytest.mark.ngspice
@pytest.mark.slow
def test_agrees_on_a_tall_column() -> None:
    """A 64-row tile's slowest and fastest columns, and the default 256-row column."""
    _check(_worst(_tile(default_spec(64, 16)), "coupled", [0, 15]))
    _check(_worst(_tile(default_spec(256, 4)), "coupled", [3]))


def test_amplifiers_sized_apart_batch_together() -> None:
    """Two tiles whose two-stage amplifiers are sized for different loads share one structure
    (one compilation): the sized values travel per column."""
    a, b = _tile(default_spec(8, 8), seed=0), _tile(default_spec(8, 8), seed=1)
    assert a.readout.readout.opamp.r_out_ohm != b.readout.readout.opamp.r_out_ohm
    assert structure_of(a) == structure_of(b)
    batch = build_batch([(a, 0, row_drives(a, "isolated")[0]),
                         (b, 0, row_drives(b, "isolated")[0])])
    assert batch.structure.amp_pin and batch.structure.slew
    np.testing.assert_allclose(batch.front_end["r_o_ohm"],
                               [a.readout.readout.opamp.r_out_ohm,
                                b.readout.readout.opamp.r_out_ohm])
