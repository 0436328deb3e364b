"""The whole tile as one circuit in the batched engine: the netlist
:func:`~spicecim.netlist.crossbar.build_array` writes (row drivers, row wire ladders, every cell,
column wire ladders, every column's front end and sample-and-hold), on the time points ngspice
takes for :func:`~spicecim.sim.column.simulate_array`, returned as its
:class:`~spicecim.sim.column.ArrayRun`.

Each Newton iteration linearises every element as :mod:`~spicecim.sim.batched.solver` does and
eliminates each cell's inner node (between memristor and access transistor) locally, so a cell
is a two-terminal stamp between its row node and its column node: current ``I0 + alpha dr +
beta dc``. Each front end is eliminated onto its column end as in the column solver. What is
left is ``rows`` row-line tridiagonals (driver and wire segments, wire capacitance, the cells'
``alpha``) and ``cols`` column-line tridiagonals (wire, the cells' ``-beta``, the front end),
coupled only through the cells. Each line solve is a cyclic reduction of every line at
once (:mod:`~spicecim.sim.batched.lines`), factored once per Newton iteration. The coupled
system is solved by block Gauss-Seidel (every row line, then every column line, each line
exactly) until the update moves by less than
:data:`LINEAR_TOL` of Newton's voltage tolerance: the cells' conductances are small beside the
wires', and each line's own cells sit on its diagonal, so the sweeps contract (both blocks are
diagonally dominant M-matrices; measured on the default 128x128 tile: 1.45 sweeps per Newton
iteration, two Newton iterations per point). Newton then tests convergence as ngspice does.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from spicecim.errors import SimulationError, SpecError
from spicecim.measure import measure_column
from spicecim.netlist.crossbar import SOURCE_GROUPS, edge_corners_s, isolated_drive
from spicecim.netlist.spec import Tile
from spicecim.sim.batched import lines
from spicecim.sim.batched.circuit import Structure, build_batch, structure_of, unsupported
from spicecim.sim.batched.engine import CACHE_ENV, ENGINE
from spicecim.sim.batched.schedule import ngspice_schedule
from spicecim.sim.column import ArrayRun, ColumnRun
from spicecim.sim.scales import SimOptions, time_scales

LINEAR_TOL = 1e-3
"""The block Gauss-Seidel sweeps stop when no node's update moved by more than this fraction of
Newton's ``vntol`` in the last sweep: the linear solve is exact to well inside the Newton test,
which reads the same updates against ``vntol``."""
MAX_SWEEPS = 500
"""Sweeps per Newton iteration before the linear solve stops short (Newton's own test still
decides whether the point converged)."""
POINT_BLOCK = 64
"""Time points per compiled scan (the last block padded): one compilation per tile shape."""

Arrays = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ArrayShape:
    """What one compiled full-array transient is for."""

    structure: Structure
    cols: int
    reltol: float
    vntol_v: float


def unsupported_array(tile: Tile) -> str | None:
    """Why the batched engine cannot solve ``tile`` as one circuit (None: it can)."""
    reason = unsupported(tile)
    if reason is not None:
        return reason
    w = tile.spec.wire
    if w.r_row_ohm <= 0 or w.r_col_ohm <= 0:
        return ("the batched full array needs resistive row and column wires (r > 0); "
                "a shorted wire is solved column by column")
    return None


def _make(shape: ArrayShape) -> Callable[..., Any]:
    import jax
    import jax.numpy as jnp

    from spicecim.devices import amplifier
    from spicecim.sim.batched.solver import MAX_ITERATIONS, _front_end, _small_solve

    st, n = shape.structure, shape.cols
    m, k = st.rows, st.unknowns
    access = st.access
    reltol, vntol = shape.reltol, shape.vntol_v
    fe_vmap = jax.vmap(partial(_front_end, st))

    def fe_batch(p: Arrays, t: Any, vb: Any, y: Any) -> tuple[Any, Any]:
        return fe_vmap(_fe(p), t, vb, y)

    def _fe(p: Arrays) -> Arrays:
        return {name: v for name, v in p.items() if name.startswith("fe_")}

    def fe_jac(p: Arrays, t: Any, vb: Any, y: Any) -> tuple[Any, Any, Any, Any]:
        i, q = fe_batch(p, t, vb, y)
        z = jnp.concatenate([vb[:, None], y], axis=1)

        def split(zz: Any, pp: Arrays, tt: Any) -> tuple[Any, Any]:
            return _front_end(st, pp, tt, zz[0], zz[1:])

        di, dq = jax.vmap(jax.jacfwd(split))(z, _fe(p), t)
        return i, q, di, dq

    def cell_slope(p: Arrays, v_r: Any, v_c: Any) -> tuple[Any, Any]:
        if st.cell == "linear":
            return p["cell_a"] * (v_r - v_c), p["cell_a"] + 0.0 * v_r
        return st.memristor.read_current_slope(v_r - v_c, p["cell_a"], jnp)

    def col_caps(p: Arrays) -> Any:
        return jnp.concatenate([jnp.broadcast_to(p["c_col_f"][None, :], (m, n)),
                                p["c_end_f"][None, :]], axis=0)

    def charges(p: Arrays, s: dict, t: Any) -> tuple[Any, Any, Any]:
        _, q_fe = fe_batch(p, jnp.full(n, t), s["x"][-1], s["y"])
        return col_caps(p) * s["x"], p["c_row_f"] * s["r"], q_fe

    def source(p: Arrays, t: Any) -> Any:
        return p["v_in_v"] * jnp.clip(t / p["rise_s"], 0.0, 1.0)

    def newton(p: Arrays, s: dict, a0: Any, hist: tuple[Any, Any, Any], t: Any, live: Any
               ) -> tuple[dict, Any, Any, Any]:
        """``s``: ``x`` (rows + 1, cols) column nodes and ends; ``r`` and ``a`` (rows, cols)
        row-wire and inner nodes; ``y`` (cols, k) the front ends' own nodes. Every node array
        is (node along the column, column): the cells meet their row and column nodes at the
        same index, and each line solve runs along its own axis, so nothing is transposed."""
        v_src = source(p, t)
        g_r, g_first = p["g_row_s"], p["g_first_s"]
        g_left = jnp.concatenate([jnp.full((m, 1), g_first), jnp.full((m, n - 1), g_r)], 1)
        g_right = jnp.concatenate([jnp.full((m, n - 1), g_r), jnp.zeros((m, 1))], 1)
        c_r = p["c_row_f"] * a0
        g_c = p["g_col_s"][None, :]
        c_node = col_caps(p)
        n_wire = jnp.concatenate([jnp.ones((m, 1)), jnp.zeros((1, 1))], axis=0)
        n_wire = n_wire + jnp.concatenate([jnp.zeros((1, 1)), jnp.ones((m, 1))], axis=0)
        tt = jnp.full(n, t)
        lin_tol = LINEAR_TOL * vntol

        def end(v: Any) -> Any:
            """(rows, cols) as the column nodes, 0 at the column ends."""
            return jnp.concatenate([v, jnp.zeros((1, n))], axis=0)

        def body(carry: tuple) -> tuple:
            s, it, _, sweeps = carry
            x, r, a, y = s["x"], s["r"], s["a"], s["y"]
            xc = x[:m]
            i_m, g_m = cell_slope(p, r, a if access is not None else xc)
            if access is not None:
                i_t, g_a, g_x = access.drain_current_slopes(a, xc, jnp)
                f_a = i_t - i_m
                big = g_a + g_m
                i0 = i_m + g_m * f_a / big
                alpha, beta = g_m * g_a / big, g_m * g_x / big
            else:
                i0, alpha, beta = i_m, g_m, -g_m
            # the row lines, along axis 1, driven from the left
            left = jnp.concatenate([v_src[:, None], r[:, :-1]], axis=1)
            right = jnp.concatenate([r[:, 1:], r[:, -1:]], axis=1)
            f_r = g_left * (r - left) + g_right * (r - right) + c_r * r + hist[1] + i0
            d_r = g_left + g_right + c_r + alpha
            # the column lines, along axis 0, as the column solver's chain
            up = jnp.concatenate([x[:1], x[:-1]], axis=0)
            down = jnp.concatenate([x[1:], x[-1:]], axis=0)
            f_x = g_c * (2 * x - up - down) + c_node * a0 * x + hist[0] - end(i0)
            i_fe, q_fe, di, dq = fe_jac(p, tt, x[-1], y)
            r_fe = i_fe + a0 * q_fe + hist[2]
            jac = di + a0 * dq
            j_yy, j_yb, j_by = jac[:, 1:k + 1, 1:k + 1], jac[:, 1:k + 1, 0], jac[:, 0, 1:k + 1]
            solve_y = _small_solve(j_yy, jnp.stack([-r_fe[:, 1:k + 1], -j_yb], axis=2))
            b_fe = jac[:, 0, 0] + jnp.einsum("bi,bi->b", j_by, solve_y[..., 1])
            r_b = -r_fe[:, 0] - jnp.einsum("bi,bi->b", j_by, solve_y[..., 0])
            d_x = g_c * n_wire + c_node * a0 - end(beta)
            d_x = jnp.concatenate([d_x[:m], d_x[m:] + b_fe[None, :]], axis=0)
            rhs_x = jnp.concatenate([-f_x[:m], -f_x[m:] + r_b[None, :]], axis=0)
            fac_r, fac_x = lines.factor(d_r, -g_r, 1), lines.factor(d_x, -g_c, 0)

            def sweep(c: tuple) -> tuple:
                dr, dx, _, count = c
                dr_new = lines.solve(fac_r, -f_r - beta * dx[:m], 1)
                dx_new = lines.solve(fac_x, rhs_x + end(alpha * dr_new), 0)
                moved = jnp.maximum(jnp.max(jnp.abs(dr_new - dr)), jnp.max(jnp.abs(dx_new - dx)))
                return dr_new, dx_new, moved, count + 1

            def sweeping(c: tuple) -> Any:
                return (c[2] > lin_tol) & (c[3] < MAX_SWEEPS)

            dr, dx, _, count = jax.lax.while_loop(
                sweeping, sweep, (jnp.zeros_like(r), jnp.zeros_like(x), jnp.inf, 0))
            dy = solve_y[..., 0] + solve_y[..., 1] * dx[-1][:, None]
            if access is not None:
                da = (g_m * dr - g_x * dx[:m] - f_a) / big
            else:
                da = jnp.zeros_like(a)
            new = {"x": x + dx, "r": r + dr, "a": a + da, "y": y + dy}
            moved = jnp.array(True)
            for name in new:
                bound = reltol * jnp.maximum(jnp.abs(new[name]), jnp.abs(s[name]))
                moved = moved & jnp.all(jnp.abs(new[name] - s[name]) <= bound + vntol)
            return new, it + 1, moved, sweeps + count

        def going(carry: tuple) -> Any:
            _, it, done, _ = carry
            return live & ((it < 2) | ((it < MAX_ITERATIONS) & ~done))

        s, it, done, sweeps = jax.lax.while_loop(going, body, (s, 0, jnp.array(False), 0))
        return s, done, it, sweeps

    def observe(p: Arrays, s: dict, q: tuple, a0: Any, hist: tuple, t: Any) -> tuple:
        """Per column: the sampling capacitor and the power each source group delivers. Row
        ``i``'s source current is split among the columns as it leaves the row line: the
        cell's current at column ``j`` and the wire capacitance's there (their sum over the
        columns is the source's current, by Kirchhoff along the line)."""
        v_src = source(p, t)
        inner = s["a"] if access is not None else s["x"][:m]
        share = cell_slope(p, s["r"], inner)[0] + a0 * q[1] + hist[1]  # (rows, cols)
        p_drv = jnp.sum(v_src[:, None] * share, axis=0)
        p_rail = p["rail_v"] * jnp.sum(share, axis=0)
        if st.opamp is not None:
            i_fe, _ = fe_batch(p, jnp.full(n, t), s["x"][-1], s["y"])
            i_out = i_fe[:, -1] + a0 * q[2][:, -1] + hist[2][:, -1]
            p_fe = amplifier.supply_power_w(i_out, p["fe_i_q_a"], p["fe_vdd_v"], jnp)
        else:
            p_fe = 0.0 * p_drv
        out = s["y"][:, 0 if st.opamp is None else 1]
        return out, p_drv, p_fe, p_rail

    def step(carry: tuple, point: Arrays, p: Arrays) -> tuple:
        s, s_prev, q, q_prev, ok = carry
        t, a0, a1, a2 = point["t"], point["a0"], point["a1"], point["a2"]
        ratio, live = point["ratio"], point["live"]
        guess = {name: s[name] + ratio * (s[name] - s_prev[name]) for name in s}
        hist = tuple(a1 * qn + a2 * qp for qn, qp in zip(q, q_prev, strict=True))
        new, done, its, sweeps = newton(p, guess, a0, hist, t, live)
        q_new = charges(p, new, t)

        # A padding point (past the run's last) takes no Newton iteration and steps on
        # unmasked from its prediction: its state is never read (the outputs are cut at the
        # last point, an extension reruns from the start), and a select per node array and
        # point would cost as much as a sweep.
        out = (*observe(p, new, q_new, a0, hist, t), its, sweeps)
        return (new, s, q_new, q, ok & (done | ~live)), out

    def advance(p: Arrays, points: Arrays, carry: tuple) -> tuple:
        return jax.lax.scan(partial(step, p=p), carry, points)

    return jax.jit(advance)


@lru_cache(maxsize=8)
def _compiled(shape: ArrayShape) -> Callable[..., Any]:
    import jax

    if getattr(jax.config, "jax_compilation_cache_dir", None) is None:  # the caller's choice
        root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "spicecim")
        jax.config.update("jax_compilation_cache_dir", str(root / "jax"))
    return _make(shape)


def _arrays(tile: Tile) -> dict[str, np.ndarray | float]:
    """The element values, as :func:`~spicecim.netlist.crossbar.build_array` writes them."""
    spec = tile.spec
    cols = build_batch([(tile, j, isolated_drive(tile, j)) for j in range(spec.cols)])
    w, d = spec.wire, spec.driver
    out: dict[str, np.ndarray | float] = {
        "v_in_v": np.asarray(tile.v_in, float),
        # driver and first segment meet at a node without capacitance: one resistor
        "g_first_s": 1.0 / (d.r_out_ohm + w.r_row_ohm), "g_row_s": 1.0 / w.r_row_ohm,
        "c_row_f": w.c_row_f, "rise_s": d.rise_s, "rail_v": d.rail_v,
        "cell_a": cols.cell_a.T.copy(),  # (rows, cols), as the row lines
        "g_col_s": cols.g_col_s, "c_col_f": cols.c_col_f, "c_end_f": cols.c_end_f}
    out.update({f"fe_{name}": v for name, v in cols.front_end.items()})
    return out


def _breakpoints(tile: Tile, options: SimOptions) -> np.ndarray:
    """The corners of the array deck's sources: the edge source's (the hold's included), and
    each ramp's end."""
    corners = edge_corners_s(tile, options.edge_points)
    if np.any(np.asarray(tile.v_in) != 0):
        corners.append(tile.spec.driver.rise_s)
    return np.array(sorted(set(corners)))


def _solve(tile: Tile, options: SimOptions, stop_s: float, max_step_s: float
           ) -> tuple[np.ndarray, dict[str, np.ndarray], bool, dict[str, int]]:
    """One run to ``stop_s``: time, waveforms (``out`` per column, each group's power), whether
    every point converged, and the Newton iterations and sweeps summed."""
    import jax
    import jax.numpy as jnp

    from spicecim.sim.batched.solver import gear_coefficients

    st = structure_of(tile)
    n, m, k = tile.spec.cols, st.rows, st.unknowns
    vntol = options.settle_tol_v if options.vntol_v is None else options.vntol_v
    sched = ngspice_schedule(stop_s, max_step_s, max_step_s, _breakpoints(tile, options))
    coef = gear_coefficients(sched.time_s, sched.order)
    real = len(sched.time_s) - 1
    total = -(-real // POINT_BLOCK) * POINT_BLOCK
    steps = {name: np.concatenate([v, np.full(total - real, v[-1])]) for name, v in coef.items()}
    steps["live"] = np.arange(total) < real
    with jax.enable_x64(True):
        fn = _compiled(ArrayShape(st, n, options.reltol, vntol))
        p = {name: jnp.asarray(v) for name, v in _arrays(tile).items()}
        s0 = {"x": jnp.zeros((m + 1, n)), "r": jnp.zeros((m, n)), "a": jnp.zeros((m, n)),
              "y": jnp.zeros((n, k))}
        q0 = (jnp.zeros((m + 1, n)), jnp.zeros((m, n)), jnp.zeros((n, k + 2)))
        carry = (s0, s0, q0, q0, jnp.array(True))
        blocks = []
        for start in range(0, total, POINT_BLOCK):
            block = {name: jnp.asarray(v[start:start + POINT_BLOCK]) for name, v in steps.items()}
            carry, outs = fn(p, block, carry)
            blocks.append([np.asarray(o) for o in outs])
        v_out, p_drv, p_fe, p_rail, its, sweeps = (
            np.concatenate([b[i] for b in blocks])[:real] for i in range(6))
        ok = bool(carry[-1])
    ro = tile.readout.readout
    # t = 0 is the operating point: every source at 0, each amplifier quiescent
    first_fe = 0.0 if st.opamp is None else float(ro.opamp.supply_power_w(0.0))
    firsts = {"out": 0.0, "drivers": 0.0, "frontend": first_fe, "rowrail": 0.0}
    waves = {name: np.concatenate([np.full((1, n), firsts[name]), w]).T
             for name, w in zip(firsts, (v_out, p_drv, p_fe, p_rail), strict=True)}
    return sched.time_s, waves, ok, {"iterations": int(its.sum()), "sweeps": int(sweeps.sum())}


@dataclass(frozen=True, slots=True)
class _Run:
    """A full-array run as settled: per column ``out`` and each group's power, (cols, points)."""

    time_s: np.ndarray
    waves: dict[str, np.ndarray]
    extensions: int
    settled: bool
    max_step_s: float
    cpu_s: float


def _settle(tile: Tile, options: SimOptions, stop_s: float, max_step_s: float) -> _Run:
    """Run, and run again with the stop time doubled (from the start, as ngspice is), until
    every readout has settled."""
    reason = unsupported_array(tile)
    if reason is not None:
        raise SpecError(reason)
    start = time.process_time()
    tail = time_scales(tile, isolated_drive(tile, tile.spec.cols - 1)).tail_s
    stop = stop_s
    for extensions in range(options.max_extensions + 1):
        t, waves, ok, _ = _solve(tile, options, stop, max_step_s)
        if not ok:
            raise SimulationError("full-array transient failed: batched engine: Newton did "
                                  "not converge")
        out = waves["out"]
        drift = np.max(np.abs(out[:, -1] - np.array([np.interp(t[-1] - tail, t, v)
                                                     for v in out])))
        if drift <= options.settle_tol_v or extensions == options.max_extensions:
            break
        stop *= 2.0
    return _Run(t, waves, extensions, bool(drift <= options.settle_tol_v), max_step_s,
                time.process_time() - start)


def _message(run: _Run) -> str:
    return "" if run.settled else (
        f"readout still moving at {run.time_s[-1]:.4g} s after {run.extensions} extensions")


def _v_in(tile: Tile, t: np.ndarray) -> np.ndarray:
    """The largest row's source node (the input edge), as ngspice's runs report it."""
    peak = int(np.argmax(np.abs(tile.v_in)))
    return float(tile.v_in[peak]) * np.clip(t / tile.spec.driver.rise_s, 0.0, 1.0)


def simulate_array(tile: Tile, options: SimOptions, *, stop_s: float, max_step_s: float
                   ) -> ArrayRun:
    """:func:`spicecim.sim.column.simulate_array` in the batched engine: the same circuit on
    the same time points, extended as ngspice's run is until every readout has settled."""
    run = _settle(tile, options, stop_s, max_step_s)
    t = run.time_s
    power = {g: run.waves[g].sum(axis=0) if g in run.waves else np.zeros_like(t)
             for g in SOURCE_GROUPS}
    return ArrayRun("ok" if run.settled else "unsettled", _message(run), t, _v_in(tile, t),
                    run.waves["out"], power)


def array_transient_s(tile: Tile, options: SimOptions) -> tuple[float, float]:
    """The full array's stop time and maximum step: the longest stop and the finest step of
    its columns as the column engines size them (:func:`~spicecim.sim.column.time_scales`,
    each column behind its own row wires)."""
    stops, steps = [], []
    for j in range(tile.spec.cols):
        scales = time_scales(tile, isolated_drive(tile, j), j)
        steps.append(scales.max_step_s(options.points_per_scale) * options.max_step_scale)
        stops.append(scales.stop_s(options.full_scale_v, options.settle_tol_v))
    return float(max(stops)), float(min(steps))


def array_column_runs(tile: Tile, options: SimOptions, *, stop_s: float | None = None,
                      max_step_s: float | None = None) -> list[ColumnRun]:
    """Every column of one full-array transient as the column engines return it: its readout,
    the input edge, its amplifier's supply and its share of the rows' sources (what its cells
    and its stretch of each row wire draw), so measurement reads it as a column run. The stop
    time and step default to :func:`array_transient_s`."""
    default_stop, default_step = array_transient_s(tile, options)
    run = _settle(tile, options, default_stop if stop_s is None else stop_s,
                  default_step if max_step_s is None else max_step_s)
    t, n = run.time_s, tile.spec.cols
    v_in = _v_in(tile, t)
    described = (f"engine={ENGINE} full array method=gear reltol={options.reltol} vntol="
                 f"{options.settle_tol_v if options.vntol_v is None else options.vntol_v}"
                 f" | tran {run.max_step_s!r} {float(t[-1])!r} 0 {run.max_step_s!r}")
    out = []
    for j in range(n):
        key = hashlib.sha256(f"{tile.digest()} array {j} {ENGINE} {options.to_dict()}".encode())
        power = {g: run.waves[g][j] if g in run.waves else np.zeros_like(t)
                 for g in SOURCE_GROUPS}
        out.append(ColumnRun(
            j, "ok" if run.settled else "unsettled", 0, run.extensions, described,
            _message(run), key.hexdigest()[:16], float(t[-1]), run.max_step_s, run.cpu_s / n,
            t, run.waves["out"][j], v_in, power,
            time_scales(tile, isolated_drive(tile, j), j), False, parse_s=0.0,
            run_s=run.cpu_s / n))
    return out


def array_column_latencies(tile: Tile, options: SimOptions, *, stop_s: float | None = None,
                           max_step_s: float | None = None) -> np.ndarray:
    """Each column's latency (s) read off one full-array transient
    (:func:`array_column_runs`), measured as a column run is."""
    rise = tile.spec.driver.rise_s
    return np.array([measure_column(r.time_s, r.v_out_v, r.v_in_v, {}, tile.readout,
                                    rise_s=rise).latency_s
                     for r in array_column_runs(tile, options, stop_s=stop_s,
                                                max_step_s=max_step_s)])
