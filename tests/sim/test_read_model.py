"""The frozen read form of the memristor models (``CellParams.state``): one B element per cell
carrying the read I-V at the programmed state, against the Python I-V and against the full
(dynamic) subcircuit in ngspice, from one device to whole column transients. Run with
``pytest -s`` to see the agreement figures.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spicecim import devices
from spicecim.errors import SpecError
from spicecim.measure import measure_column
from spicecim.netlist.spec import CellParams, Tile, WireParams, default_spec
from spicecim.netlist.weights import WeightMapping
from spicecim.sim import column as sim
from spicecim.sim import sweep
from spicecim.sim.driver import sim_options
from spicecim.sim.ngspice import NgspiceSession

MODELS = ("hfox_stanford_v1", "hfox_stanford_asu")
MAPPING = WeightMapping("differential", 5e-6, 40e-6, 4)  # inside both HfOx models' ranges
_READ_SOURCE = re.compile(r"^(\S+) (\S+) (\S+) I = (\S+)\*sinh\(v\((\S+),(\S+)\)/(\S+)\)$")


@pytest.mark.parametrize("name", MODELS)
@settings(max_examples=60, deadline=None)
@given(u=st.floats(0.0, 1.0), v=st.floats(-0.5, 0.5))
def test_read_sources_carry_the_python_read_current(name: str, u: float, v: float) -> None:
    p = devices.memristor(name)
    g = p.g_off_s * (p.g_on_s / p.g_off_s) ** u
    (line,) = p.read_sources(["Bm3_4"], ["r3_4"], ["c3_4"], np.array([g]))
    match = _READ_SOURCE.match(line)
    assert match, line
    assert match.group(1, 2, 3, 5, 6) == ("Bm3_4", "r3_4", "c3_4", "r3_4", "c3_4")
    k, v0 = float(match.group(4)), float(match.group(7))
    assert k * math.sinh(v / v0) == pytest.approx(float(p.current(v, g)), rel=1e-12, abs=1e-30)


def test_read_sources_refuse_conductances_outside_the_device_range() -> None:
    p = devices.memristor()
    with pytest.raises(SpecError, match=p.name):
        p.read_sources(["Bm0_0", "Bm1_0"], ["a", "b"], ["c", "c"],
                       np.array([p.g_on_s, 1.01 * p.g_on_s]))


def test_state_is_validated_defaults_to_frozen_and_is_recorded() -> None:
    spec = default_spec(4, 4)
    assert spec.cell.state == "frozen"
    assert spec.to_dict()["cell"]["state"] == "frozen"
    assert default_spec(4, 4, state="dynamic").digest() != spec.digest()
    with pytest.raises(SpecError, match="state='thawed'.*'frozen', 'dynamic'"):
        CellParams("memristor", devices.memristor(), state="thawed")


def test_frozen_cells_refuse_drives_that_can_switch_them() -> None:
    spec = default_spec(4, 4)
    loud = dataclasses.replace(spec.driver, v_full_v=1.3)
    with pytest.raises(SpecError, match="v_full_v=1.3.*dynamic"):
        dataclasses.replace(spec, driver=loud)
    dynamic = default_spec(4, 4, state="dynamic", access=False)
    # without an access transistor a drive that can SET them is a SET with no compliance
    with pytest.raises(SpecError, match="v_full_v=1.3.*without an access transistor"):
        dataclasses.replace(dynamic, driver=loud)
    one_t = default_spec(4, 4, state="dynamic", access=True)
    assert dataclasses.replace(one_t, driver=loud).driver.v_full_v == 1.3
    linear = default_spec(4, 4, cell="linear")
    assert dataclasses.replace(linear, driver=loud).driver.v_full_v == 1.3


@pytest.mark.ngspice
@pytest.mark.parametrize("name", MODELS)
def test_frozen_read_iv_is_the_subcircuit_iv(name: str) -> None:
    p = devices.memristor(name)
    g = math.sqrt(p.g_on_s * p.g_off_s)
    # one drive, each device returning through its own 0 V ammeter
    lines = [p.subckt_text().rstrip(), "V1 a 0 DC 0", "Vdyn d 0 DC 0", "Vfro f 0 DC 0",
             f"X1 a d {p.subckt} {p.instance_params(g)}",
             *p.read_sources(["B2"], ["a"], ["f"], np.array([g])),
             ".dc V1 -0.5 0.5 0.05", ".end", ""]
    vectors = NgspiceSession().run("\n".join(lines))
    dynamic, frozen = vectors["vdyn#branch"], vectors["vfro#branch"]
    assert len(frozen) == 21
    np.testing.assert_allclose(frozen, p.current(vectors["a"], g), rtol=1e-9, atol=1e-18)
    np.testing.assert_allclose(dynamic, frozen, rtol=1e-9, atol=1e-18)


def _tile(n: int) -> Tile:
    """16 and 32: lossy wires (2 ohm, 2 fF per cell); 64: the default tile."""
    base = default_spec(n, n, state="dynamic")
    if n < 64:
        base = dataclasses.replace(base, wire=WireParams(2.0, 2e-15, 2.0, 2e-15))
    rng = np.random.default_rng(n)
    g = MAPPING.to_conductances(rng.uniform(-1, 1, (n, n // 2)))
    return Tile(base, g, rng.uniform(0, 1, n))


@pytest.mark.ngspice
# 16x16 in make test (2 s: the dynamic model's columns cost 7x the frozen ones'); 32x32 (8 s)
# and the 64x64 default tile in make test-heavy.
@pytest.mark.parametrize("n", [16, pytest.param(32, marks=pytest.mark.heavy),
                               pytest.param(64, marks=pytest.mark.heavy)])
def test_frozen_columns_agree_with_the_dynamic_model(n: int) -> None:
    dynamic = _tile(n)
    frozen = Tile(dataclasses.replace(dynamic.spec,
                                      cell=dataclasses.replace(dynamic.spec.cell, state="frozen")),
                  dynamic.g_s, dynamic.x_in)
    drives = sweep.row_drives(dynamic, "coupled")
    session = NgspiceSession()
    figures, cpu = {}, {}
    for tile in (dynamic, frozen):
        options = sim_options(tile)
        runs = [sim.simulate_column(tile, j, drives[j], options, session) for j in range(n)]
        assert all(r.status == "ok" for r in runs), [r.message for r in runs]
        cpu[tile.spec.cell.state] = sum(r.cpu_s for r in runs)
        ms = [measure_column(r.time_s, r.v_out_v, r.v_in_v, r.power_w, tile.readout)
              for r in runs]
        figures[tile.spec.cell.state] = (np.array([m.latency_s for m in ms]),
                                         np.array([m.v_final_v for m in ms]),
                                         np.array([m.energy_j["drivers"] for m in ms]))
    latency, final, energy = (np.max(np.abs(f / d - 1)) for f, d in
                              zip(figures["frozen"], figures["dynamic"], strict=True))
    print(f"\n{n}x{n} frozen vs dynamic: latency {latency:.2e}, final value {final:.2e}, "
          f"driver energy {energy:.2e} max relative difference; CPU {cpu['dynamic']:.2f} s "
          f"-> {cpu['frozen']:.2f} s", end="")
    assert latency < 1e-3
    assert final < 1e-6  # the physics differs by the state's drift, ~1e-8
    # Energy integrates over the time points ngspice picks, which the dynamic model's extra
    # nodes (state, temperature) move: a difference of integration, not of the devices.
    assert energy < 5e-3
