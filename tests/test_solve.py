"""The fast nodal solver against ngspice on the generated full-array netlist, and against
Kirchhoff, Rayleigh and the ideal crossbar. Run with ``pytest -s`` to see agreement figures."""

from __future__ import annotations

import dataclasses
import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spicecim import devices
from spicecim.cli.solve import solve_cmd
from spicecim.devices import Readout
from spicecim.errors import SpecError
from spicecim.netlist.crossbar import Op, build_array, build_column
from spicecim.netlist.spec import DEFAULT_READOUT, Tile, WireParams, default_spec
from spicecim.sim.ngspice import NgspiceSession
from spicecim.solve import (
    Solution,
    drive_voltages,
    row_drive,
    row_drives,
    solve,
    solve_batch,
    solve_nodal,
    termination_ohm,
    transfer_matrix,
)

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _tile(rows: int, cols: int, *, cell: str = "linear", access: bool = False,
          style: str = "sense", r_wire: float | None = None, r_out: float | None = None,
          r_sense: float | None = None, seed: int = 0) -> Tile:
    spec = default_spec(rows, cols, cell=cell, access=access)
    wire = spec.wire if r_wire is None else WireParams(r_wire, 0.0, r_wire, 0.0)
    driver = spec.driver if r_out is None else dataclasses.replace(spec.driver, r_out_ohm=r_out)
    spec = dataclasses.replace(spec, wire=wire, driver=driver,
                               readout=readout_of(style, r_sense or 1.0))
    rng = np.random.default_rng(seed)
    mem = spec.cell.memristor
    return Tile(spec, rng.uniform(mem.g_off_s, mem.g_on_s, (rows, cols)), rng.uniform(0, 1, rows))


def readout_of(style: str, r_ohm: float) -> Readout:
    """``sense``: a passive sense resistor of ``r_ohm``; ``virtual_ground``: a TIA whose
    feedback resistor ``r_ohm`` keeps its output far inside the amplifier's linear range, on
    the one-pole amplifier (virtual ground ``r_f / (1 + a0)``); ``two_stage``: the same on the
    default two-stage amplifier, whose output resistance adds ``r_out / (1 + a0)``."""
    if style == "sense":
        return dataclasses.replace(DEFAULT_READOUT, front_end="passive", r_sense_ohm=r_ohm)
    return dataclasses.replace(DEFAULT_READOUT, front_end="tia", r_f_ohm=r_ohm,
                               opamp=devices.opamp("opamp_2s" if style == "two_stage"
                                                   else "opamp_1p"))


def _ngspice(netlist: str, tile: Tile, columns: range) -> np.ndarray:
    """Column currents from an operating point: through the sense resistor, or the feedback
    resistor from the column end to the amplifier's output."""
    vectors = NgspiceSession().run(netlist)
    sized = tile.readout
    if sized.r_sense_ohm is not None:
        return np.array([vectors[f"b{j}"][0] for j in columns]) / sized.r_sense_ohm
    assert sized.r_f_ohm is not None
    return np.array([vectors[f"b{j}"][0] - vectors[f"f{j}"][0] for j in columns]) / sized.r_f_ohm


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


# --- against ngspice -----------------------------------------------------------------------

# 64x64 (ngspice's .op of the full array takes tens of seconds) is make test-heavy's: 8 and 32
# keep the same agreement bounds in make test.
SIZES = [8, 32, pytest.param(64, marks=[pytest.mark.slow, pytest.mark.heavy])]


@pytest.mark.ngspice
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("style", ["sense", "virtual_ground", "two_stage"])
def test_linear_cells_match_ngspice_op(n: int, style: str) -> None:
    tile = _tile(n, n, style=style, seed=n)
    reference = _ngspice(build_array(tile, Op()), tile, range(n))
    sol = solve(tile)
    batch = solve_batch(tile.spec, tile.g_s, tile.x_in[None])[0]
    print(f"\n{n}x{n} linear {style}: solve {_rel(sol.column_current_a, reference):.1e}, "
          f"batch {_rel(batch, reference):.1e}")
    assert _rel(sol.column_current_a, reference) <= 1e-6
    assert _rel(batch, reference) <= 1e-6
    assert sol.iterations == 1


@pytest.mark.ngspice
@pytest.mark.parametrize("n", SIZES)
def test_memristor_cells_match_ngspice_op(n: int) -> None:
    tile = _tile(n, n, cell="memristor", seed=n)
    reference = _ngspice(build_array(tile, Op()), tile, range(n))
    sol = solve(tile)
    print(f"\n{n}x{n} memristor: {_rel(sol.column_current_a, reference):.1e} "
          f"after {sol.iterations} solves")
    assert _rel(sol.column_current_a, reference) <= 1e-4
    # the sinh I-V matters here: the chord-conductance (linear) answer is measurably off
    chord = dataclasses.replace(tile.spec, cell=dataclasses.replace(tile.spec.cell, kind="linear"))
    linear = solve_batch(chord, tile.g_s, tile.x_in)
    assert _rel(linear, reference) > 1e-3


@pytest.mark.ngspice
@pytest.mark.parametrize("cell", ["linear", "memristor"])
def test_1t1r_cells_match_ngspice_op(cell: str) -> None:
    tile = _tile(8, 8, cell=cell, access=True, seed=3)
    reference = _ngspice(build_array(tile, Op()), tile, range(8))
    sol = solve(tile)
    print(f"\n8x8 1T1R {cell}: {_rel(sol.column_current_a, reference):.1e}")
    assert _rel(sol.column_current_a, reference) <= 1e-4


@pytest.mark.ngspice
def test_two_stage_virtual_ground_against_an_independent_deck() -> None:
    """One cell between wires into the two-stage TIA, written here as its DC equivalent: the
    amplifier a VCVS of gain -a0 behind its output resistance, the feedback resistor back to
    the column end; the solver's column current and the closed form agree with ngspice's."""
    tile = _tile(1, 1, style="two_stage", r_wire=5.0, r_out=20.0)
    amp, r_f = tile.readout.readout.opamp, tile.readout.r_f_ohm
    assert r_f is not None and amp.r_out_ohm is not None and amp.r_out_ohm > 0
    g, v = float(tile.g_s[0, 0]), float(tile.v_in[0])
    deck = "\n".join([
        "* one cell into a two-stage TIA at DC", f"V1 in 0 {v!r}", "Rdrv in a 20.0",
        "Rrow a b 5.0", f"Rcell b c {1 / g!r}", "Rcol c n 5.0",
        f"E1 o 0 n 0 {-amp.a0!r}", f"Rout o out {amp.r_out_ohm!r}", f"Rf out n {r_f!r}",
        ".op", ".end"])
    vectors = NgspiceSession().run(deck)
    reference = (vectors["n"][0] - vectors["out"][0]) / r_f
    z_in = (r_f + amp.r_out_ohm) / (1 + amp.a0)
    assert termination_ohm(tile.spec, tile.g_s) == pytest.approx(z_in, rel=1e-12)
    closed = v / (20.0 + 5.0 + 1 / g + 5.0 + z_in)
    assert closed == pytest.approx(reference, rel=1e-9)
    assert solve(tile).column_current_a[0] == pytest.approx(reference, rel=1e-9)


@pytest.mark.ngspice
def test_node_voltages_are_ngspices_ir_drop_map() -> None:
    tile = _tile(8, 6, cell="memristor", seed=11)
    vectors = NgspiceSession().run(build_array(tile, Op()))
    sol = solve(tile, nodes=True)
    v_row = np.array([[vectors[f"r{i}_{j}"][0] for j in range(6)] for i in range(8)])
    v_col = np.array([[vectors[f"c{i}_{j}"][0] for j in range(6)] for i in range(8)])
    assert np.max(np.abs(sol.v_row_v - v_row)) <= 1e-9
    assert np.max(np.abs(sol.v_col_v - v_col)) <= 1e-9


@pytest.mark.ngspice
@pytest.mark.parametrize("cell", ["linear", "memristor"])
def test_row_drive_makes_one_column_netlist_reproduce_the_array(cell: str) -> None:
    """The Thevenin rows carry the IR drop of every other column into a column netlist."""
    tile = _tile(8, 8, cell=cell, r_wire=20.0, seed=5)
    sol = solve(tile, nodes=True)
    drives = row_drives(tile)
    for j in (0, 5, 7):
        column = _ngspice(build_column(tile, j, Op(), drives[j]), tile, range(j, j + 1))
        assert _rel(column, sol.column_current_a[j : j + 1]) <= 1e-6
        np.testing.assert_array_equal(drives[j].v_th_v, row_drive(sol, j).v_th_v)
    isolated = _ngspice(build_column(tile, 7, Op()), tile, range(7, 8))
    assert _rel(isolated, sol.column_current_a[7:]) > 1e-3  # the coupling is not negligible


# --- physics without SPICE -----------------------------------------------------------------


@st.composite
def tiles(draw: st.DrawFn, access: bool = True) -> Tile:
    resistance = st.sampled_from([0.0, 0.05, 2.5, 40.0])
    return _tile(
        draw(st.integers(1, 6)), draw(st.integers(1, 6)),
        cell=draw(st.sampled_from(["linear", "memristor"])),
        access=access and draw(st.booleans()),
        style=draw(st.sampled_from(["sense", "virtual_ground"])),
        r_wire=draw(resistance), r_out=draw(st.sampled_from([0.0, 10.0, 1000.0])),
        r_sense=draw(st.sampled_from([1.0, 50.0, 2000.0])),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def _kirchhoff_errors(tile: Tile, sol: Solution) -> tuple[np.ndarray, np.ndarray]:
    """Each wire segment's Ohm's-law error (V), its current taken from KCL at the nodes beyond
    it: a row segment carries every cell current further along the row, a column segment every
    cell current above it."""
    spec, i_cell = tile.spec, sol.cell_current_a
    r_row = np.full(spec.cols, spec.wire.r_row_ohm)
    r_row[0] += spec.driver.r_out_ohm
    upstream = np.concatenate([tile.v_in[:, None], sol.v_row_v[:, :-1]], axis=1)
    row = upstream - sol.v_row_v - np.cumsum(i_cell[:, ::-1], axis=1)[:, ::-1] * r_row
    bottom = sol.column_current_a * termination_ohm(spec, tile.g_s)
    downstream = np.concatenate([sol.v_col_v[1:], bottom[None]], axis=0)
    col = sol.v_col_v - downstream - np.cumsum(i_cell, axis=0) * spec.wire.r_col_ohm
    return row, col


@SETTINGS
@given(tiles())
def test_kirchhoff_holds_at_every_node(tile: Tile) -> None:
    sol = solve(tile, nodes=True)
    row, col = _kirchhoff_errors(tile, sol)
    scale = max(float(np.max(np.abs(sol.cell_current_a))), 1e-30)
    # Rounding of the largest voltages: 1e-10 of full scale (errors seen reach ~1e-11 of it).
    tol_v = 1e-10 * tile.spec.driver.v_full_v
    assert np.max(np.abs(row)) <= tol_v and np.max(np.abs(col)) <= tol_v
    assert sol.residual_a <= 1e-9 * scale
    np.testing.assert_allclose(sol.column_current_a, sol.cell_current_a.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sol.output_v, sol.column_current_a * tile.readout.gain_ohm,
                               rtol=1e-15)
    if tile.spec.cell.access is None:  # the cell law across each cell's two nodes
        cell, v = tile.spec.cell, sol.v_row_v - sol.v_col_v
        law = (tile.g_s * v if cell.kind == "linear" else cell.memristor.current(v, tile.g_s))
        assert np.max(np.abs(sol.cell_current_a - law)) <= 1e-10 * scale


@SETTINGS
@given(tiles())
def test_line_solver_agrees_with_the_nodal_network(tile: Tile) -> None:
    """The two-layer line solver (every tile with resistive wires) and Newton-Krylov on the
    whole nodal network find the same operating point."""
    _same_operating_point(solve(tile, nodes=True), solve_nodal(tile, nodes=True))


@pytest.mark.parametrize(("n", "cell", "access"), [(64, "memristor", True), (48, "linear", False)])
def test_line_solver_agrees_on_default_tiles(n: int, cell: str, access: bool) -> None:
    spec = default_spec(n, n, cell=cell, access=access)
    rng = np.random.default_rng(n)
    tile = Tile(spec, rng.uniform(1e-6, 40e-6, (n, n)), rng.uniform(0, 1, n))
    _same_operating_point(solve(tile, nodes=True), solve_nodal(tile, nodes=True))


def _same_operating_point(a: Solution, b: Solution) -> None:
    scale = max(float(np.max(np.abs(b.cell_current_a))), 1e-30)
    assert np.max(np.abs(a.cell_current_a - b.cell_current_a)) <= 1e-9 * scale
    tol_v = 1e-10 * a.spec.driver.v_full_v
    assert np.max(np.abs(a.v_row_v - b.v_row_v)) <= tol_v
    assert np.max(np.abs(a.v_col_v - b.v_col_v)) <= tol_v


@SETTINGS
@given(tiles(access=False))
def test_column_currents_fall_as_wire_resistance_rises(tile: Tile) -> None:
    """Ideal drivers and virtual-ground readout: each column current falls as the row and column
    wires get more resistive. With a driver resistance a column can gain (the others draw less
    through the shared driver), but with one drive level the total current must fall
    (Rayleigh: every resistance rising raises the network's resistance)."""
    spec = tile.spec
    ideal = dataclasses.replace(spec, driver=dataclasses.replace(spec.driver, r_out_ohm=0.0),
                                readout=dataclasses.replace(DEFAULT_READOUT,
                                                            front_end="integrator"))
    one_level = np.full(spec.rows, tile.x_in[0])
    previous = previous_total = None
    for r in (0.0, 0.5, 5.0, 50.0):
        wire = WireParams(r, 0.0, r, 0.0)
        column = solve(Tile(dataclasses.replace(ideal, wire=wire), tile.g_s, tile.x_in))
        total = solve(Tile(dataclasses.replace(spec, wire=wire), tile.g_s, one_level))
        total_a = float(total.column_current_a.sum())
        if previous is not None:
            assert np.all(column.column_current_a <= previous * (1 + 1e-12))
            assert total_a <= previous_total * (1 + 1e-12)
        previous, previous_total = column.column_current_a, total_a


@SETTINGS
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_no_wire_no_driver_virtual_ground_is_exactly_g_transpose_v(rows: int, cols: int,
                                                                  seed: int) -> None:
    tile = _tile(rows, cols, r_wire=0.0, r_out=0.0, style="virtual_ground", seed=seed)
    tile = Tile(dataclasses.replace(tile.spec, readout=dataclasses.replace(
        DEFAULT_READOUT, front_end="integrator")), tile.g_s, tile.x_in)
    ideal = tile.g_s.T @ tile.v_in
    np.testing.assert_allclose(solve(tile).column_current_a, ideal, rtol=1e-12, atol=0)
    np.testing.assert_allclose(transfer_matrix(tile.spec, tile.g_s), tile.g_s, rtol=1e-12, atol=0)
    np.testing.assert_allclose(solve_batch(tile.spec, tile.g_s, tile.x_in), ideal, rtol=1e-12)


@SETTINGS
@given(tiles(access=False), st.sampled_from(["amplitude", "pulse_width"]))
def test_batch_equals_one_solve_per_input(tile: Tile, encoding: str) -> None:
    spec = dataclasses.replace(tile.spec, cell=dataclasses.replace(tile.spec.cell, kind="linear"),
                               driver=dataclasses.replace(tile.spec.driver, encoding=encoding))
    x = np.random.default_rng(0).uniform(0, 1, (3, spec.rows)) * [[1], [0], [1]]
    batch = solve_batch(spec, tile.g_s, x)
    for k in range(3):
        one = Tile(spec, tile.g_s, x[k])
        np.testing.assert_array_equal(drive_voltages(spec.driver, x[k]), one.v_in)
        np.testing.assert_allclose(batch[k], solve(one).column_current_a, rtol=1e-9, atol=1e-18)


def test_batch_of_nonlinear_cells_solves_each_input() -> None:
    tile = _tile(5, 4, cell="memristor", seed=2)
    x = np.stack([tile.x_in, tile.x_in[::-1]])
    batch = solve_batch(tile.spec, tile.g_s, x)
    np.testing.assert_array_equal(batch[1], solve(Tile(tile.spec, tile.g_s, x[1])).column_current_a)


def test_large_array_engines_agree() -> None:
    tile = _tile(128, 96, r_wire=5.0, seed=7)
    matrix = transfer_matrix(tile.spec, tile.g_s)
    assert _rel(solve(tile).column_current_a, tile.v_in @ matrix) <= 1e-9


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("g", "x", "words"),
    [
        (np.full((3, 2), 1e-5), np.full((2, 4), 0.5), "inputs.shape"),
        (np.full((3, 2), 1e-5), np.full(3, np.nan), "inputs='non-finite'"),
        (np.full((3, 2), 1e-5), np.full(3, 1.5), "values in [0, 1]"),
        (np.full((3, 2), -1e-5), np.full(3, 0.5), "values > 0 S"),
        (np.full((2, 3), 1e-5), np.full(3, 0.5), "conductances.shape"),
        (np.full((3, 2), np.inf), np.full(3, 0.5), "conductances='non-finite'"),
    ],
)
def test_bad_batch_input_is_refused_in_one_line(g: np.ndarray, x: np.ndarray, words: str) -> None:
    spec = default_spec(3, 2, cell="linear")
    with pytest.raises(SpecError) as err:
        solve_batch(spec, g, x)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_row_drive_needs_node_voltages() -> None:
    tile = _tile(3, 3)
    with pytest.raises(SpecError, match="nodes=True"):
        row_drive(solve(tile), 0)
    with pytest.raises(SpecError, match="column=3"):
        row_drive(tile, 3)


# --- the command ---------------------------------------------------------------------------


def test_solve_command_writes_currents_with_units(tmp_path) -> None:  # noqa: ANN001
    x = np.random.default_rng(1).uniform(0, 1, (4, 6))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "deep" / "solve.h5"
    result = CliRunner().invoke(solve_cmd, ["--rows", "6", "--cols", "4", "--cell", "linear",
                                            "--tile-inputs", str(tmp_path / "x.npy"),
                                            "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["batch"] == 4 and summary["out"] == str(out)
    with h5py.File(out) as f:
        current = f["column_current_a"][()]
        assert f["column_current_a"].attrs["units"] == "A"
        assert f["output_v"].attrs["units"] == "V"
        spec = json.loads(f.attrs["spec"])
        assert (spec["rows"], spec["cols"]) == (6, 4)
    assert current.shape == (4, 4) and np.all(current > 0)
    assert [p.name for p in out.parent.iterdir()] == ["solve.h5"]  # no temporary left behind


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "does not exist"),
        (np.full(6, np.nan), "non-finite"),
        (np.full((2, 5), 0.5), "inputs.shape"),
        (np.full(6, 2.0), "values in [0, 1]"),
    ],
)
def test_solve_command_refuses_bad_inputs_in_one_line(tmp_path, content, words) -> None:  # noqa: ANN001
    path = tmp_path / "x.npy"
    if content is not None:
        np.save(path, content)
    result = CliRunner().invoke(solve_cmd, ["--rows", "6", "--cols", "4",
                                            "--tile-inputs", str(path),
                                            "--out", str(tmp_path / "o.h5")])
    assert result.exit_code == 2
    assert words in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "o.h5").exists()


def test_solve_command_refuses_negative_conductances(tmp_path) -> None:  # noqa: ANN001
    np.save(tmp_path / "g.npy", np.full((6, 4), -1e-5))
    result = CliRunner().invoke(solve_cmd, ["--rows", "6", "--cols", "4", "--cell", "linear",
                                            "--conductances", str(tmp_path / "g.npy"),
                                            "--out", str(tmp_path / "o.h5")])
    assert result.exit_code == 2
    assert "values > 0 S" in result.output and result.output.count("\n") == 1
