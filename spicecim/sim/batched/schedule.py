"""ngspice's time points for a transient, computed instead of simulated.

For the column decks (``.tran step stop 0 step``, every source a PWL ramp) ngspice 39's
``DCtran`` chooses its steps from the breakpoints and the maximum step alone: its truncation
error estimate asks for more than twice the last step (the most it grants) at every point of
these circuits, whose poles the maximum step resolves 8 to 16 times over
(:meth:`~spicecim.sim.scales.TimeScales.max_step_s`). The rules (``dctran.c``):

- the first step is ``min(stop / 100, step) / 10``, cut as at a breakpoint, then by 10 more;
- at a breakpoint the order drops to 1 (backward Euler) and the step becomes at most a tenth of
  the smaller of the step cut short to reach it and the gap to the next breakpoint;
- otherwise the step doubles, up to the maximum step, and is cut short to land on the next
  breakpoint; the order returns to 2 (Gear-2) after one step at order 1. The very first step is
  taken twice at order 1 (ngspice skips its error estimate once).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from spicecim.errors import check

_ULPS = 100
"""ngspice's ``AlmostEqualUlps(time, breakpoint, 100)``: a time this close is at the
breakpoint."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """Time points ``time_s`` (from 0) and the integration order of the step that reaches
    each (``order[0]`` is 0: the operating point)."""

    time_s: np.ndarray = field(repr=False)
    order: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        check(len(self.time_s) == len(self.order) >= 2, "schedule points", len(self.time_s),
              "two or more, one order each")


_NEAR = 1e-13
"""A relative gap above which two times are more than :data:`_ULPS` apart whatever their
exponent (an ulp is at most 2^-52 of the number): the bits need not be compared."""
_DOUBLE = struct.Struct("<d")
_INT = struct.Struct("<q")


def _at(t: float, bp: float, delmin: float) -> bool:
    if bp - t <= delmin:
        return True
    if abs(t - bp) > _NEAR * abs(bp):
        return False
    bits = _INT.unpack(_DOUBLE.pack(t))[0] - _INT.unpack(_DOUBLE.pack(bp))[0]
    return abs(bits) <= _ULPS


def ngspice_schedule(stop_s: float, step_s: float, max_step_s: float,
                     breakpoints_s: np.ndarray) -> Schedule:
    """The time points of ``.tran step_s stop_s 0 max_step_s`` whose sources have corners at
    ``breakpoints_s`` (0 and the stop time are added)."""
    check(stop_s > 0 and step_s > 0 and max_step_s > 0, "transient", (stop_s, step_s, max_step_s),
          "times > 0 s")
    inner = np.asarray(breakpoints_s, dtype=float)
    breaks = sorted({0.0, float(stop_s), *inner[(inner > 0) & (inner < stop_s)].tolist()})
    delmin = 1e-11 * max_step_s
    t, delta, save = 0.0, min(stop_s / 100, step_s) / 10, stop_s / 50
    times, orders = [0.0], [0]
    first, order = True, 1
    while True:
        while len(breaks) > 1 and t > breaks[0] and not _at(t, breaks[0], delmin):
            breaks.pop(0)
        if _at(t, breaks[0], delmin):
            order = 1
            gap = breaks[1] - breaks[0] if len(breaks) > 1 else save
            delta = min(delta, 0.1 * min(save, gap))
            if first:
                delta /= 10
            delta = max(delta, 2 * delmin)
            breaks.pop(0)
            if not breaks:
                break
        elif t + delta >= breaks[0]:
            save = delta
            delta = breaks[0] - t
        t = breaks[0] if _at(t + delta, breaks[0], delmin) else t + delta
        times.append(t)
        orders.append(order)
        if t >= stop_s or _at(t, stop_s, delmin):
            break
        if first:
            first = False  # ngspice keeps the first step and its order once
        else:
            order = 2
            delta = min(2 * delta, max_step_s)
    return Schedule(np.array(times), np.array(orders))
