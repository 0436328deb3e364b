"""The column readout as SPICE text: front end, sample-and-hold and their supplies.

Node names (column ``j``): ``b<j>`` the column end (the virtual ground of ``tia`` and
``integrator``), ``f<j>`` the front end's output, ``out<j>`` the sampling capacitor: the ADC's
input. Sources: ``Vdd`` and ``Vss``, the amplifiers' split supply (:data:`FRONTEND_SOURCES`).

The integrator's reset and the sample-and-hold's hold are time-controlled conductances, not
clocked switches: ``g(t)`` moves between its on and off values over :data:`SWITCH_EDGE_S`
(a tanh), so Newton never meets a step; the energy the switches' clocks take is outside the
circuit (:attr:`spicecim.devices.readout.SampleHold.clock_energy_j`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from spicecim.devices.frontends import (
    FrontEnd,
    IntegratorFrontEnd,
    PassiveFrontEnd,
    TiaFrontEnd,
)
from spicecim.devices.library import fmt
from spicecim.devices.readout import SizedReadout

FRONTEND_SOURCES = ("vdd", "vss")
SWITCH_EDGE_S = 10e-12
"""The hold and reset edges: a few gate delays of the PTM 45 nm switches (design choice)."""
SWITCH_OFF_OHM = 1e12
"""An open switch: leakage well below any column current (design choice)."""


def bottom_node(j: int) -> str:
    return f"b{j}"


def output_node(j: int) -> str:
    return f"out{j}"


def hold_time_s(sized: SizedReadout) -> float | None:
    """When the sample-and-hold opens (the integrator's window end); None: it tracks."""
    return sized.readout.front.hold_time_s(sized)


def model_lines(sized: SizedReadout) -> list[str]:
    if not sized.readout.front.has_amplifier:
        return []
    return [f"* --- readout amplifier: {sized.readout.opamp.name}",
            sized.readout.opamp.subckt_text().rstrip()]


def supply_lines(sized: SizedReadout) -> list[str]:
    """The amplifiers' supply, split about the virtual ground (none for ``passive``)."""
    if not sized.readout.front.has_amplifier:
        return []
    half = 0.5 * sized.readout.opamp.vdd_v
    return ["* --- readout supply (split about the virtual ground)",
            f"Vdd vdd 0 DC {fmt(half)}", f"Vss vss 0 DC {fmt(-half)}"]


def switch_conductance_s(t_s: Any, r_on_ohm: float, open_at_s: float | None,
                         xp: Any = np) -> Any:
    """The conductance :func:`_switch` writes at time ``t_s`` (``xp`` numpy or
    ``jax.numpy``): ``1 / r_on`` for a switch that never opens."""
    g_on = 1.0 / r_on_ohm
    if open_at_s is None:
        return g_on + 0.0 * t_s
    g_off = 1.0 / SWITCH_OFF_OHM
    closed = 0.5 * (1 - xp.tanh((t_s - open_at_s) / (SWITCH_EDGE_S / 4)))
    return g_off + (g_on - g_off) * closed


def _switch(name: str, a: str, b: str, r_on: float, open_at: float | None) -> str:
    """A switch of on-resistance ``r_on``: a resistor, or a conductance that opens at
    ``open_at``."""
    if open_at is None:
        return f"R{name} {a} {b} {fmt(r_on)}"
    g_on, g_off = 1.0 / r_on, 1.0 / SWITCH_OFF_OHM
    closed = f"0.5*(1-tanh((time-{fmt(open_at)})/{fmt(SWITCH_EDGE_S / 4)}))"
    return f"B{name} {a} {b} I = v({a},{b})*({fmt(g_off)}+{fmt(g_on - g_off)}*{closed})"


def _amplifier(sized: SizedReadout, j: int, b: str, f: str) -> str:
    """The op-amp from the column end ``b`` (its inverting input) to ``f``."""
    amp = sized.readout.opamp
    return f"Xa{j} 0 {b} {f} vdd vss {amp.name} {amp.instance_params()}"


def _tia(sized: SizedReadout, j: int, b: str, f: str) -> tuple[list[str], str]:
    assert sized.r_f_ohm is not None
    return [_amplifier(sized, j, b, f), f"Rf{j} {b} {f} {fmt(sized.r_f_ohm)}"], f


def _integrator(sized: SizedReadout, j: int, b: str, f: str) -> tuple[list[str], str]:
    # The reset switch shorts the capacitor for the operating point (t <= 0) and opens as the
    # inputs start: without it the DC solution has no feedback path.
    return [_amplifier(sized, j, b, f), f"Ci{j} {b} {f} {fmt(sized.readout.c_int_f)}",
            f"Brst{j} {b} {f} I = v({b},{f})*(time > 0 ? 0 : 1)"], f


def _passive(sized: SizedReadout, j: int, b: str, f: str) -> tuple[list[str], str]:
    assert sized.r_sense_ohm is not None
    return [f"Rs{j} {b} 0 {fmt(sized.r_sense_ohm)}"], b  # the sample-and-hold reads b itself


FRONT_END_LINES: dict[type[FrontEnd], Callable[[SizedReadout, int, str, str],
                                               tuple[list[str], str]]] = {
    TiaFrontEnd: _tia, IntegratorFrontEnd: _integrator, PassiveFrontEnd: _passive}
"""Each front end's elements from the column end ``b`` towards ``f``: ``(lines, the node the
sample-and-hold reads)``."""


def readout_lines(sized: SizedReadout, j: int) -> list[str]:
    """Column ``j``'s front end and sample-and-hold, from ``b<j>`` to ``out<j>``."""
    ro = sized.readout
    b, out = bottom_node(j), output_node(j)
    elements, f = FRONT_END_LINES[type(ro.front)](sized, j, b, f"f{j}")
    lines = [f"* --- readout of column {j}: {ro.front_end}, sample-and-hold", *elements]
    hold = hold_time_s(sized)
    lines.append(_switch(f"h{j}", f, out, ro.sample_hold.r_on_ohm, hold))
    lines.append(f"Cs{j} {out} 0 {fmt(sized.c_s_f)}")
    return lines
