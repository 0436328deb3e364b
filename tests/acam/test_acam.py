"""The 6T2M analog CAM: cell file, netlists, programming by the measured transfer curve, and in
real ngspice the sensed bounds of programmed cells, a 4-bit ADC-free converter, and the search
latency and energy of 64- and 256-cell rows.

The ngspice tests use the linear-resistor memristors (``device="linear"``: fast, no state) except
:func:`test_memristor_cell_senses_its_programmed_bounds`, which uses the HfOx memristor
subcircuit. Figures are printed (``pytest -s``) as well as asserted.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from spicecim.acam import converter, search, transfer
from spicecim.acam.netlist import (
    AcamArray,
    SearchData,
    acam_cell,
    build_gate_sweep,
    build_search,
    build_transfer,
)
from spicecim.cli import cli
from spicecim.errors import SpecError
from spicecim.sim.executors import local_executor
from spicecim.sim.ngspice import NgspiceSession

CELL = acam_cell()


@pytest.fixture(scope="module")
def ngspice() -> NgspiceSession:
    return NgspiceSession()


# --- cell file and netlists (no simulator) ------------------------------------------------------


def test_cell_file_cites_its_sources_and_operating_point() -> None:
    assert "Analog content-addressable memories with memristors" in CELL.source
    assert "Nat. Commun. 11, 1638" in CELL.source
    assert (CELL.vdd_v, CELL.vsl_v, CELL.vpre_v, CELL.vsense_v) == (1.0, 1.0, 1.0, 0.5)
    assert (CELL.g_min_s, CELL.g_max_s, CELL.t_eval_s) == (5e-6, 225e-6, 1e-9)
    models = CELL.models_text()
    assert ".model nmos_access nmos" in models and ".model pmos_acam pmos" in models
    assert ".subckt acam_6t2m dl ml_lo ml_hi mlo mhi vdd" in models
    assert "hfox_stanford_v1" in acam_cell(device="memristor").models_text()


@pytest.mark.parametrize("overrides, field", [
    ({"device": "diode"}, "device"),
    ({"vsense_v": 1.5}, "vsense_v"),
    ({"g_max_s": 1e-6}, "g_max_s"),
    ({"t_eval_s": 0.0}, "t_eval_s"),
])
def test_bad_cell_values_name_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(SpecError, match=field):
        acam_cell(**overrides)


def test_memristor_cell_needs_a_range_the_model_reaches() -> None:
    with pytest.raises(SpecError, match="conductance range"):
        acam_cell(device="memristor", g_max_s=5e-3)


@pytest.mark.parametrize("rows, cells, field", [(1, 0, "cells"), (0, 4, "rows"), (2, 1.5, "cells")])
def test_empty_arrays_are_one_line_errors(rows: int, cells: int, field: str) -> None:
    with pytest.raises(SpecError, match=f"^{field}=") as info:
        AcamArray(rows, cells, CELL)
    assert "\n" not in str(info.value)


def _data(rows: int = 2, cells: int = 3, inputs: int = 2, cell=CELL) -> SearchData:  # noqa: ANN001
    rng = np.random.default_rng(1)
    g = rng.uniform(cell.g_min_s, cell.g_max_s, size=(2, rows, cells))
    dl = rng.uniform(0.5, 0.9, size=(inputs, cells))
    return SearchData(AcamArray(rows, cells, cell), g[0], g[1], dl)


def test_search_netlist_is_deterministic_and_complete() -> None:
    data = _data()
    text = build_search(data)
    assert text == build_search(_data())
    assert text.splitlines()[1] == f"* array {data.array.digest()} data {data.digest()}"
    assert sum(ln.startswith("Xc") for ln in text.splitlines()) == 2 * 2 * 3
    assert sum(ln.startswith("Mpc") for ln in text.splitlines()) == 2 * 2
    assert ".ic v(ml0_0)=1.0" in text and "i(vsl1)" in text
    memristive = build_search(_data(cell=acam_cell(device="memristor")))
    devices = [ln for ln in memristive.splitlines() if ln.startswith(("Xlo", "Xhi"))]
    assert len(devices) == 2 * 2 * 2 * 3 and all(" gap0=" in ln for ln in devices)


@pytest.mark.parametrize("change, field", [
    ({"g_lo_s": np.full((2, 3), 1e-3)}, "g_lo_s"),
    ({"g_hi_s": np.full((3, 2), 1e-5)}, "g_hi_s.shape"),
    ({"dl_v": np.full((1, 3), 1.5)}, "dl_v"),
    ({"dl_v": np.full((1, 2), 0.6)}, "dl_v.shape"),
])
def test_search_data_is_checked(change: dict, field: str) -> None:
    base = _data()
    kwargs = {"array": base.array, "g_lo_s": base.g_lo_s, "g_hi_s": base.g_hi_s, "dl_v": base.dl_v}
    with pytest.raises(SpecError, match=field):
        SearchData(**{**kwargs, **change})


def test_transfer_netlists() -> None:
    g = transfer.transfer_grid(CELL, 8)
    text = build_transfer(CELL, g, 1e-3)
    assert text == build_transfer(CELL, g, 1e-3)
    assert ".dc Vdl 0 1.0 0.001" in text
    assert sum(ln.startswith("Xc") and ln.endswith(" acam_6t2m") for ln in text.splitlines()) == 8
    assert ".dc Vg 0 1.0 1e-05" in build_gate_sweep(CELL, 1e-5)
    with pytest.raises(SpecError, match="dl_step_v"):
        build_transfer(CELL, g, 0.5)


# --- extraction and programming on a synthetic table (no simulator) -----------------------------


@settings(max_examples=50, deadline=None)
@given(x0=st.floats(0.05, 0.95), slope=st.floats(0.1, 10.0))
def test_level_crossing_finds_the_crossing_of_a_line(x0: float, slope: float) -> None:
    x = np.linspace(0.0, 1.0, 101)
    y = np.stack([slope * (x - x0), -slope * (x - x0)])
    rising = transfer.level_crossing(x, y, 0.0, rising=True)
    falling = transfer.level_crossing(x, y, 0.0, rising=False)
    assert rising[0] == pytest.approx(x0, abs=1e-12) and np.isnan(rising[1])
    assert falling[1] == pytest.approx(x0, abs=1e-12) and np.isnan(falling[0])


def test_source_energy_sign_and_size() -> None:
    t = np.linspace(0.0, 1e-9, 11)
    # a 1 V source delivering 1 mA reports -1 mA (its branch current flows into its + terminal)
    assert search.source_energy(t, 1.0, np.full(11, -1e-3)) == pytest.approx(1e-12)


def _synthetic_table() -> transfer.TransferTable:
    """Divider nodes falling linearly with the DL, pull-downs quadratic above/below 0.5 V: the
    bound of conductance g is then (1 - trip node) * (1 + 4000 g) volts, exactly."""
    g = transfer.transfer_grid(CELL)
    dl = np.linspace(0.0, 1.0, 1001)
    nodes = 1.0 - dl[None, :] / (1.0 + 4000.0 * g[:, None])
    gate = np.linspace(0.0, 1.0, 100001)
    return transfer.TransferTable(CELL, g, dl, nodes, nodes, gate,
                              np.maximum(gate - 0.5, 0.0) ** 2, np.maximum(0.5 - gate, 0.0) ** 2)


PROG = search.Programmer(_synthetic_table(), AcamArray(1, 1, CELL))


@settings(max_examples=60, deadline=None)
@given(u=st.floats(0.0, 1.0), w=st.floats(0.01, 1.0))
def test_programming_inverts_the_transfer_curve(u: float, w: float) -> None:
    win = PROG.window
    lo = win.lo_min_v + u * (win.lo_max_v - win.lo_min_v) * 0.99
    start = max(lo, win.hi_min_v)
    hi = start + w * (win.hi_max_v - start)
    g_lo, g_hi = PROG.conductances(lo, hi)
    node_lo, node_hi = PROG.table.trip_nodes(PROG.array.i_trip_a)
    assert (1 - node_lo) * (1 + 4000 * g_lo) == pytest.approx(lo, abs=2e-5)
    assert (1 - node_hi) * (1 + 4000 * g_hi) == pytest.approx(hi, abs=2e-5)


@pytest.mark.parametrize("lo, hi, message", [
    (0.7, 0.6, "low < high"),
    (0.7, 0.7, "non-empty"),
    (np.nan, 0.7, "non-empty"),
    (0.1, 0.7, "lower bound 0.1 V is outside"),
    (0.6, 5.0, "upper bound 5 V is outside"),
])
def test_bad_intervals_are_one_line_errors(lo: float, hi: float, message: str) -> None:
    with pytest.raises(SpecError, match=message) as info:
        PROG.conductances(lo, hi)
    assert "\n" not in str(info.value)


def test_open_bounds_program_the_extreme_conductances() -> None:
    g_lo, g_hi = PROG.conductances(-np.inf, np.inf)
    assert (g_lo, g_hi) == (pytest.approx(CELL.g_min_s), pytest.approx(CELL.g_max_s))


# --- function maps (no simulator) ---------------------------------------------------------------


def test_identity_map_is_an_ideal_converter() -> None:
    m = converter.function_map("identity", 4, 0.0, 1.6)
    assert m.rows == 16 and list(m.code) == list(range(16))
    assert np.allclose(m.edges, 0.1 * np.arange(1, 16), atol=1e-12)
    x = np.random.default_rng(2).uniform(-0.2, 1.8, 1000)
    assert np.array_equal(m.ideal_code(x), np.clip(np.floor(x / 0.1), 0, 15).astype(int))


@pytest.mark.parametrize("name, x_range", [
    ("relu", (-1.0, 1.0)), ("sigmoid", (-6.0, 6.0)), ("softplus", (-4.0, 4.0)),
    ("exp", (-3.0, 1.0)),
])
def test_function_maps_quantise_the_function(name: str, x_range: tuple[float, float]) -> None:
    m = converter.function_map(name, 4, *x_range)
    f = converter.FUNCTIONS[name]
    assert list(m.code) == list(range(16))  # monotone functions: one row per code
    x = np.random.default_rng(3).uniform(*x_range, 2000)
    near_edge = np.min(np.abs(x[:, None] - m.edges[None, :]), axis=1) < 1e-9
    step = (m.y_max - m.y_min) / 16
    ideal = np.clip(np.floor((f(x) - m.y_min) / step), 0, 15)
    assert np.array_equal(m.ideal_code(x)[~near_edge], ideal[~near_edge])
    assert np.all(np.abs(f(0.5 * (m.x_lo + m.x_hi)) - m.value(m.code)) <= step / 2 + 1e-12)


@pytest.mark.parametrize("args, field", [
    (("relu", 0, -1.0, 1.0), "bits"),
    (("relu", 9, -1.0, 1.0), "bits"),
    (("relu", 2.5, -1.0, 1.0), "bits"),
    (("relu", 4, 1.0, 1.0), "input range"),
    (("tanh", 4, -1.0, 1.0), "function"),
    ((lambda x: 0 * x, 4, -1.0, 1.0), "constant"),
])
def test_bad_function_maps_are_one_line_errors(args: tuple, field: str) -> None:
    with pytest.raises(SpecError, match=field) as info:
        converter.function_map(*args)
    assert "\n" not in str(info.value)


# --- real ngspice -------------------------------------------------------------------------------


@pytest.mark.ngspice
def test_measured_bounds_rise_with_conductance(ngspice: NgspiceSession) -> None:
    prog = search.programmer(AcamArray(1, 1, CELL), session=ngspice)
    assert np.all(np.diff(prog.lo_v) > 0) and np.all(np.diff(prog.hi_v) > 0)
    w = prog.window
    print(f"\nwindow: lower {w.lo_min_v:.4f}..{w.lo_max_v:.4f} V, upper "
          f"{w.hi_min_v:.4f}..{w.hi_max_v:.4f} V")
    assert 0.5 < w.lo_min_v < w.lo_max_v < CELL.vdd_v and 0.5 < w.hi_min_v < w.hi_max_v < CELL.vdd_v
    # a longer match line needs more pull-down current in the same time: the lower bound moves
    longer = search.programmer(AcamArray(1, 64, CELL), session=ngspice)
    assert longer.window.lo_max_v < w.lo_max_v - 5e-3


INTERVALS = [(0.54, 0.56), (0.55, 0.80), (0.60, 0.65), (0.70, 0.72), (0.75, 0.85)]


@pytest.mark.ngspice
def test_programmed_cells_sense_their_bounds(ngspice: NgspiceSession) -> None:
    prog = search.programmer(AcamArray(1, 1, CELL), session=ngspice)
    print("\ninterval (V)      lower error (mV)  upper error (mV)")
    errors = []
    for lo, hi in INTERVALS:
        # 0.5 mV either side of each bound at 0.02 mV steps: 25 points on each side of it (a
        # bound sensed outside the span is NaN, a failure)
        result, (m_lo, m_hi) = search.sweep_interval(prog, lo, hi, span_v=0.5e-3, step_v=2e-5,
                                                   session=ngspice)
        dl = result.data.dl_v[:, 0]
        match = result.match[:, 0]
        # far below, inside, far above
        assert list(match[-3:]) == [False, True, False]
        # every swept point more than one step from a bound reads as its side of it
        clear = (np.abs(dl - lo) > 2e-5) & (np.abs(dl - hi) > 2e-5)
        assert np.array_equal(match[clear], ((dl > lo) & (dl < hi))[clear])
        errors += [m_lo - lo, m_hi - hi]
        print(f"[{lo:.2f}, {hi:.2f}]      {(m_lo - lo) * 1e3:+.4f}           "
              f"{(m_hi - hi) * 1e3:+.4f}")
    # the sweep step is 0.02 mV; the sensed bounds agree with the targets to within it
    assert np.max(np.abs(errors)) < 0.03e-3


@pytest.mark.ngspice
def test_memristor_cell_senses_its_programmed_bounds(ngspice: NgspiceSession) -> None:
    cell = acam_cell(device="memristor")
    prog = search.programmer(AcamArray(1, 1, cell), session=ngspice)
    lo, hi = 0.62, 0.74
    # 0.25 mV either side of each bound, eight times the tolerance (a bound outside is NaN, a
    # failure): one netlist of 55 searches, 2 s; +-1 mV (205 searches, two netlists) took 11 s,
    # the HfOx subcircuits making ngspice's set-up grow faster than the number of searches.
    result, (m_lo, m_hi) = search.sweep_interval(prog, lo, hi, span_v=0.25e-3, step_v=2e-5,
                                               session=ngspice)
    w = prog.window
    print(f"\nmemristor cell: lower {w.lo_min_v:.4f}..{w.lo_max_v:.4f} V, upper "
          f"{w.hi_min_v:.4f}..{w.hi_max_v:.4f} V, usable G up to {prog.g_s[-1] * 1e6:.1f} uS; "
          f"[{lo}, {hi}] V sensed with errors {(m_lo - lo) * 1e3:+.4f} / "
          f"{(m_hi - hi) * 1e3:+.4f} mV")
    assert list(result.match[-3:, 0]) == [False, True, False]
    assert abs(m_lo - lo) < 0.03e-3 and abs(m_hi - hi) < 0.03e-3


@pytest.mark.ngspice
def test_four_bit_converter_reads_a_sweep(ngspice: NgspiceSession) -> None:
    program = converter.converter(4, session=ngspice)
    assert program.prog.array.rows == 16
    v = np.linspace(program.v_min_v - 4e-3, program.v_max_v + 4e-3, 201)
    codes = converter.convert(program, v, session=ngspice)
    lsb = (program.v_max_v - program.v_min_v) / 16
    ideal = np.clip(np.floor((v - program.v_min_v) / lsb), 0, 15).astype(int)
    edges = program.v_min_v + lsb * np.arange(1, 16)
    away = np.min(np.abs(v[:, None] - edges[None, :]), axis=1) > 1e-3
    accuracy = float(np.mean(codes[away] == ideal[away]))
    print(f"\n4-bit ACAM converter over {program.v_min_v:.4f}..{program.v_max_v:.4f} V: "
          f"{accuracy:.2%} of {away.sum()} points beyond 1 mV of an edge read the ideal code, "
          f"{np.mean(codes == ideal):.2%} of all {v.size}")
    assert accuracy >= 0.99


@pytest.mark.ngspice
def test_converter_figures_for_the_evaluator(ngspice: NgspiceSession) -> None:
    fig = converter.converter_figures(4, session=ngspice)
    print(f"\n4-bit converter: latency {fig.latency_s * 1e12:.0f} ps (slowest mismatch "
          f"{fig.t_cross_s * 1e12:.1f} ps), {fig.energy_j * 1e12:.3f} pJ per conversion")
    assert fig.edges_v.size == 15 and np.all(np.diff(fig.edges_v) > 0)
    assert 0 < fig.t_cross_s < fig.latency_s == CELL.t_eval_s
    assert fig.energy_j > fig.energy_divider_j > 0 and fig.energy_precharge_j > 0
    assert list(fig.code(0.5 * (fig.edges_v[:-1] + fig.edges_v[1:]))) == list(range(1, 15))


@pytest.mark.ngspice
def test_sigmoid_rows_read_their_codes(ngspice: NgspiceSession) -> None:
    fmap = converter.function_map("sigmoid", 3, -6.0, 6.0)
    program = converter.program_function(fmap, session=ngspice)
    centres = 0.5 * (fmap.x_lo + fmap.x_hi)
    assert list(converter.convert(program, centres, session=ngspice)) == list(fmap.code)


@pytest.mark.ngspice
def test_search_latency_and_energy_grow_with_row_length(ngspice: NgspiceSession) -> None:
    times = (0.5e-9, 1e-9, 2e-9, 4e-9)
    reports = {n: search.shortest_sense_time(AcamArray(2, n, CELL), candidates_s=times,
                                           session=ngspice) for n in (64, 256)}
    for n, r in reports.items():
        print(f"\n{n} cells per row: shortest working sense time {r.array.cell.t_eval_s * 1e9:.1f} "
              f"ns, latency {r.latency_s * 1e12:.1f} ps, energy per search "
              f"{r.energy_j / r.array.rows * 1e12:.3f} pJ per row "
              f"({r.energy_j / (r.array.rows * n) * 1e15:.1f} fJ per cell)")
        assert r.ok and 0 < r.latency_s < r.array.cell.t_eval_s
    assert reports[64].array.cell.t_eval_s < reports[256].array.cell.t_eval_s
    assert reports[256].latency_s > 1.5 * reports[64].latency_s
    assert reports[256].energy_j > 4 * reports[64].energy_j
    # at the cell file's 1 ns, 256 matching cells leak enough to pull their own row down
    too_fast = search.simulate_search(AcamArray(2, 256, CELL), session=ngspice)
    assert not too_fast.ok and "matching cells" in too_fast.problem


@pytest.mark.ngspice
def test_searches_on_a_process_pool_match_the_serial_ones(ngspice: NgspiceSession) -> None:
    prog = search.programmer(AcamArray(3, 1, CELL), session=ngspice)
    g_lo, g_hi = prog.conductances(np.array([0.55, 0.6, 0.7]), np.array([0.6, 0.7, 0.8]))
    dl = np.linspace(0.5, 0.85, 150)[:, None]
    data = SearchData(prog.array, g_lo[:, None], g_hi[:, None], dl)
    serial = search.run_search(data, session=ngspice)
    with local_executor(2) as pool:
        pooled = search.run_search(data, executor=pool)
    assert np.allclose(serial.v_ml_v, pooled.v_ml_v)
    assert np.allclose(serial.energy_j, pooled.energy_j)


# --- command line ------------------------------------------------------------------------------


@pytest.mark.ngspice
def test_cli_simulate_writes_a_run_file(tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "search.h5"
    result = CliRunner().invoke(cli, ["acam", "simulate", "--cells", "8", "--rows", "2", "--out",
                                      str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["ok"] and summary["latency_s"] > 0
    table = search.read_search(out)
    assert list(table["case"]) == ["match", "lower", "upper"]
    assert os.listdir(tmp_path) == ["search.h5"]  # the kept netlists are in the run file now
    assert table.units["latency_s"] == "s" and table.units["energy_j"] == "J"
    energies = [summary["cases"][c]["energy_j"] for c in search.SEARCH_CASES]
    assert np.allclose(table["energy_j"], energies)


@pytest.mark.ngspice
def test_cli_transfer_and_function() -> None:
    result = CliRunner().invoke(cli, ["acam", "transfer", "--check", "0.6:0.7", "--json"])
    assert result.exit_code == 0, result.output
    check = json.loads(result.output)["checks"][0]
    assert check["match_inside"] and check["mismatch_outside"]
    assert max(abs(e) for e in check["error_mv"]) < 0.03
    result = CliRunner().invoke(cli, ["acam", "function", "--name", "relu", "--bits", "3",
                                      "--x-min", "-1", "--x-max", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert [r["code"] for r in json.loads(result.output)["rows"]] == list(range(8))


@pytest.mark.parametrize("args, message", [
    (["simulate", "--cells", "0"], "0 is not in the range x>=1"),
    (["transfer", "--check", "0.7:0.6"], "low < high"),
    (["transfer", "--check", "0.7"], "LOW:HIGH"),
    (["transfer", "--check", "0.6:inf"], "LOW:HIGH"),
    (["function", "--bits", "9"], "9 is not in the range 1<=x<=8"),
    (["function", "--x-max", "nan"], "nan is not a finite number"),
])
def test_cli_bad_input_is_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["acam", *args])
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0]
