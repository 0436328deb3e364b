"""Crossbar netlists: exact vector-matrix products in ngspice, Kirchhoff's current law, golden
text, determinism, and the 1T1R and pulse-width variants running in ngspice.

Currents: ngspice reports a voltage source's branch current positive into its + terminal, so a
column's virtual-ground source ``Vs<j> b<j> 0`` reports the column current as a positive
``vs<j>#branch``, and a row driver ``V<i> d<i> 0`` reports minus what it delivers.

Golden netlists (tests/netlist/golden/*.cir) are compared as text after the version in the first
header line is replaced by ``<version>``, so a version bump alone does not touch them. They
are rewritten only by ``pytest --update-golden``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

import spicecim
from spicecim import devices
from spicecim.netlist import spec as specs
from spicecim.netlist.crossbar import Op, Transient, build_array, build_column, write_netlists
from spicecim.sim.ngspice import NgspiceSession

GOLDEN = Path(__file__).parent / "golden"
IDEAL_WIRE = specs.WireParams(0.0, 0.0, 0.0, 0.0)
G_MIN, G_MAX = specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S


@pytest.fixture(scope="module")
def ngspice() -> NgspiceSession:
    return NgspiceSession()


def make_spec(rows: int, cols: int, *, cell: str = "linear", wire: specs.WireParams = IDEAL_WIRE,
              r_out: float = 0.0, readout: str = "virtual_ground", c_adc: float = 0.0,
              encoding: str = "amplitude", access: bool = False,
              state: str = "frozen") -> specs.CrossbarSpec:
    return specs.CrossbarSpec(
        rows=rows,
        cols=cols,
        cell=specs.CellParams(cell, devices.memristor(specs.DEFAULT_MEMRISTOR),
                              devices.access_transistor() if access else None, state),
        wire=wire,
        driver=specs.DriverParams(v_full_v=0.1, r_out_ohm=r_out, rise_s=100e-12, dac_bits=8,
                                  encoding=encoding),
        readout=readout_of(readout, c_adc),
    )


def readout_of(kind: str, c_sample: float) -> devices.Readout:
    """``virtual_ground``: a passive sense resistor small enough (0.1 uOhm) that the column end
    sits within 1e-9 of the read voltage of ground; ``sense``: 1 ohm; ``tia``: the default TIA.
    ``c_sample`` the sampling capacitor (0: 100 fF, or the TIA's kT/C sizing)."""
    base = specs.DEFAULT_READOUT
    if kind == "tia":
        c_sample = c_sample or None
    sh = dataclasses.replace(base.sample_hold, c_s_f=c_sample or 100e-15)
    if kind == "tia":
        return dataclasses.replace(base, sample_hold=sh)
    r = 1e-7 if kind == "virtual_ground" else 1.0
    return dataclasses.replace(base, front_end="passive", r_sense_ohm=r, sample_hold=sh)


def random_tile(spec: specs.CrossbarSpec, seed: int) -> specs.Tile:
    rng = np.random.default_rng(seed)
    g = rng.uniform(G_MIN, G_MAX, size=(spec.rows, spec.cols))
    x = rng.uniform(0.0, 1.0, size=spec.rows)
    return specs.Tile(spec, g, x)


def column_currents(vectors: dict[str, np.ndarray], tile: specs.Tile) -> np.ndarray:
    """Current into each column's readout, at every time point (rows: columns): through the
    sense resistor, or the feedback resistor from the column end to the amplifier's output."""
    sized, cols = tile.readout, range(tile.spec.cols)
    if sized.r_sense_ohm is not None:
        return np.array([vectors[f"b{j}"] for j in cols]) / sized.r_sense_ohm
    assert sized.r_f_ohm is not None
    return np.array([vectors[f"b{j}"] - vectors[f"f{j}"] for j in cols]) / sized.r_f_ohm


def driver_currents(vectors: dict[str, np.ndarray], spec: specs.CrossbarSpec) -> np.ndarray:
    """Current each row driver delivers into the array."""
    return -np.array([vectors[f"v{i}#branch"] for i in range(spec.rows)])


# --- exact products and Kirchhoff -------------------------------------------------------------


@pytest.mark.ngspice
def test_ideal_array_computes_g_transpose_v_exactly(ngspice: NgspiceSession) -> None:
    spec = make_spec(8, 8)
    tile = random_tile(spec, seed=1)
    vectors = ngspice.run(build_array(tile, Op()))
    currents = column_currents(vectors, tile)[:, 0]
    expected = tile.g_s.T @ tile.v_in
    np.testing.assert_allclose(currents, expected, rtol=1e-9, atol=0)
    # at DC the sampling capacitor holds the sense voltage, r_sense * i, for the ADC
    outputs = np.array([vectors[f"out{j}"][0] for j in range(spec.cols)])
    np.testing.assert_allclose(outputs, expected * tile.readout.gain_ohm, rtol=1e-9, atol=0)


@pytest.mark.ngspice
def test_wire_and_driver_resistance_lower_every_column_current(ngspice: NgspiceSession) -> None:
    ideal = make_spec(8, 8)
    lossy = make_spec(8, 8, wire=specs.WireParams(5.0, 0.0, 5.0, 0.0), r_out=100.0)
    tile = random_tile(ideal, seed=2)
    lossy_tile = specs.Tile(lossy, tile.g_s, tile.x_in)
    i_ideal = column_currents(ngspice.run(build_array(tile, Op())), tile)[:, 0]
    i_lossy = column_currents(ngspice.run(build_array(lossy_tile, Op())), lossy_tile)[:, 0]
    assert np.all(i_lossy < i_ideal)
    assert np.all(i_lossy > 0.5 * i_ideal)  # a drop, not a broken circuit


@pytest.mark.ngspice
@settings(max_examples=15, deadline=None)
@given(
    rows=st.integers(1, 8),
    cols=st.integers(1, 8),
    r_wire=st.sampled_from([0.0, 0.5104, 5.0]),
    r_out=st.sampled_from([0.0, 100.0]),
    readout=st.sampled_from(["virtual_ground", "sense", "tia"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_column_currents_sum_to_the_driver_currents(
    ngspice: NgspiceSession, rows: int, cols: int, r_wire: float, r_out: float, readout: str,
    seed: int,
) -> None:
    spec = make_spec(rows, cols, wire=specs.WireParams(r_wire, 1e-17, r_wire, 1e-17),
                     r_out=r_out, readout=readout, c_adc=1e-13)
    tile = random_tile(spec, seed)
    vectors = ngspice.run(build_array(tile, Op()))
    into_columns = column_currents(vectors, tile)[:, 0].sum()
    from_drivers = driver_currents(vectors, spec)[:, 0].sum()
    assert into_columns == pytest.approx(from_drivers, rel=1e-9, abs=1e-18)
    assert into_columns <= float(np.sum(tile.g_s.T @ tile.v_in)) * (1 + 1e-9)


# --- golden text and determinism --------------------------------------------------------------


def golden_tile(state: str = "frozen") -> specs.Tile:
    """A fixed 2x2 memristor tile with the cited default wires, driver and readout."""
    spec = specs.default_spec(2, 2, state=state)
    return specs.Tile(spec, np.array([[5e-6, 40e-6], [20e-6, 12e-6]]), np.array([0.25, 1.0]))


GOLDEN_ANALYSIS = Transient(stop_s=400e-9, step_s=1e-9)
"""Long enough for the 2x2 tile's amplifier, sized for its 5.2 uA full scale (GBW 13 MHz)."""


def version_free(text: str) -> str:
    header = f"* spicecim {spicecim.__version__} "
    assert text.startswith(header), text.splitlines()[0]
    return "* spicecim <version> " + text[len(header):]


@pytest.mark.parametrize(
    ("filename", "state", "build"),
    [
        ("xbar2x2_array.cir", "frozen", lambda tile: build_array(tile, GOLDEN_ANALYSIS)),
        ("xbar2x2_col0.cir", "frozen", lambda tile: build_column(tile, 0, GOLDEN_ANALYSIS)),
        ("xbar2x2_col0_dynamic.cir", "dynamic",
         lambda tile: build_column(tile, 0, GOLDEN_ANALYSIS)),
    ],
)
def test_netlist_matches_the_golden_file(request: pytest.FixtureRequest, filename: str,
                                         state: str, build: Callable[[specs.Tile], str]) -> None:
    text = version_free(build(golden_tile(state)))
    path = GOLDEN / filename
    if request.config.getoption("--update-golden"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.is_file(), f"{path} is missing: run pytest --update-golden"
    assert text == path.read_text(), f"{filename} changed: review, then pytest --update-golden"


def front_end_tile(front_end: str) -> specs.Tile:
    """The golden 2x2 tile read through ``front_end``, every readout value sized."""
    tile = golden_tile()
    readout = dataclasses.replace(tile.spec.readout, front_end=front_end)
    return specs.Tile(dataclasses.replace(tile.spec, readout=readout), tile.g_s, tile.v_in)


@pytest.mark.parametrize("column", [None, 1])
@pytest.mark.parametrize("front_end", devices.FRONT_ENDS)
def test_front_end_netlist_matches_the_golden_file(request: pytest.FixtureRequest,
                                                   front_end: str, column: int | None) -> None:
    """Each front end's sizing and SPICE lines, pinned: the files were written by the
    string-dispatched writer before front ends became classes, so the move changed no byte."""
    tile = front_end_tile(front_end)
    text = version_free(build_array(tile, GOLDEN_ANALYSIS) if column is None
                        else build_column(tile, column, GOLDEN_ANALYSIS))
    path = GOLDEN / f"frontend_{front_end}_{'array' if column is None else f'col{column}'}.cir"
    if request.config.getoption("--update-golden"):
        path.write_text(text)
    assert path.is_file(), f"{path} is missing: run pytest --update-golden"
    assert text == path.read_text(), f"{path.name} changed: review, then pytest --update-golden"


@pytest.mark.ngspice
@pytest.mark.parametrize("filename",
                         ["xbar2x2_array.cir", "xbar2x2_col0.cir", "xbar2x2_col0_dynamic.cir"])
def test_golden_netlists_run_in_ngspice(ngspice: NgspiceSession, filename: str) -> None:
    vectors = ngspice.run((GOLDEN / filename).read_text())
    assert vectors["time"][-1] == pytest.approx(GOLDEN_ANALYSIS.stop_s)
    # the TIA inverts: the column's current comes out as a negative voltage
    assert vectors["out0"][-1] < 0 and vectors["b0"][-1] >= 0


def test_same_specification_gives_the_same_bytes() -> None:
    first, second = golden_tile(), golden_tile()
    assert first.spec is not second.spec
    for analysis in (Op(), GOLDEN_ANALYSIS):
        assert build_array(first, analysis) == build_array(second, analysis)
        assert build_column(first, 1, analysis) == build_column(second, 1, analysis)
    text = build_array(first, Op())
    assert f"* spec {first.spec.digest()} data {first.digest()}" in text
    changed = specs.Tile(first.spec, first.g_s, np.array([0.25, 0.5]))
    assert changed.digest() != first.digest()
    assert build_array(changed, Op()) != text


def test_written_files_are_the_built_text(tmp_path: Path) -> None:
    tile = golden_tile()
    paths = write_netlists(tile, tmp_path / "xbar", GOLDEN_ANALYSIS)
    assert [p.name for p in paths] == ["array.cir", "col0000.cir", "col0001.cir"]
    assert paths[0].read_text() == build_array(tile, GOLDEN_ANALYSIS)
    assert paths[2].read_text() == build_column(tile, 1, GOLDEN_ANALYSIS)
    assert sorted(p.name for p in (tmp_path / "xbar").iterdir()) == [p.name for p in paths]


# --- 1T1R cells and pulse-width inputs --------------------------------------------------------


def series_cell_current(mem: devices.MemristorParams, fet: devices.AccessTransistor, v: float,
                        g: float) -> float:
    """Memristor in series with the access transistor (source at 0 V), solved in Python."""
    if v == 0:
        return 0.0
    mid = brentq(lambda vm: float(mem.current(v - vm, g) - fet.drain_current(vm, 0.0)), 0.0, v,
                 xtol=1e-15, rtol=1e-14)
    return float(fet.drain_current(mid, 0.0))


@pytest.mark.ngspice
@pytest.mark.parametrize("state", specs.CELL_STATES)
def test_1t1r_array_runs_and_matches_the_series_device_models(ngspice: NgspiceSession,
                                                              state: str) -> None:
    spec = make_spec(4, 3, cell="memristor", access=True, state=state)
    tile = random_tile(spec, seed=3)
    vectors = ngspice.run(build_array(tile, Op()))
    mem, fet = spec.cell.memristor, spec.cell.access
    assert fet is not None
    expected = [sum(series_cell_current(mem, fet, float(tile.v_in[i]), float(tile.g_s[i, j]))
                    for i in range(spec.rows)) for j in range(spec.cols)]
    np.testing.assert_allclose(column_currents(vectors, tile)[:, 0], expected, rtol=1e-6)
    # the transistor costs current: below the memristor-only product
    assert np.all(column_currents(vectors, tile)[:, 0] < tile.g_s.T @ tile.v_in)


@pytest.mark.ngspice
@pytest.mark.parametrize("encoding", ["amplitude", "pulse_width"])
def test_1t1r_netlists_with_default_wires_run_a_transient(ngspice: NgspiceSession,
                                                          encoding: str) -> None:
    spec = make_spec(4, 4, cell="memristor", access=True, wire=specs.DEFAULT_WIRE, r_out=100.0,
                     readout="sense", c_adc=320e-15, encoding=encoding)
    tile = random_tile(spec, seed=4)
    analysis = Transient(stop_s=2e-9, step_s=1e-11)
    for netlist in (build_array(tile, analysis), build_column(tile, 2, analysis)):
        vectors = ngspice.run(netlist)
        assert vectors["time"][-1] == pytest.approx(analysis.stop_s)
        out = np.concatenate([vectors[k] for k in vectors if k.startswith("out")])
        assert np.all(np.isfinite(out))
        assert out.max() > 0


@pytest.mark.ngspice
def test_pulse_width_inputs_switch_each_row_for_its_share_of_the_window(
    ngspice: NgspiceSession,
) -> None:
    spec = make_spec(4, 2, encoding="pulse_width")
    g = np.array([[50e-6, 100e-6], [150e-6, 200e-6], [225e-6, 60e-6], [70e-6, 80e-6]])
    x = np.array([0.2, 0.5, 0.8, 0.0])
    tile = specs.Tile(spec, g, x)
    analysis = Transient(stop_s=10e-9, step_s=10e-12)
    vectors = ngspice.run(build_array(tile, analysis))
    t = vectors["time"]
    currents = column_currents(vectors, tile)
    rise = spec.driver.rise_s
    v = spec.driver.v_full_v
    for t_probe in (1e-9, 3.5e-9, 6e-9, 9e-9):  # between edges: 2.1, 5.1 and 8.1 ns
        on = (x * analysis.stop_s + rise > t_probe) & (x > 0)
        expected = g.T @ (v * on)
        measured = [np.interp(t_probe, t, currents[j]) for j in range(spec.cols)]
        np.testing.assert_allclose(measured, expected, rtol=1e-6, atol=1e-15)
    # the charge each column collects is the product with the pulse widths
    charge = np.trapezoid(currents, t, axis=1)
    widths = x * analysis.stop_s
    np.testing.assert_allclose(charge, g.T @ (v * (widths + rise * (x > 0))), rtol=1e-3)


@pytest.mark.ngspice
@pytest.mark.parametrize("state", specs.CELL_STATES)
def test_memristor_array_op_keeps_the_programmed_conductances(ngspice: NgspiceSession,
                                                              state: str) -> None:
    """At the read voltage the sinh I-V is the chord conductance: an ideal array gives G^T V
    for inputs at full scale (the full-scale voltage is the model's read voltage)."""
    spec = make_spec(4, 4, cell="memristor", state=state)
    assert spec.cell.memristor.v_read_v == spec.driver.v_full_v
    tile = random_tile(spec, seed=5)
    full = specs.Tile(spec, tile.g_s, np.ones(spec.rows))
    vectors = ngspice.run(build_array(full, Op()))
    np.testing.assert_allclose(column_currents(vectors, full)[:, 0],
                               full.g_s.T @ full.v_in, rtol=1e-9)
