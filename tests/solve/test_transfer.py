"""The column sweep's transfer matrix against a dense nodal solve of a tiny crossbar, written
here from the circuit, and the matrices kept by content (:func:`spicecim.solve.transfer_cache`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from spicecim.netlist import spec as specs
from spicecim.solve import termination_ohm, transfer_cache, transfer_matrix
from spicecim.solve import transfer as transfer_module


def _linear_spec(rows: int, cols: int, r_wire_ohm: float) -> specs.CrossbarSpec:
    spec = specs.default_spec(rows, cols)
    return dataclasses.replace(
        spec, cell=dataclasses.replace(spec.cell, kind="linear", access=None),
        wire=dataclasses.replace(spec.wire, r_row_ohm=r_wire_ohm, r_col_ohm=r_wire_ohm))


def _dense_nodal(spec: specs.CrossbarSpec, g: np.ndarray) -> np.ndarray:
    """Column-end currents per volt on each row, by one dense solve of every node: a row's
    driver (``r_out``) and one wire segment reach its first cell, a segment joins each next
    cell along the row and down the column, and the last cell's node reaches ground through
    a segment and the termination."""
    rows, cols = g.shape
    r_row, r_col = spec.wire.r_row_ohm, spec.wire.r_col_ohm
    g_end = 1.0 / (r_col + termination_ohm(spec, g))
    g_in = 1.0 / (spec.driver.r_out_ohm + r_row)

    def row_node(i: int, j: int) -> int:
        return i * cols + j

    def col_node(i: int, j: int) -> int:
        return rows * cols + i * cols + j

    a = np.zeros((2 * rows * cols, 2 * rows * cols))

    def branch(p: int, q: int | None, conductance: float) -> None:
        a[p, p] += conductance
        if q is not None:
            a[q, q] += conductance
            a[p, q] -= conductance
            a[q, p] -= conductance

    for i in range(rows):
        branch(row_node(i, 0), None, g_in)
        for j in range(cols):
            branch(row_node(i, j), col_node(i, j), g[i, j])
            if j + 1 < cols:
                branch(row_node(i, j), row_node(i, j + 1), 1.0 / r_row)
            if i + 1 < rows:
                branch(col_node(i, j), col_node(i + 1, j), 1.0 / r_col)
    for j in range(cols):
        branch(col_node(rows - 1, j), None, g_end)
    injected = np.zeros((2 * rows * cols, rows))
    for i in range(rows):
        injected[row_node(i, 0), i] = g_in  # 1 V behind the driver, as a Norton source
    v = np.linalg.solve(a, injected)
    return g_end * v[[col_node(rows - 1, j) for j in range(cols)]].T


@pytest.mark.parametrize("r_wire_ohm", [1.856, 200.0])
def test_sweep_matches_a_dense_nodal_solve(r_wire_ohm: float) -> None:
    spec = _linear_spec(5, 4, r_wire_ohm)
    g = np.random.default_rng(3).uniform(specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S, (5, 4))
    want = _dense_nodal(spec, g)
    got = transfer_matrix(spec, g)
    assert np.max(np.abs(got / want - 1.0)) < 1e-12
    assert np.all(got < g)  # the wires lose some current in every cell (a check of the deck)


def test_a_kept_matrix_is_read_back_and_another_tile_is_computed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _linear_spec(6, 5, 1.856)
    rng = np.random.default_rng(0)
    g = rng.uniform(specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S, (6, 5))
    fresh = transfer_matrix(spec, g)
    with transfer_cache(tmp_path):
        first = transfer_matrix(spec, g)
    assert np.array_equal(first, fresh) and len(list(tmp_path.glob("*.npy"))) == 1
    computed = []
    real_sweep = transfer_module._sweep

    def counting(*args: object) -> np.ndarray:
        computed.append(1)
        return real_sweep(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(transfer_module, "_sweep", counting)
    with transfer_cache(tmp_path):
        again = transfer_matrix(spec, g)
        other = transfer_matrix(spec, g * 1.01)
    assert np.array_equal(again, fresh) and len(computed) == 1  # only the other tile's
    assert not np.allclose(other, fresh) and len(list(tmp_path.glob("*.npy"))) == 2
    transfer_matrix(spec, g)  # outside the block nothing is read or kept
    assert len(computed) == 2 and len(list(tmp_path.glob("*.npy"))) == 2


def test_a_damaged_kept_matrix_is_computed_again(tmp_path: Path) -> None:
    spec = _linear_spec(4, 4, 1.856)
    g = np.random.default_rng(1).uniform(specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S, (4, 4))
    with transfer_cache(tmp_path):
        want = transfer_matrix(spec, g)
        (path,) = tmp_path.glob("*.npy")
        path.write_bytes(b"not a matrix")
        assert np.array_equal(transfer_matrix(spec, g), want)
    assert np.array_equal(np.load(path), want)
