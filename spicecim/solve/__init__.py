"""Fast DC operating point of a crossbar tile: nodal analysis of the very circuit that
:func:`spicecim.netlist.crossbar.build_array` writes, without SPICE.

Same circuit, same conventions: row ``i``'s DAC drives ``r_out_ohm`` and then one ``r_row_ohm``
segment before each cell; below each cell one ``r_col_ohm`` segment leads down the column to the
readout (:func:`termination_ohm`: the sized sense resistor, the TIA's input resistance, or the
integrator's virtual ground); capacitors are open at DC; a zero resistance is a short (its two
nodes are one). Cell currents are positive from row to column, column currents positive into
the readout, and the ADC voltage is ``column_current_a`` times the sized readout's gain.

Three engines, each the fastest we measured for its job (``benchmarks/bench_solve.py``,
``benchmarks/bench_dcsolve.py``):

- :func:`solve`: one input vector, any cell, resistive wires: Newton on the two wire layers
  (:mod:`spicecim.solve.lines`; 0.1 s of CPU at 256x256 with 1T1R cells, 28x the next).
- :func:`solve_nodal`: one input vector, any cell (linear, memristor sinh I-V, 1T1R), any wires
  (zero-resistance segments too; :func:`solve` falls back to it). Newton on the
  sparse nodal Jacobian, started from the linear (chord-conductance) solution. Each linear step
  is a Krylov solve (CG; GMRES for 1T1R, whose transistor makes the Jacobian unsymmetric)
  preconditioned by symmetric block Gauss-Seidel over the row wires, the column wires and the
  1T1R middle nodes, each block solved exactly (in our node order it is tridiagonal). About 16
  iterations at 256x256, where SuperLU (best ordering) took 0.65 s to factor and line-Jacobi
  needed 33 iterations; a coarse correction with one unknown per wire saved none.
- :func:`transfer_matrix` and :func:`solve_batch`: linear cells, many inputs. A block sweep from
  the last column to the first carries the admittance seen into the row wires and every swept
  column's output current as a function of the row-node voltages; dense ``rows x rows`` algebra,
  O(cols * rows^3), exact to rounding. Each input then costs one matrix-vector product (256 SuperLU
  solves with the factor above took 5 s).

Accuracy is relative to the largest cell current (about 1e-12 for everyday values); circuits whose
resistances span many decades (micro-ohm wires behind mega-ohm drivers or sense resistors) lose
digits in :func:`solve`, not in :func:`transfer_matrix`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import LinearOperator, cg, gmres, splu

from spicecim.devices import AccessTransistor, MemristorParams
from spicecim.errors import SpecError, check
from spicecim.netlist.crossbar import RowDrive
from spicecim.netlist.spec import CrossbarSpec, DriverParams, Tile, quantise_unit
from spicecim.solve.lines import NotConverged, solve_lines
from spicecim.solve.transfer import (
    _conductances,
    _factor_tridiagonal,
    _one_blas_thread,
    adc_range_a,
    calibrated_range_a,
    calibration_drive,
    termination_ohm,
    transfer_cache,
    transfer_matrix,
    with_calibrated_range,
)

__all__ = ["Solution", "adc_range_a", "calibrated_range_a", "calibration_drive",
           "drive_voltages", "row_drive", "row_drives", "solve", "solve_batch", "solve_nodal",
           "termination_ohm", "transfer_cache", "transfer_matrix", "with_calibrated_range"]

RTOL = 1e-10
"""Newton stops when a step changes no cell current by more than this times the largest one."""
_FLOOR = 1e-6
# ...or when steps below this fraction stop shrinking: with wire resistances of micro-ohms the
# node voltages cannot resolve the drops any better (each volt is rounded to 1e-16 V, and
# a 1e6 S wire turns that into 1e-10 A).

_KRYLOV_RTOL = 1e-12
_KRYLOV_MAXITER = 400
_MAX_NEWTON = 40
# The transistor's derivatives come from its own drain_current (so the model is written once);
# at this step the central difference is exact for the level-1 quadratics up to rounding.
_FD_STEP_V = 1e-7

# (current p -> q, dI/dv_p, dI/dv_q) for arrays of terminal voltages.
BranchModel = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True, slots=True)
class Solution:
    """The DC operating point of one tile for one input vector.

    ``cell_current_a`` (rows, cols) flows through each cell from row to column; ``v_row_v`` and
    ``v_col_v`` (rows, cols) are the voltages of each cell's row and column node, kept only when
    asked for. ``iterations`` counts linear solves (1 for linear cells; the linear start plus the
    Newton steps otherwise); ``residual_a`` is the largest Kirchhoff current imbalance of any node.
    """

    spec: CrossbarSpec = field(repr=False)
    column_current_a: np.ndarray
    output_v: np.ndarray
    cell_current_a: np.ndarray = field(repr=False)
    iterations: int
    residual_a: float
    v_row_v: np.ndarray | None = field(default=None, repr=False)
    v_col_v: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        shape = (self.spec.rows, self.spec.cols)
        cols = (self.spec.cols,)
        check(self.column_current_a.shape == cols, "column_current_a.shape",
              self.column_current_a.shape, f"{cols}")
        check(self.output_v.shape == cols, "output_v.shape", self.output_v.shape, f"{cols}")
        check(self.cell_current_a.shape == shape, "cell_current_a.shape",
              self.cell_current_a.shape, f"{shape}")
        for name in ("v_row_v", "v_col_v"):
            value = getattr(self, name)
            check(value is None or value.shape == shape, f"{name}.shape",
                  None if value is None else value.shape, f"{shape} or None")
        check(self.iterations >= 0, "iterations", self.iterations, "an integer >= 0")
        check(bool(np.isfinite(self.column_current_a).all()), "column_current_a", "non-finite",
              "finite values")
        for name in ("column_current_a", "output_v", "cell_current_a", "v_row_v", "v_col_v"):
            value = getattr(self, name)
            if value is not None:
                value.setflags(write=False)


# --- the nodal network ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Network:
    """The tile's nodes with shorts merged into nets, split into fixed nets and unknowns.

    Nodes are numbered row wires first (each: driver node, then the cells' row nodes), then column
    wires (each: the cells' column nodes, then the bottom node), then the 1T1R middle nodes.
    Merging keeps that order, so the unknowns fall into those three blocks and within a block
    every wire is a run of consecutive unknowns: each block's own matrix is tridiagonal.
    """

    net: np.ndarray  # node -> net
    unknown: np.ndarray  # net -> unknown index, -1 where the net's voltage is fixed
    fixed_v: np.ndarray  # net -> voltage of the fixed nets (0 elsewhere)
    wire: sp.csr_matrix  # nets x nets: conductances of drivers, wires and sense resistors
    wire_free: sp.csr_matrix  # the same between unknowns
    blocks: tuple[tuple[int, int], ...]  # unknown ranges: row wires, column wires, middle nodes
    ideal_v: np.ndarray  # unknowns at the IR-drop-free solution: rows at their drive, rest at 0
    row_node: np.ndarray  # (rows, cols) nodes
    col_node: np.ndarray
    mid_node: np.ndarray  # empty without access transistors

    @property
    def n_unknowns(self) -> int:
        return self.wire_free.shape[0]

    def voltages(self, x: np.ndarray) -> np.ndarray:
        v = self.fixed_v.copy()
        free = self.unknown >= 0
        v[free] = x[self.unknown[free]]
        return v


def _network(spec: CrossbarSpec, v_in: np.ndarray, r_term: float) -> _Network:
    rows, cols = spec.rows, spec.cols
    wire = spec.wire
    row0 = 1 + rows  # 0 is ground, 1..rows the DAC sources
    col0 = row0 + rows * (cols + 1)
    mid0 = col0 + cols * (rows + 1)
    n_nodes = mid0 + (rows * cols if spec.cell.access is not None else 0)
    row_line = row0 + np.arange(rows)[:, None] * (cols + 1) + np.arange(cols + 1)
    col_line = col0 + np.arange(cols)[:, None] * (rows + 1) + np.arange(rows + 1)
    mid_node = (mid0 + np.arange(rows * cols).reshape(rows, cols) if spec.cell.access is not None
                else np.empty((0, 0), int))

    p = np.concatenate([1 + np.arange(rows), row_line[:, :-1].ravel(), col_line[:, :-1].ravel(),
                        col_line[:, -1]])
    q = np.concatenate([row_line[:, 0], row_line[:, 1:].ravel(), col_line[:, 1:].ravel(),
                        np.zeros(cols, int)])
    r = np.concatenate([np.full(rows, spec.driver.r_out_ohm), np.full(rows * cols, wire.r_row_ohm),
                        np.full(rows * cols, wire.r_col_ohm), np.full(cols, r_term)])
    short = r == 0
    if short.any():
        shorts = sp.coo_matrix((np.ones(short.sum()), (p[short], q[short])), (n_nodes, n_nodes))
        n_nets, net = connected_components(shorts, directed=False)
    else:
        n_nets, net = n_nodes, np.arange(n_nodes)

    fixed = np.zeros(n_nets, bool)
    fixed[net[: rows + 1]] = True
    fixed_v = np.zeros(n_nets)
    fixed_v[net[1 : rows + 1]] = v_in
    unknown = np.where(fixed, -1, np.cumsum(~fixed) - 1)

    g = 1.0 / r[~short]
    pn, qn = net[p[~short]], net[q[~short]]
    laplacian = sp.coo_matrix(
        (np.concatenate([g, g, -g, -g]),
         (np.concatenate([pn, qn, pn, qn]), np.concatenate([pn, qn, qn, pn]))),
        (n_nets, n_nets),
    ).tocsr()
    # Nets are labelled in order of their lowest node (a net's label first appears there), so
    # the free nets' lowest nodes are sorted and the blocks start where they reach a new kind.
    lowest = np.flatnonzero(np.diff(np.maximum.accumulate(net), prepend=-1) > 0)[~fixed]
    edges = [0, *np.searchsorted(lowest, [col0, mid0]), lowest.size]
    on_row = lowest < col0
    ideal_v = np.zeros(lowest.size)
    ideal_v[on_row] = v_in[(lowest[on_row] - row0) // (cols + 1)]
    return _Network(
        net=net, unknown=unknown, fixed_v=fixed_v, wire=laplacian,
        wire_free=laplacian[~fixed][:, ~fixed].tocsr(),
        blocks=tuple((int(a), int(b)) for a, b in zip(edges, edges[1:], strict=False) if b > a),
        ideal_v=ideal_v,
        row_node=row_line[:, 1:], col_node=col_line[:, :-1].T, mid_node=mid_node)


# --- branch models -------------------------------------------------------------------------


def _linear(g_s: np.ndarray) -> BranchModel:
    def model(vp: np.ndarray, vq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return g_s * (vp - vq), g_s, -g_s

    return model


def _memristor(params: MemristorParams, g_s: np.ndarray) -> BranchModel:
    def model(vp: np.ndarray, vq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        v = vp - vq
        gd = params.dcurrent_dv(v, g_s)
        return params.current(v, g_s), gd, -gd

    return model


def _transistor(params: AccessTransistor) -> BranchModel:
    def model(vd: np.ndarray, vs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        f, h = params.drain_current, _FD_STEP_V
        gd = (f(vd + h, vs) - f(vd - h, vs)) / (2 * h)
        gs = (f(vd, vs + h) - f(vd, vs - h)) / (2 * h)
        return f(vd, vs), gd, gs

    return model


Branch = tuple[np.ndarray, np.ndarray, BranchModel]  # nets p and q, the device between them


def _branches(net: _Network, spec: CrossbarSpec, g_s: np.ndarray, *, chord: bool) -> list[Branch]:
    """Every cell as branches between nets; ``chord`` gives the linear start (chord conductance,
    transistor at its on-resistance) from which Newton sets off. The cell current is the last
    branch's."""
    cell, g = spec.cell, g_s.ravel()
    row = net.net[net.row_node.ravel()]
    col = net.net[net.col_node.ravel()]
    device = _linear(g) if chord or cell.kind == "linear" else _memristor(cell.memristor, g)
    if cell.access is None:
        return [(row, col, device)]
    mid = net.net[net.mid_node.ravel()]
    access = (_linear(np.full(g.size, 1.0 / cell.access.r_on_ohm)) if chord
              else _transistor(cell.access))
    return [(row, mid, device), (mid, col, access)]


# --- Newton and its linear steps -----------------------------------------------------------


def _evaluate(net: _Network, branches: list[Branch], x: np.ndarray, *, jacobian: bool
              ) -> tuple[np.ndarray, sp.csr_matrix | None, np.ndarray]:
    """Current leaving each unknown net, the Jacobian if asked for, the cell currents."""
    v = net.voltages(x)
    n_nets, n = v.size, net.n_unknowns
    leaving = net.wire @ v
    entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for p, q, model in branches:
        current, dp, dq = model(v[p], v[q])
        leaving += np.bincount(p, current, n_nets) - np.bincount(q, current, n_nets)
        up, uq = net.unknown[p], net.unknown[q]
        for a, b, value in ((up, up, dp), (up, uq, dq), (uq, up, -dp), (uq, uq, -dq)):
            if jacobian:
                keep = (a >= 0) & (b >= 0)
                entries.append((a[keep], b[keep], np.broadcast_to(value, a.shape)[keep]))
    free = net.unknown >= 0
    residual = np.empty(n)
    residual[net.unknown[free]] = leaving[free]
    jac = None
    if jacobian:
        a, b, value = (np.concatenate(part) for part in zip(*entries, strict=True))
        jac = (net.wire_free + sp.csr_matrix((value, (a, b)), (n, n))).tocsr()
    return residual, jac, current


def _preconditioner(jac: sp.csr_matrix, blocks: tuple[tuple[int, int], ...]
                    ) -> LinearOperator | None:
    """Symmetric block Gauss-Seidel over row wires, column wires and middle nodes, each block
    solved exactly (it is tridiagonal); ``None`` where a block is not positive definite."""
    n = jac.shape[0]
    diag, upper = jac.diagonal(0), jac.diagonal(1)
    factors, couplings = [], []
    for start, stop in blocks:
        d, e, info = _factor_tridiagonal(diag[start:stop], upper[start : stop - 1])
        if info != 0:
            return None
        factors.append((d, e))
        rows = jac[start:stop].tocsr()
        rows.data[(rows.indices >= start) & (rows.indices < stop)] = 0.0
        rows.eliminate_zeros()
        couplings.append(rows)
    order = [*range(len(blocks)), *range(len(blocks) - 2, -1, -1)]

    def apply(y: np.ndarray) -> np.ndarray:
        y = np.ravel(y)
        x = np.zeros(n)
        for step, k in enumerate(order):
            start, stop = blocks[k]
            rhs = y[start:stop] if step == 0 else y[start:stop] - couplings[k] @ x
            x[start:stop] = lapack.dpttrs(*factors[k], rhs)[0]
        return x

    return LinearOperator((n, n), matvec=apply, dtype=float)


def _linear_step(jac: sp.csr_matrix, rhs: np.ndarray, blocks: tuple[tuple[int, int], ...],
                 *, symmetric: bool) -> np.ndarray:
    if not rhs.any():
        return rhs
    prec = _preconditioner(jac, blocks)
    info = 1
    if prec is not None and symmetric:
        x, info = cg(jac, rhs, rtol=_KRYLOV_RTOL, maxiter=_KRYLOV_MAXITER, M=prec)
    elif prec is not None:
        x, info = gmres(jac, rhs, rtol=_KRYLOV_RTOL, restart=50,
                        maxiter=_KRYLOV_MAXITER // 50, M=prec)
    # Krylov stalls only on extreme parameter sets; the direct factorisation is then the answer.
    return x if info == 0 else splu(jac.tocsc()).solve(rhs)


def _newton(net: _Network, start: list[Branch], branches: list[Branch], *, linear: bool,
            symmetric: bool) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Solve from the linear start; for nonlinear cells go on with Newton until a step changes
    no cell current by more than ``RTOL`` of the largest (or stalls at the rounding floor)."""
    # From the IR-drop-free solution the residual is of the size of the cell currents, not of
    # the far larger currents a volt would drive through the wires; the Krylov tolerance is
    # relative to it, so it is a tolerance on the cell currents.
    x = net.ideal_v
    residual, jac, _ = _evaluate(net, start, x, jacobian=True)
    x = x - _linear_step(jac, residual, net.blocks, symmetric=True)
    if linear:
        residual, _, current = _evaluate(net, start, x, jacobian=False)
        return x, current, _max_abs(residual), 1
    previous, last_change = None, np.inf
    for solves in range(1, _MAX_NEWTON + 1):
        residual, jac, current = _evaluate(net, branches, x, jacobian=True)
        if previous is not None:
            change = _max_abs(current - previous) / max(_max_abs(current), np.finfo(float).tiny)
            if change <= RTOL or (change <= _FLOOR and change > 0.5 * last_change):
                return x, current, _max_abs(residual), solves
            last_change = change
        previous = current
        x = x - _linear_step(jac, residual, net.blocks, symmetric=symmetric)
    raise SpecError(f"Newton did not converge in {_MAX_NEWTON} steps: the cell I-V is outside "
                    "the range this solver handles (check drive voltage and device parameters)")


def _max_abs(a: np.ndarray) -> float:
    return float(np.max(np.abs(a), initial=0.0))


def solve(tile: Tile, *, nodes: bool = False) -> Solution:
    """The DC operating point of ``tile`` driven by ``tile.v_in``; ``nodes`` keeps the row- and
    column-node voltage maps (IR drop) in the result.

    Tiles whose row and column segments have resistance (every real tile) are solved on their
    two wire layers (:mod:`spicecim.solve.lines`, about 20x faster at 256x256); the others, and
    any whose line solve stalls, by :func:`solve_nodal`.
    """
    spec = tile.spec
    if spec.wire.r_row_ohm > 0 and spec.wire.r_col_ohm > 0:
        with contextlib.suppress(NotConverged), _one_blas_thread():
            lines = solve_lines(spec, tile.g_s, tile.v_in, termination_ohm(spec, tile.g_s),
                                rtol=RTOL, floor=_FLOOR, max_newton=_MAX_NEWTON)
            column = lines.cell_current_a.sum(axis=0)
            return Solution(
                spec=spec, column_current_a=column, output_v=column * tile.readout.gain_ohm,
                cell_current_a=lines.cell_current_a, iterations=lines.solves,
                residual_a=lines.residual_a, v_row_v=lines.u_v if nodes else None,
                v_col_v=lines.w_v if nodes else None)
    return solve_nodal(tile, nodes=nodes)


def solve_nodal(tile: Tile, *, nodes: bool = False) -> Solution:
    """:func:`solve` on the full sparse nodal network: any wires (zero-resistance segments
    merged into one net), Newton-Krylov over every node including 1T1R middle nodes."""
    spec = tile.spec
    net = _network(spec, tile.v_in, termination_ohm(spec, tile.g_s))
    with _one_blas_thread():  # see transfer_matrix
        x, current, residual, solves = _newton(
            net,
            _branches(net, spec, tile.g_s, chord=True),
            _branches(net, spec, tile.g_s, chord=False),
            linear=spec.cell.kind == "linear" and spec.cell.access is None,
            symmetric=spec.cell.access is None,
        )
    cell = current.reshape(spec.rows, spec.cols)
    column = cell.sum(axis=0)
    v = net.voltages(x) if nodes else None
    return Solution(
        spec=spec,
        column_current_a=column,
        output_v=column * tile.readout.gain_ohm,
        cell_current_a=cell,
        iterations=solves,
        residual_a=residual,
        v_row_v=None if v is None else v[net.net[net.row_node]],
        v_col_v=None if v is None else v[net.net[net.col_node]],
    )


def drive_voltages(driver: DriverParams, x_in: np.ndarray) -> np.ndarray:
    """Row drive levels for inputs in [0, 1], as :attr:`Tile.v_in` computes them."""
    if driver.encoding == "pulse_width":
        return np.where(x_in > 0, driver.v_full_v, 0.0)
    return quantise_unit(x_in, driver.dac_bits) * driver.v_full_v


def solve_batch(spec: CrossbarSpec, g_s: np.ndarray, x_in: np.ndarray) -> np.ndarray:
    """Column currents (batch, cols) for inputs (batch, rows) in [0, 1] (or (rows,) -> (cols,)).

    Linear cells: one :func:`transfer_matrix` and a matrix product. Nonlinear cells: one Newton
    solve per input (correct, and as slow as that sounds).
    """
    x = np.asarray(x_in, dtype=float)
    check(x.ndim in (1, 2) and x.shape[-1] == spec.rows and x.size > 0, "inputs.shape", x.shape,
          f"({spec.rows},) or (batch >= 1, {spec.rows})")
    check(bool(np.isfinite(x).all()), "inputs", "non-finite", "finite values")
    check(bool(((x >= 0) & (x <= 1)).all()), "inputs", f"{x.min():.4g}..{x.max():.4g}",
          "values in [0, 1]")
    batch = np.atleast_2d(x)
    if spec.cell.kind == "linear" and spec.cell.access is None:
        out = drive_voltages(spec.driver, batch) @ transfer_matrix(spec, g_s)
    else:
        g = _conductances(spec, g_s)
        out = np.stack([solve(Tile(spec, g, xi)).column_current_a for xi in batch])
    return out[0] if x.ndim == 1 else out


# --- Thevenin rows for the column-by-column simulation -------------------------------------


def row_drive(source: Solution | Tile, j: int) -> RowDrive:
    """The row drives that make column ``j``'s own netlist reproduce this DC operating point.

    Each row keeps its series path ``r_out + (j + 1) r_row``; the source voltage is raised so the
    cell's row node sits where the full-array solution puts it, so the IR drop caused by every
    other column's current reaches the column netlist.
    """
    sol = source if isinstance(source, Solution) else solve(source, nodes=True)
    spec = sol.spec
    check(0 <= j < spec.cols, "column", j, f"an integer in [0, {spec.cols - 1}]")
    if sol.v_row_v is None:
        raise SpecError("row_drive needs node voltages: solve the tile with nodes=True")
    r_th = np.full(spec.rows, spec.driver.r_out_ohm + (j + 1) * spec.wire.r_row_ohm)
    return RowDrive(v_th_v=sol.v_row_v[:, j] + sol.cell_current_a[:, j] * r_th, r_th_ohm=r_th)


def row_drives(tile: Tile) -> list[RowDrive]:
    """:func:`row_drive` for every column, from one solve."""
    sol = solve(tile, nodes=True)
    return [row_drive(sol, j) for j in range(tile.spec.cols)]
