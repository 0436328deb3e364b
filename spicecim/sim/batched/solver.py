"""The batched transient: Gear on given time points, Newton at each, in JAX (float64).

Each Newton iteration linearises every element at the current iterate (the devices' own
functions, differentiated by JAX), eliminates each cell's inner nodes (row node, and the node
between memristor and access transistor) onto its column node in closed form, and eliminates
the front end's nodes onto the column end ``b`` (a Schur complement of its small dense block,
so a new linear or nonlinear front-end element is one more term in :func:`_front_end`). What is
left is one tridiagonal system per column over ``c_0 .. c_{m-1}, b``, solved for the whole
batch at once. Charges are integrated as ngspice's ``NIintegrate`` does (backward Euler after a
breakpoint, variable-step Gear-2 otherwise); an iteration has converged when no node moved by
more than ``reltol * max(|new|, |old|) + vntol`` (ngspice's ``NIconvTest``), the second at the
earliest. Each point starts from the linear extrapolation of the last two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from spicecim.devices import amplifier
from spicecim.devices.frontends import AmplifierFrontEnd
from spicecim.netlist.readout import switch_conductance_s
from spicecim.sim.batched.circuit import Structure

MAX_ITERATIONS = 50
"""Newton iterations per point before the column is given up as failed (ngspice cuts the step
at 10; these circuits converge in 2-4)."""

Arrays = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Tolerances:
    reltol: float
    vntol_v: float


def _front_end(st: Structure, p: Arrays, t: Any, vb: Any, y: Any) -> tuple[Any, Any]:
    """Currents leaving, and charges on, ``[b, *y, o]`` for one column (scalars): ``o`` is
    the amplifier's compressed output, not an unknown (an ideal source), whose row gives the
    current the amplifier delivers. ``y`` is ``[p1, out]``, and the amplifier's pin ``f``
    behind its output resistance when it has one (else ``f`` is ``o``)."""
    g_h = switch_conductance_s(t, p["fe_r_on_ohm"], p["fe_hold_s"] if st.hold else None, jnp)
    zero = 0.0 * vb
    if not isinstance(st.front, AmplifierFrontEnd):  # passive: the sense resistor from b
        out = y[0]
        i = jnp.stack([vb / p["fe_r_sense_ohm"] + (vb - out) * g_h, (out - vb) * g_h, zero])
        q = jnp.stack([zero, p["fe_c_s_f"] * out, zero])
        return i, q
    p1, out = y[0], y[1]
    o = amplifier.output_v(p1, p["fe_v_swing_v"])
    f = y[2] if st.amp_pin else o
    # the non-inverting input is ground (through Rn, which carries no current)
    i_sl = p["fe_i_sl_a"] if st.slew else None
    i_p1 = -amplifier.first_stage_a(-vb, p["fe_gm_s"], i_sl, jnp) + p1 / p["fe_r1_ohm"]
    q_p1 = p["fe_c1_f"] * p1
    i_out, q_out = (out - f) * g_h, p["fe_c_s_f"] * out
    i_b, q_b = st.front.feedback(vb, f, p["fe_r_f_ohm"], p["fe_c_int_f"])
    i_f, q_f = -i_b - i_out, -q_b  # into the feedback and the switch from the pin
    if not st.amp_pin:
        return jnp.stack([i_b, i_p1, i_out, i_f]), jnp.stack([q_b, q_p1, q_out, q_f])
    i_o = (o - f) / p["fe_r_o_ohm"]
    return (jnp.stack([i_b, i_p1, i_out, i_f - i_o, i_o]),
            jnp.stack([q_b, q_p1, q_out, q_f, zero]))


def _small_solve(a: Any, b: Any) -> Any:
    """``a^-1 b`` for a batch of small dense blocks: closed form up to 3x3 (a batched LAPACK
    call per block costs more than the column's tridiagonal solve), LU beyond."""
    n = a.shape[-1]
    if n == 1:
        return b / a
    if n > 3:
        return jnp.linalg.solve(a, b)
    if n == 2:
        adj = jnp.stack([jnp.stack([a[:, 1, 1], -a[:, 0, 1]], axis=1),
                         jnp.stack([-a[:, 1, 0], a[:, 0, 0]], axis=1)], axis=1)
    else:  # the adjugate: cofactor (j, i) at (i, j)
        adj = jnp.stack([jnp.stack([
            a[:, (j + 1) % 3, (i + 1) % 3] * a[:, (j + 2) % 3, (i + 2) % 3]
            - a[:, (j + 1) % 3, (i + 2) % 3] * a[:, (j + 2) % 3, (i + 1) % 3]
            for j in range(3)], axis=1) for i in range(3)], axis=1)
    det = jnp.einsum("bj,bj->b", a[:, 0, :], adj[:, :, 0])
    return jnp.einsum("bij,bjk->bik", adj, b) / det[:, None, None]


def make_transient(st: Structure, tol: Tolerances) -> Callable[..., Any]:
    """The jitted transient for columns of ``st``, a block of points at a time: ``(arrays,
    steps, carry) -> (carry, (v_out, p_drivers, p_frontend, p_rowrail, iterations))``, each output
    ``(points, B)``, ``carry`` from :func:`initial_carry` or the last block (its last entry:
    whether every point so far converged). ``steps`` holds per point ``t``, the Gear
    coefficients ``a0 a1 a2`` of ``q_n, q_{n-1}, q_{n-2}``, the predictor's ``h_n / h_{n-1}``
    and ``live`` (0 for padding past a column's last point). A fixed block length means one
    compilation per structure and batch size, whatever the run's length."""
    m, k = st.rows, st.unknowns
    access = st.access
    n_nodes = st.nodes
    fe_batch = jax.vmap(partial(_front_end, st))

    def fe_jac(p: Arrays, t: Any, vb: Any, y: Any) -> tuple[Any, Any, Any, Any]:
        i, q = fe_batch(p, t, vb, y)
        z = jnp.concatenate([vb[:, None], y], axis=1)

        def split(zz: Any, pp: Arrays, tt: Any) -> tuple[Any, Any]:
            return _front_end(st, pp, tt, zz[0], zz[1:])

        di, dq = jax.vmap(jax.jacfwd(split))(z, p, t)
        return i, q, di, dq

    def cell(p: Arrays, v_r: Any, v_c: Any) -> Any:
        if st.cell == "linear":
            return p["cell_a"] * (v_r - v_c)
        return st.memristor.read_current(v_r - v_c, p["cell_a"], jnp)

    def cell_slope(p: Arrays, v_r: Any, v_c: Any) -> tuple[Any, Any]:
        """The cell's current from its row side and its derivative in the row side's voltage."""
        if st.cell == "linear":
            return p["cell_a"] * (v_r - v_c), p["cell_a"] + 0.0 * v_r
        return st.memristor.read_current_slope(v_r - v_c, p["cell_a"], jnp)

    def charges(p: Arrays, x: Any, r: Any, y: Any, t: Any) -> tuple[Any, Any, Any]:
        c_node = jnp.concatenate(
            [jnp.broadcast_to(p["c_col_f"][:, None], (x.shape[0], n_nodes - 1)),
             p["c_end_f"][:, None]], axis=1)
        _, q_fe = fe_batch(p, t, x[:, -1], y)
        return c_node * x, p["c_row_f"] * r, q_fe

    def newton(p: Arrays, s: dict, a0: Any, hist: tuple[Any, Any, Any], t: Any
               ) -> tuple[dict, Any, Any]:
        ramp = jnp.clip(t / p["rise_s"], 0.0, 1.0)[:, None]
        v_src = p["v_th_v"] * ramp
        driven = p["g_row_s"] > 0
        g_t = p["g_row_s"]
        c_r = p["c_row_f"] * a0[:, None]
        g_c = p["g_col_s"][:, None]
        c_node = jnp.concatenate(
            [jnp.broadcast_to(p["c_col_f"][:, None], (a0.shape[0], n_nodes - 1)),
             p["c_end_f"][:, None]], axis=1)

        def body(carry: tuple) -> tuple:
            s, it, _ = carry
            x, r, a, y = s["x"], jnp.where(driven, s["r"], v_src), s["a"], s["y"]
            xc = x[:, :m] if st.wire else jnp.broadcast_to(x[:, :1], r.shape)
            inner = a if st.access is not None else xc
            i_m, g_m = cell_slope(p, r, inner)
            f_r = jnp.where(driven, g_t * (r - v_src) + c_r * r + hist[1] + i_m, 0.0)
            d_r = g_t + c_r + g_m
            share = jnp.where(driven, (g_t + c_r) / d_r, 1.0)
            lean = jnp.where(driven, g_m / d_r, 0.0)
            if access is not None:
                i_cell, g_a, g_x = access.drain_current_slopes(a, xc, jnp)
                f_a = i_cell - i_m
                big_a = g_a + g_m * share
                r_a = -f_a - lean * f_r
                cell_diag = -g_x * g_m * share / big_a
                cell_rhs = g_a * r_a / big_a
            else:
                i_cell = i_m
                cell_diag = g_m * share
                cell_rhs = -lean * f_r
            # the chain: wire segments, node capacitances, cell currents in
            left = jnp.concatenate([x[:, :1], x[:, :-1]], axis=1)
            right = jnp.concatenate([x[:, 1:], x[:, -1:]], axis=1)
            f_x = g_c * (2 * x - left - right) + c_node * a0[:, None] * x + hist[0]
            i_fe, q_fe, di, dq = fe_jac(p, t, x[:, -1], y)
            r_fe = i_fe + a0[:, None] * q_fe + hist[2]
            jac = di + a0[:, None, None] * dq
            n_wire = jnp.concatenate([jnp.ones((1, n_nodes - 1)), jnp.zeros((1, 1))], axis=1)
            n_wire = n_wire + jnp.concatenate([jnp.zeros((1, 1)), jnp.ones((1, n_nodes - 1))],
                                              axis=1)
            diag = g_c * n_wire + c_node * a0[:, None]
            rhs = -f_x
            if st.wire:
                f_x = f_x.at[:, :m].add(-i_cell)
                rhs = (-f_x).at[:, :m].add(cell_rhs)
                diag = diag.at[:, :m].add(cell_diag)
            else:
                rhs = (-f_x.at[:, 0].add(-jnp.sum(i_cell, axis=1))).at[:, 0].add(
                    jnp.sum(cell_rhs, axis=1))
                diag = diag.at[:, 0].add(jnp.sum(cell_diag, axis=1))
            # the front end's block onto b: Schur complement
            j_yy, j_yb, j_by = jac[:, 1:k + 1, 1:k + 1], jac[:, 1:k + 1, 0], jac[:, 0, 1:k + 1]
            solve_y = _small_solve(j_yy, jnp.stack([-r_fe[:, 1:k + 1], -j_yb], axis=2))
            diag = diag.at[:, -1].add(jac[:, 0, 0] + jnp.einsum("bi,bi->b", j_by,
                                                                  solve_y[..., 1]))
            rhs = rhs.at[:, -1].add(-r_fe[:, 0] - jnp.einsum("bi,bi->b", j_by, solve_y[..., 0]))
            off = -jnp.broadcast_to(g_c, diag.shape)
            lower = off.at[:, 0].set(0.0)
            upper = off.at[:, -1].set(0.0)
            dx = jax.lax.linalg.tridiagonal_solve(lower, diag, upper, rhs[..., None])[..., 0]
            dy = solve_y[..., 0] + solve_y[..., 1] * dx[:, -1:]
            dxc = dx[:, :m] if st.wire else jnp.broadcast_to(dx[:, :1], r.shape)
            if st.access is not None:
                da = (r_a - g_x * dxc) / big_a
                dr = jnp.where(driven, (-f_r + g_m * da) / d_r, 0.0)
            else:
                da = jnp.zeros_like(a)
                dr = jnp.where(driven, (-f_r + g_m * dxc) / d_r, 0.0)
            new = {"x": x + dx, "r": r + dr, "a": a + da, "y": y + dy}
            old = {"x": x, "r": r, "a": a, "y": y}
            moved = jnp.ones(a0.shape, bool)
            for name in new:
                bound = tol.reltol * jnp.maximum(jnp.abs(new[name]), jnp.abs(old[name]))
                moved = moved & jnp.all(jnp.abs(new[name] - old[name]) <= bound + tol.vntol_v,
                                        axis=1)
            return new, it + 1, moved

        def going(carry: tuple) -> Any:
            _, it, done = carry
            return (it < 2) | ((it < MAX_ITERATIONS) & ~jnp.all(done))

        s, it, done = jax.lax.while_loop(going, body, (s, 0, jnp.zeros(a0.shape, bool)))
        return s, done, it

    def step(carry: tuple, point: Arrays, p: Arrays) -> tuple:
        """One time point for the batch; ``carry`` holds the last two states and charges."""
        s, s_prev, q, q_prev, ok = carry
        t, a0, a1, a2 = point["t"], point["a0"], point["a1"], point["a2"]
        ratio, live = point["ratio"][:, None], point["live"]
        guess = {n: s[n] + ratio * (s[n] - s_prev[n]) for n in s}
        hist = tuple(a1[:, None] * qn + a2[:, None] * qp for qn, qp in zip(q, q_prev, strict=True))
        new, done, its = newton(p, guess, a0, hist, t)
        q_new = charges(p, new["x"], new["r"], new["y"], t)
        keep = live[:, None]
        s_next = {n: jnp.where(keep, new[n], s[n]) for n in s}
        prev_next = {n: jnp.where(keep, s[n], s_prev[n]) for n in s}
        q_next = tuple(jnp.where(keep, a, b) for a, b in zip(q_new, q, strict=True))
        qp_next = tuple(jnp.where(keep, a, b) for a, b in zip(q, q_prev, strict=True))
        out = (*_observe(p, new, q_new, a0, hist, t), jnp.where(live, its, 0))
        return (s_next, prev_next, q_next, qp_next, ok & (done | ~live)), out

    def _observe(p: Arrays, s: dict, q: tuple, a0: Any, hist: tuple, t: Any) -> tuple:
        ramp = jnp.clip(t / p["rise_s"], 0.0, 1.0)[:, None]
        v_src = p["v_th_v"] * ramp
        driven = p["g_row_s"] > 0
        xc = s["x"][:, :m] if st.wire else jnp.broadcast_to(s["x"][:, :1], s["r"].shape)
        inner = s["a"] if st.access is not None else xc
        r = jnp.where(driven, s["r"], v_src)
        i_row = jnp.where(driven, p["g_row_s"] * (v_src - r), cell(p, r, inner))
        # each row's DAC delivers at its own voltage the current this column draws; the
        # row's buffer draws the same current from the rail (Fr<i> on Vdrail)
        p_drv = jnp.sum(p["v_dac_v"] * ramp * i_row, axis=1)
        p_rail = p["rail_v"] * jnp.sum(i_row, axis=1)
        if st.opamp is not None:
            i_fe, _ = fe_batch(p, t, s["x"][:, -1], s["y"])
            i_out = i_fe[:, -1] + a0 * q[2][:, -1] + hist[2][:, -1]
            p_fe = amplifier.supply_power_w(i_out, p["fe_i_q_a"], p["fe_vdd_v"], jnp)
        else:
            p_fe = jnp.zeros_like(p_drv)
        out = s["y"][:, 0 if st.opamp is None else 1]  # the sampling capacitor (after p1)
        return out, p_drv, p_fe, p_rail

    def advance(p: Arrays, points: Arrays, carry: tuple) -> tuple:
        return jax.lax.scan(partial(step, p=p), carry, points)

    return jax.jit(advance)


def initial_carry(st: Structure, size: int) -> tuple:
    """The state before the first point: every node at 0 V, every charge 0 (the operating
    point of sources that all start at 0 V; the integrator's reset holds its capacitor
    empty)."""
    k = st.unknowns
    s0 = {"x": jnp.zeros((size, st.nodes)), "r": jnp.zeros((size, st.rows)),
          "a": jnp.zeros((size, st.rows)), "y": jnp.zeros((size, k))}
    q0 = (jnp.zeros((size, st.nodes)), jnp.zeros((size, st.rows)), jnp.zeros((size, k + 2)))
    return s0, s0, q0, q0, jnp.ones(size, bool)


def gear_coefficients(time_s: np.ndarray, order: np.ndarray) -> dict[str, np.ndarray]:
    """Per point ``n >= 1``: ``dq/dt = a0 q_n + a1 q_{n-1} + a2 q_{n-2}`` (backward Euler at
    order 1, variable-step Gear-2 at order 2) and the predictor's step ratio."""
    h = np.diff(time_s)
    h_prev = np.concatenate([[h[0]], h[:-1]])
    w = h / h_prev
    second = order[1:] == 2
    a0 = np.where(second, (1 + 2 * w) / ((1 + w) * h), 1 / h)
    a1 = np.where(second, -(1 + w) / h, -1 / h)
    a2 = np.where(second, w**2 / ((1 + w) * h), 0.0)
    ratio = np.concatenate([[0.0], w[1:]])
    return {"t": time_s[1:], "a0": a0, "a1": a1, "a2": a2, "ratio": ratio}
