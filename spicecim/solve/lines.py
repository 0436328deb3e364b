"""Newton on a tile's two wire layers: the DC operating point in tens of milliseconds at 256x256.

The same circuit as :func:`spicecim.solve.solve` (the one ``build_array`` writes), for tiles whose
row and column segments both have resistance. The unknowns are the cells' row nodes ``u`` and
column nodes ``w`` only: the driver node is folded into the first row segment
(``r_out + r_row`` from the source), the column's bottom node into the last column segment
(``r_col + r_term`` to ground), and a 1T1R cell's middle node is solved cell by cell (the
memristor's current equals the transistor's), so each cell is a two-terminal branch.

Each Newton step solves, for the cells' small-signal conductance ``D``,

    [A_r + D    -D  ] [du]   [f_u]
    [  -D    A_c + D] [dw] = [f_w]

with ``A_r`` the row wires (one tridiagonal chain per row) and ``A_c`` the column wires. The
column layer is eliminated exactly (tridiagonal solves), and conjugate gradients on the row
layer's Schur complement ``S = A_r + D - D (A_c + D)^-1 D``, preconditioned by ``A_r + D``,
converge in about ten iterations: a cell conducts 1e-4 of a wire segment, so the layers are
coupled only through their smoothest modes, and only part of those pass a layer (the spectrum of
the preconditioned ``S`` lies in (1 - rho, 1] with rho about 0.25 for the default tile).
A 1T1R cell's transistor makes the Jacobian slightly unsymmetric (its drain and source slopes
differ by ``beta vds``, 1e-4 of the cell's conductance behind the memristor); the step uses the
symmetric part, which leaves Newton's convergence linear at that rate: three or four steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack

from spicecim.errors import SpecError
from spicecim.netlist.spec import CrossbarSpec

# Conjugate gradients stop at this fraction of the step's right-hand side (2-norm). A linear
# tile's one step is then exact to well below the convergence test on the cell currents; a
# Newton step need not be (inexact Newton): the symmetric step already leaves an error of about
# 1e-4 of the last one, so a solve much tighter than that buys no Newton step.
_CG_RTOL_LINEAR = 1e-13
_CG_RTOL_NEWTON = 1e-5
_CG_MAXITER = 400
# A 1T1R cell's middle node: Newton steps of the series current balance until no cell's
# memristor and transistor currents differ by more than this fraction of the largest current.
_MID_STEPS = 60
_MID_RTOL = 1e-13


class NotConverged(Exception):
    """The line solver's conjugate gradients stalled (extreme parameter sets only)."""


@dataclass(frozen=True, slots=True)
class Chains:
    """Tridiagonal chains side by side (no coupling between them): ``diag`` and ``off`` of the
    flattened matrix, ``off[k]`` coupling entries ``k`` and ``k + 1`` (0 at a chain's end)."""

    diag: np.ndarray
    off: np.ndarray

    def times(self, x: np.ndarray) -> np.ndarray:
        y = self.diag * x
        y[:-1] += self.off * x[1:]
        y[1:] += self.off * x[:-1]
        return y

    def factor(self, extra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """LDL^T of the chains plus the diagonal ``extra`` (LAPACK ``pttrf``)."""
        d, e, info = lapack.dpttrf(self.diag + extra, self.off if self.off.size else np.zeros(1))
        if info != 0:
            raise NotConverged(f"wire chains not positive definite (pttrf info {info})")
        return d, e


def _chains(count: int, length: int, first_s: float, segment_s: float, last_s: float) -> Chains:
    """``count`` chains of ``length`` nodes: ``segment_s`` between neighbours, ``first_s`` from
    the first node and ``last_s`` from the last to a fixed voltage."""
    diag = np.zeros(length)
    diag[:-1] += segment_s
    diag[1:] += segment_s
    diag[0] += first_s
    diag[-1] += last_s
    off = np.full(length, -segment_s)
    off[-1] = 0.0
    return Chains(np.tile(diag, count), np.tile(off, count)[:-1])


@dataclass(frozen=True, slots=True)
class Wires:
    """A tile's row and column wires as chains; row vectors are (rows, cols) in C order, column
    vectors (cols, rows)."""

    rows: Chains
    cols: Chains
    g_source_s: float  # from each row's source to its first cell node

    @staticmethod
    def of(spec: CrossbarSpec, r_term_ohm: float) -> Wires:
        wire = spec.wire
        g_source = 1.0 / (spec.driver.r_out_ohm + wire.r_row_ohm)
        return Wires(
            rows=_chains(spec.rows, spec.cols, g_source, 1.0 / wire.r_row_ohm, 0.0),
            cols=_chains(spec.cols, spec.rows, 0.0, 1.0 / wire.r_col_ohm,
                         1.0 / (wire.r_col_ohm + r_term_ohm)),
            g_source_s=g_source,
        )


@dataclass(frozen=True, slots=True)
class CellState:
    """The cells' currents and slopes in their row and column node; for 1T1R cells also the
    middle node, its slopes (to predict it after a step) and the largest series imbalance."""

    current_a: np.ndarray
    di_du_s: np.ndarray
    di_dw_s: np.ndarray
    mid_v: np.ndarray | None = None
    dmid_du: np.ndarray | None = None
    dmid_dw: np.ndarray | None = None
    imbalance_a: float = 0.0

    def mid_after(self, du: np.ndarray, dw: np.ndarray) -> np.ndarray | None:
        """The middle nodes moved to first order with a step of the row and column nodes."""
        if self.mid_v is None or self.dmid_du is None or self.dmid_dw is None:
            return None
        return self.mid_v + self.dmid_du * du + self.dmid_dw * dw


@dataclass(frozen=True, slots=True)
class Cells:
    """The cells as two-terminal branches: current and its slopes in the row and column node."""

    spec: CrossbarSpec
    g_s: np.ndarray

    def evaluate(self, u: np.ndarray, w: np.ndarray, mid: np.ndarray | None) -> CellState:
        """The cells at row nodes ``u`` and column nodes ``w``; ``mid``: a 1T1R cell's middle
        node to start its series balance from (the divider of the chord conductance and the
        on-resistance when None)."""
        cell = self.spec.cell
        if cell.access is None:
            i, g = self._device(u - w)
            return CellState(i, g, -g)
        t = cell.access
        lo, hi = np.minimum(u, w), np.maximum(u, w)
        if mid is None:
            g_on = 1.0 / t.r_on_ohm
            mid = (self.g_s * u + g_on * w) / (self.g_s + g_on)
        for _ in range(_MID_STEPS):
            i, a = self._device(u - mid)
            i_t, b, c = t.drain_current_slopes(mid, w)
            imbalance = _max_abs(i - i_t)
            # Newton converges quadratically: once the imbalance is this small the next step
            # would change no current beyond rounding.
            if imbalance <= _MID_RTOL * _max_abs(i) or imbalance == 0.0:
                # dI/du and dI/dw with the middle node following the balance
                return CellState(i, a * b / (a + b), a * c / (a + b), mid, a / (a + b),
                                 -c / (a + b), imbalance)
            mid = np.clip(mid + (i - i_t) / (a + b), lo, hi)
        raise SpecError("a 1T1R cell's middle node did not converge: the cell I-V is "
                        "outside the range this solver handles")

    def _device(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cell = self.spec.cell
        if cell.kind == "linear":
            return self.g_s * v, self.g_s
        return cell.memristor.current(v, self.g_s), cell.memristor.dcurrent_dv(v, self.g_s)


@dataclass(frozen=True, slots=True)
class LineSolution:
    u_v: np.ndarray  # (rows, cols) cell row nodes
    w_v: np.ndarray  # (rows, cols) cell column nodes
    cell_current_a: np.ndarray
    residual_a: float
    solves: int


def solve_lines(spec: CrossbarSpec, g_s: np.ndarray, v_in: np.ndarray, r_term_ohm: float, *,
                rtol: float, floor: float, max_newton: int) -> LineSolution:
    """Newton from the IR-drop-free point (rows at their drive, columns at 0) until a step
    changes no cell current by more than ``rtol`` of the largest (or, below ``floor``, stops
    shrinking); one solve for linear two-terminal cells, whose first step is exact."""
    wires = Wires.of(spec, r_term_ohm)
    cells = Cells(spec, g_s)
    rows, cols = spec.rows, spec.cols
    source = np.zeros(rows * cols)  # current the row sources drive into the first cell nodes
    source[::cols] = wires.g_source_s * v_in
    u = np.repeat(np.asarray(v_in, float), cols)
    w = np.zeros(rows * cols)  # column layout
    linear = spec.cell.kind == "linear" and spec.cell.access is None
    mid, previous, last_change = None, None, np.inf
    for solves in range(max_newton + 1):
        cell = cells.evaluate(u.reshape(rows, cols), _to_rows(w, rows, cols).reshape(rows, cols),
                              mid)
        i = cell.current_a.ravel()
        f_u = wires.rows.times(u) - source + i
        f_w = wires.cols.times(w) - _to_cols(i, rows, cols)
        residual = max(_max_abs(f_u), _max_abs(f_w), cell.imbalance_a)
        if linear and solves == 1:
            return _result(spec, u, w, i, residual, solves)
        if previous is not None:
            change = _max_abs(i - previous) / max(_max_abs(i), np.finfo(float).tiny)
            if change <= rtol or (change <= floor and change > 0.5 * last_change):
                return _result(spec, u, w, i, residual, solves)
            last_change = change
        previous = i
        d = np.broadcast_to(0.5 * (cell.di_du_s - cell.di_dw_s), (rows, cols)).ravel()
        du, dw = _step(wires, d, f_u, f_w, rows, cols,
                       _CG_RTOL_LINEAR if linear else _CG_RTOL_NEWTON)
        u, w = u - du, w - dw
        mid = cell.mid_after(-du.reshape(rows, cols), -_to_rows(dw, rows, cols).reshape(rows, cols))
    raise SpecError(f"Newton did not converge in {max_newton} steps: the cell I-V is outside "
                    "the range this solver handles (check drive voltage and device parameters)")


def _result(spec: CrossbarSpec, u: np.ndarray, w: np.ndarray, i: np.ndarray, residual: float,
            solves: int) -> LineSolution:
    rows, cols = spec.rows, spec.cols
    return LineSolution(u.reshape(rows, cols), w.reshape(cols, rows).T.copy(),
                        i.reshape(rows, cols), residual, solves)


def _step(wires: Wires, d: np.ndarray, f_u: np.ndarray, f_w: np.ndarray, rows: int, cols: int,
          rtol: float) -> tuple[np.ndarray, np.ndarray]:
    """Solve the symmetric step system (module docstring) by conjugate gradients on the row
    layer's Schur complement."""
    d_cols = _to_cols(d, rows, cols)
    u_factor = wires.rows.factor(d)
    w_factor = wires.cols.factor(d_cols)

    def column_solve(x_cols: np.ndarray) -> np.ndarray:
        return lapack.dpttrs(*w_factor, x_cols)[0]

    def schur(x: np.ndarray) -> np.ndarray:
        dx = d * x
        return wires.rows.times(x) + dx - d * _to_rows(column_solve(_to_cols(dx, rows, cols)),
                                                      rows, cols)

    rhs = f_u + d * _to_rows(column_solve(f_w), rows, cols)
    x = _cg(schur, lambda r: lapack.dpttrs(*u_factor, r)[0], rhs, rtol)
    return x, column_solve(f_w + d_cols * _to_cols(x, rows, cols))


def _to_cols(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """A row-layout vector (rows, cols) in column layout (cols, rows)."""
    return x.reshape(rows, cols).T.ravel()


def _to_rows(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    return x.reshape(cols, rows).T.ravel()


def _cg(apply: Callable[[np.ndarray], np.ndarray],
        precondition: Callable[[np.ndarray], np.ndarray], b: np.ndarray, rtol: float
        ) -> np.ndarray:
    """Preconditioned conjugate gradients from 0 to a residual of ``rtol`` times ``b``."""
    x = np.zeros_like(b)
    r = b.copy()
    stop = rtol * float(np.linalg.norm(b))
    if stop == 0.0:
        return x
    z = precondition(r)
    p = z.copy()
    rz = float(r @ z)
    for _ in range(_CG_MAXITER):
        ap = apply(p)
        alpha = rz / float(p @ ap)
        x += alpha * p
        r -= alpha * ap
        if float(np.linalg.norm(r)) <= stop:
            return x
        z = precondition(r)
        rz, rz_old = float(r @ z), rz
        p = z + (rz / rz_old) * p
    raise NotConverged("conjugate gradients did not converge")


def _max_abs(a: np.ndarray) -> float:
    return float(np.max(np.abs(a), initial=0.0))
