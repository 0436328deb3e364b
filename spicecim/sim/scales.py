"""The time scales and options a column transient runs on, shared by both engines (ngspice,
:mod:`spicecim.sim.column`; the batched engine, :mod:`spicecim.sim.batched`): each column's
time constants (:func:`time_scales`), the maximum step and first stop time they give
(:func:`transient_window`), how a run is tuned (:class:`SimOptions`), and when a settled
waveform is rerun at a finer step (:func:`overshoots`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from spicecim.errors import check
from spicecim.netlist.crossbar import RowDrive
from spicecim.netlist.spec import Tile

REFINED_STEP = 0.1
"""The step of a rerun when the first run settles through an overshoot (:func:`overshoots`)."""


@dataclass(frozen=True, slots=True)
class TimeScales:
    """The time constants that shape a column's response, each an Elmore (first-moment)
    estimate, which bounds the slowest pole of an RC tree from above.

    ``row_s``: driver and row wire charging the row's capacitance; ``column_s``: the column wire
    ladder; ``frontend_s``: the front end (``tia``: the closed-loop pole
    ``n / (2 pi gbw (1 + n / a0))`` at noise gain ``n = 1 + r_f G_column``, plus the column's
    capacitance against the feedback and cells in parallel; ``integrator``: the amplifier's pole
    at unity feedback; ``passive``: the column's capacitance against the sense resistor and the
    cells in parallel); ``sample_hold_s``: the sampling capacitor through its switch (and, for
    ``passive``, the sense node's resistance); ``window_s``: the integrator's window (the
    sample-and-hold holds at its end), 0 for the others.
    """

    rise_s: float
    row_s: float
    column_s: float
    frontend_s: float
    sample_hold_s: float
    window_s: float = 0.0

    RELEVANT = 0.1
    """Poles within this fraction of the total are resolved by the time step. A faster pole's
    own decay ends within a step; what its lag behind the slower ones adds to the latency is
    not exact under Gear's rule (a 91 ps sample-and-hold behind a 3.1 ns amplifier, 2.9 % of
    the total, unresolved: the latency 0.3 % short of a 10x finer step's), but small against
    the engines' 0.5 % agreement budget (docs/step_rule.md)."""
    MINORITY = 0.5
    """A relevant pole other than the largest is resolved at this fraction of
    ``points_per_scale``: it carries a smaller share of the latency, and so of the error (the
    default 256-row column: 596 time points instead of 1166, latency within 0.04 % of a 10x
    finer step's; docs/step_rule.md). A sample-and-hold that opens within the run (the
    integrator's) needs no finer step: ngspice cuts its step at the switching edge's
    breakpoints (:func:`~spicecim.netlist.crossbar.edge_corners_s`)."""

    @property
    def tau_s(self) -> float:
        return self.row_s + self.column_s + self.frontend_s + self.sample_hold_s

    @property
    def tail_s(self) -> float:
        """The stretch at the end of a run over which the readout must not move to count as
        settled: a time constant, and at least half the edge (a few maximum steps)."""
        return max(self.tau_s, 0.5 * self.rise_s)

    def as_dict(self) -> dict[str, float]:
        return {"rise_s": self.rise_s, "row_s": self.row_s, "column_s": self.column_s,
                "frontend_s": self.frontend_s, "sample_hold_s": self.sample_hold_s,
                "window_s": self.window_s}

    def dominant(self) -> str:
        """Which of row, column, front end and sample-and-hold is the largest."""
        parts = {"row": self.row_s, "column": self.column_s, "frontend": self.frontend_s,
                 "sample_hold": self.sample_hold_s}
        return max(parts, key=parts.__getitem__)

    def max_step_s(self, points_per_scale: int) -> float:
        """``points_per_scale`` steps per the largest time constant the settling depends on,
        and ``MINORITY`` of that per each other one (at least :data:`RELEVANT` of the total):
        every pole that shapes the settling is resolved. The edge is resolved by breakpoints
        instead (:class:`~spicecim.netlist.crossbar.Transient` ``edge_points``)."""
        relevant = [tau for tau in (self.row_s, self.column_s, self.frontend_s,
                                    self.sample_hold_s) if tau >= self.RELEVANT * self.tau_s]
        if not relevant:
            return self.rise_s / points_per_scale
        largest = max(relevant)
        return min(tau / (points_per_scale * (1.0 if tau == largest else self.MINORITY))
                   for tau in relevant)

    def stop_s(self, full_scale_v: float, settle_tol_v: float) -> float:
        """Edge and window; the time the slowest pole takes to bring a full-scale error under
        the tolerance (at least half an edge: the integrator takes a few steps to turn the
        edge's corner); then the settling tail."""
        decades = math.log(max(full_scale_v / settle_tol_v, math.e))
        return (self.rise_s + self.window_s + max(self.tau_s * decades, 0.5 * self.rise_s)
                + self.tail_s)


def time_scales(tile: Tile, drive: RowDrive, j: int | None = None) -> TimeScales:
    """Column ``j``'s time constants (``None``: the tile's slowest column's)."""
    spec = tile.spec
    w, n, m = spec.wire, spec.cols, spec.rows
    sized = tile.readout
    r_row = float(np.max(drive.r_th_ohm))
    # Driver charging the whole row, each segment charging the wire beyond it (farthest column).
    row = spec.driver.r_out_ohm * n * w.c_row_f + w.r_row_ohm * w.c_row_f * n * (n + 1) / 2
    column = w.r_col_ohm * w.c_col_f * m * (m + 1) / 2
    g_columns = np.asarray(tile.g_s, dtype=float).sum(axis=0)
    g_cells = float(g_columns.max() if j is None else g_columns[j])
    # The cells as the column end sees them: in series with the rows' and the column's wires.
    g_path = 1.0 / (1.0 / g_cells + r_row / m + m * w.r_col_ohm)
    c_column = m * w.c_col_f
    fe = sized.readout.front.time_constants(sized, g_cells, g_path, c_column)
    return TimeScales(spec.driver.rise_s, float(row), float(column), float(fe.frontend_s),
                      float(fe.sample_hold_s), float(fe.window_s))


@dataclass(frozen=True, slots=True)
class SimOptions:
    """How a column transient is run.

    ``band_v``: the measurement's settling band (half an LSB); ``settle_tol_v``: a readout drift
    below this over the settling tail counts as settled (the band divided by a margin);
    ``full_scale_v`` sizes the first stop-time estimate; the maximum step is ``max_step_scale``
    times the smallest relevant time constant over ``points_per_scale``
    (:meth:`TimeScales.max_step_s`); the input edge is cut into ``edge_points`` straight pieces,
    each a breakpoint ngspice steps on.

    ``method`` is Gear (BDF2) at ``points_per_scale`` = 16 steps per relevant time constant:
    on a 256-row column its latencies are within 0.6 % of a run at 100 steps per time
    constant. The trapezoidal rule is as accurate at 6 steps (its error constant is 1/12, BDF2's
    2/9, and the settle test reads amplitude errors against half an LSB), but it is not
    L-stable: the wires' and rows' picosecond poles, far shorter than the step, ring under it,
    +-2 % on every step of a 32x32 tile's driver current, which biases the energy integral and
    the settled power. Gear damps them.
    ngspice's ``reltol`` and ``abstol`` keep their defaults; ``vntol_v`` (default:
    ``settle_tol_v``) is tightened so the solution is finer than the settling test.

    ``pivtol``: Sparse 1.3 rejects pivots below 1e-13; a state node held at DC by a tiny
    conductance (as in an earlier version of the memristor model, 1e-15 S) falls under it, and
    the off-diagonal pivots taken instead fill the matrix densely (a 64-row column: 2.6 s
    instead of 0.04 s). ``skip_op`` starts the transient from the all-zero state (``uic``)
    instead of an operating point: the same state, since every source is 0 at t = 0, and the
    way round a model whose DC matrix Sparse orders badly (ngspice then stores no t = 0 point;
    it is added).
    """

    settle_tol_v: float
    full_scale_v: float
    band_v: float
    points_per_scale: int = 16
    edge_points: int = 5
    method: str = "gear"
    reltol: float = 1e-3
    vntol_v: float | None = None
    abstol_a: float = 1e-12
    pivtol: float = 1e-20
    skip_op: bool = False
    max_extensions: int = 4
    max_step_scale: float = 1.0

    def __post_init__(self) -> None:
        check(self.settle_tol_v > 0, "settle_tol_v", self.settle_tol_v, "a voltage > 0 V")
        check(self.full_scale_v > 0, "full_scale_v", self.full_scale_v, "a voltage > 0 V")
        check(self.band_v > 0, "band_v", self.band_v, "a voltage > 0 V")
        for name in ("points_per_scale", "edge_points"):
            check(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")
        for name in ("reltol", "abstol_a", "pivtol", "max_step_scale"):
            check(getattr(self, name) > 0, name, getattr(self, name), "a value > 0")
        check(self.vntol_v is None or self.vntol_v > 0, "vntol_v", self.vntol_v, "None or > 0 V")
        check(self.max_extensions >= 0, "max_extensions", self.max_extensions, "an integer >= 0")

    def to_dict(self) -> dict:
        return asdict(self)



def transient_window(tile: Tile, j: int, drive: RowDrive, options: SimOptions,
                     step_scale: float = 1.0) -> tuple[float, float]:
    """Column ``j``'s first stop time and maximum step (both engines run on these)."""
    scales = time_scales(tile, drive, j)
    step = float(scales.max_step_s(options.points_per_scale) * options.max_step_scale
                 * step_scale)
    return float(scales.stop_s(options.full_scale_v, options.settle_tol_v)), step


def overshoots(t: np.ndarray, v: np.ndarray, band_v: float) -> bool:
    """Whether ``v`` enters its final band only after crossing to its far side by more than the
    band: a settle time read off such a waveform may sit on an overshoot the integrator made
    (a step far longer than a pole it damps), so the run is repeated at a finer step."""
    if len(v) < 3:
        return False
    err = np.asarray(v, float) - float(v[-1])
    start = err[0]
    if abs(start) <= band_v:
        return False
    beyond = np.sign(err) == -np.sign(start)
    return bool(np.any(beyond & (np.abs(err) > band_v)))
