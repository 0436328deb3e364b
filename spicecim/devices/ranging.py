"""The ADC range a front end can resolve in its window: the noise floor under a calibrated range.

A TIA's full scale is its amplifier's swing whatever the range current ``i_range`` it is sized
for (``R_f = swing / i_range``), so its LSB in volts, its sampling capacitor and its noise
budget ``(LSB/2)^2`` do not move with the range. The thermal noise of ``R_f`` and of the column's
cells, ``4 k T (R_f + G R_f^2)`` per hertz, grows as the range shrinks (``R_f`` grows), and the
sizing keeps it within the budget by narrowing the loop's bandwidth
(:func:`spicecim.devices.amplifier.noise_crossover_hz`). Below some range the bandwidth the noise
allows no longer settles a full-scale step to half an LSB in the read's window: the latency
then grows as the range's square (the README's "One ADC range"). A designer chooses the range
jointly with the noise: no smaller than that floor (:func:`noise_floor_a`). A workload whose
currents stay below the floor uses fewer of the ADC's codes; :func:`bits_given_up` says how many
bits that costs over the workload's own range.

In current terms the floor is the column's own noise: with ``n = 1 + G R_f >> 1`` the noise
current at the input, ``sqrt(4 k T (G + 1/R_f) B)`` over the noise bandwidth ``B``, must stay
within half an LSB of current, ``i_range / 2^(bits+1)``, and ``B`` is what the window needs.
"""

from __future__ import annotations

import dataclasses
import functools
import math

from spicecim.devices.amplifier import loop_settle_s
from spicecim.devices.readout import Readout, SizedReadout, size

FLOOR_SPAN = 1e4
"""The floor is looked for down to the worst case over this (a range 1e-4 of it is 13 bits
below it: beyond any ADC's resolution here)."""
FLOOR_RTOL = 1e-6
"""The bisection's tolerance on the log of the floor current: a part per million, the
precision the co-simulation and the accuracy pass agree to anyway (float32 activations)."""
_SETTLE_RTOL = 1e-6  # a settling time within this of the window meets it (the sizing's brentq)


def settles(sized: SizedReadout, settle_s: float) -> bool:
    """Whether ``sized`` settles a full-scale step to half an LSB within ``settle_s`` (a
    readout without an amplifier, or an integrator, always does: its noise sets no bandwidth)."""
    if sized.load is None or not math.isfinite(sized.load.r_f_ohm):
        return True
    return loop_settle_s(sized.readout.opamp, sized.load) <= settle_s * (1 + _SETTLE_RTOL)


def sized_at(readout: Readout, i_range_a: float, i_fs_a: float, v_read_v: float, rise_s: float,
             c_column_f: float) -> SizedReadout:
    """``readout`` sized for a tile (:func:`~spicecim.devices.readout.size`) with its ADC
    range at ``i_range_a``."""
    return size(dataclasses.replace(readout, i_range_a=i_range_a), i_fs_a, v_read_v, rise_s,
                c_column_f)


@functools.lru_cache(maxsize=4096)
def noise_floor_a(readout: Readout, i_fs_a: float, v_read_v: float, rise_s: float,
                  c_column_f: float = 0.0) -> float:
    """The least range current at which ``readout``, sized for it on a tile whose worst-case
    column current is ``i_fs_a``, settles a full-scale step to half an LSB within its window
    with its sampled noise within half an LSB (the sizing keeps the noise there at any range).
    Where even the worst case misses the window (the switch's own pole, or the noise of a column
    of small conductance), the least range that settles as fast as the worst case does. 0 where
    no range is too small (no amplifier, an integrator, or a window of no time). Independent of
    any calibrated range, so that every caller finds the same floor for the same tile."""
    window = readout.t_settle_s
    top = sized_at(readout, i_fs_a, i_fs_a, v_read_v, rise_s, c_column_f)
    if top.load is None or not math.isfinite(top.load.r_f_ohm) or not math.isfinite(window):
        return 0.0
    target = max(window, loop_settle_s(top.readout.opamp, top.load))

    def ok(log_i: float) -> bool:
        return settles(sized_at(readout, math.exp(log_i), i_fs_a, v_read_v, rise_s,
                                c_column_f), target)

    lo, hi = math.log(i_fs_a / FLOOR_SPAN), math.log(i_fs_a)
    if ok(lo):
        return 0.0
    while hi - lo > FLOOR_RTOL:  # the settling time falls as the range grows
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return math.exp(hi)


def floored_range_a(readout: Readout, i_calibrated_a: float, i_fs_a: float, v_read_v: float,
                    rise_s: float, c_column_f: float = 0.0) -> float:
    """The range a designer sizes the front end for: the calibrated one, raised to
    :func:`noise_floor_a` where the front end could not settle at it (no higher than the worst
    case); ``i_calibrated_a`` unchanged where it settles (the floor is not looked for)."""
    if i_calibrated_a <= 0 or i_calibrated_a >= i_fs_a or settles(
            sized_at(readout, i_calibrated_a, i_fs_a, v_read_v, rise_s, c_column_f),
            readout.t_settle_s):
        return i_calibrated_a
    return max(i_calibrated_a, noise_floor_a(readout, i_fs_a, v_read_v, rise_s, c_column_f))


def bits_given_up(i_range_a: float, i_calibrated_a: float) -> float:
    """The ADC's bits a range above the workload's calibrated one leaves unused:
    ``log2(i_range / i_calibrated)`` (0 where the range is the calibrated one)."""
    if i_calibrated_a <= 0 or i_range_a <= i_calibrated_a:
        return 0.0
    return math.log2(i_range_a / i_calibrated_a)
