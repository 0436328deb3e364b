"""The column front ends as classes: each one's answers to what the rest of spicecim asks of a
front end (whether an amplifier holds the column end, how it is sized, its time constants, its
unknowns in the batched engine, when its sample-and-hold opens), in one place per front end.

A readout specification names its front end by a string (``Readout.front_end``: what files,
TOML and the command line hold); :func:`front_end` resolves the name to its class once
(``Readout.front``), and nothing compares the string again. The SPICE lines of each front end
live in :mod:`spicecim.netlist.readout`, keyed by these classes (devices import no netlist).

- :class:`TiaFrontEnd` (``tia``): an op-amp holds the column at virtual ground; its feedback
  resistor ``r_f`` turns the column current into ``v = -I r_f``.
- :class:`IntegratorFrontEnd` (``integrator``): the op-amp integrates the column current on
  ``c_int`` from t = 0 for ``t_int``, then the sample-and-hold holds: ``v = -Q / c_int``.
- :class:`PassiveFrontEnd` (``passive``): the column current flows into ``r_sense`` to ground;
  the column end rises by the signal: ``v = I r_sense``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from spicecim.errors import check

if TYPE_CHECKING:
    from spicecim.devices.readout import Readout, SizedReadout


@dataclass(frozen=True, slots=True)
class Sizing:
    """A front end's values resolved for a tile: the element it sized (the others None) and
    its DC gain, volts at the ADC input per ampere of column current (sign dropped)."""

    r_f_ohm: float | None
    t_int_s: float | None
    r_sense_ohm: float | None
    gain_ohm: float


@dataclass(frozen=True, slots=True)
class TimeConstants:
    """A front end's time constants for one column: its own settling, the sample-and-hold's
    (``sample_hold_s``), and the window before it holds (0: it tracks)."""

    frontend_s: float
    sample_hold_s: float
    window_s: float


@dataclass(frozen=True, slots=True)
class FrontEnd(ABC):
    """What every front end answers. ``unknowns``: its own nodes in the batched engine besides
    the column end (an amplifier's output resistance adds its pin there)."""

    name: ClassVar[str]
    has_amplifier: ClassVar[bool]
    unknowns: ClassVar[int]

    @abstractmethod
    def size(self, readout: Readout, i_range_a: float, v_read_v: float,
             rise_s: float) -> Sizing:
        """The automatic values of ``readout`` for a tile whose column current at the ADC's
        range is ``i_range_a``, read at ``v_read_v`` with inputs rising over ``rise_s``."""

    @abstractmethod
    def time_constants(self, sized: SizedReadout, g_cells_s: float, g_path_s: float,
                       c_column_f: float) -> TimeConstants:
        """The time constants of a column of cells ``g_cells_s`` (``g_path_s`` with the wires
        in series) and wire capacitance ``c_column_f``."""

    def hold_time_s(self, sized: SizedReadout) -> float | None:
        """When the sample-and-hold opens; None: it tracks."""
        return None


@dataclass(frozen=True, slots=True)
class AmplifierFrontEnd(FrontEnd):
    """A front end whose op-amp holds the column end at virtual ground through a feedback
    element from the column end ``b`` to the amplifier's output ``f``. Its batched unknowns:
    the amplifier's gain node and the sampling capacitor."""

    has_amplifier: ClassVar[bool] = True
    unknowns: ClassVar[int] = 2

    @abstractmethod
    def feedback(self, v_b: Any, v_f: Any, r_f_ohm: Any, c_int_f: Any) -> tuple[Any, Any]:
        """The current leaving ``b`` through the feedback element, and the charge it holds on
        ``b``'s side (any array type: the batched engine passes JAX values)."""


@dataclass(frozen=True, slots=True)
class TiaFrontEnd(AmplifierFrontEnd):
    """A transimpedance amplifier: sized so the range current reaches the op-amp's swing,
    ``r_f = vswing / i_range``; it settles with the closed-loop time constant at the noise gain
    ``1 + r_f G_cells`` plus the column capacitance's pole."""

    name: ClassVar[str] = "tia"

    def size(self, readout: Readout, i_range_a: float, v_read_v: float,
             rise_s: float) -> Sizing:
        r_f = readout.r_f_ohm or readout.opamp.v_swing_v / i_range_a
        return Sizing(r_f, None, None, r_f)

    def time_constants(self, sized: SizedReadout, g_cells_s: float, g_path_s: float,
                       c_column_f: float) -> TimeConstants:
        assert sized.r_f_ohm is not None
        # The wires in series with the cells only lower the noise gain: the cells' conductance
        # bounds it (and so the amplifier's time constant) from above.
        noise_gain = 1.0 + sized.r_f_ohm * g_cells_s
        frontend = (sized.readout.opamp.closed_loop_tau_s(noise_gain)
                    + c_column_f / (g_path_s + 1.0 / sized.r_f_ohm))
        return TimeConstants(frontend, sized.sample_hold_tau_s, 0.0)

    def feedback(self, v_b: Any, v_f: Any, r_f_ohm: Any, c_int_f: Any) -> tuple[Any, Any]:
        return (v_b - v_f) / r_f_ohm, 0.0 * v_b


@dataclass(frozen=True, slots=True)
class IntegratorFrontEnd(AmplifierFrontEnd):
    """A charge integrator: sized so the range current's charge over the window reaches the
    swing, ``t_int = c_int vswing / i_range`` plus half the input edge (the charge lost while
    the inputs rise); the sample-and-hold opens at the window's end."""

    name: ClassVar[str] = "integrator"

    def size(self, readout: Readout, i_range_a: float, v_read_v: float,
             rise_s: float) -> Sizing:
        t_int = (readout.t_int_s
                 or readout.c_int_f * readout.opamp.v_swing_v / i_range_a + 0.5 * rise_s)
        gain = (t_int - 0.5 * rise_s) / readout.c_int_f
        check(gain > 0, "t_int_s", t_int, f"> half the input edge ({0.5 * rise_s} s)")
        return Sizing(None, t_int, None, gain)

    def time_constants(self, sized: SizedReadout, g_cells_s: float, g_path_s: float,
                       c_column_f: float) -> TimeConstants:
        assert sized.t_int_s is not None
        ro = sized.readout
        frontend = ro.opamp.closed_loop_tau_s(1.0 + c_column_f / ro.c_int_f)
        return TimeConstants(frontend, sized.sample_hold_tau_s, sized.t_int_s)

    def hold_time_s(self, sized: SizedReadout) -> float | None:
        return sized.t_int_s

    def feedback(self, v_b: Any, v_f: Any, r_f_ohm: Any, c_int_f: Any) -> tuple[Any, Any]:
        # the reset switch is open for every t > 0
        return 0.0 * v_b, c_int_f * (v_b - v_f)


@dataclass(frozen=True, slots=True)
class PassiveFrontEnd(FrontEnd):
    """A sense resistor to ground, no amplifier: sized for a full scale of
    ``full_scale_fraction`` of the read voltage; the column end's node (cells, wires and sense
    resistor in parallel) charges the column capacitance, and the sample-and-hold sees that
    node's resistance in series with its switch. Its batched unknown: the sampling capacitor."""

    name: ClassVar[str] = "passive"
    has_amplifier: ClassVar[bool] = False
    unknowns: ClassVar[int] = 1

    def size(self, readout: Readout, i_range_a: float, v_read_v: float,
             rise_s: float) -> Sizing:
        r_sense = readout.r_sense_ohm or readout.full_scale_fraction * v_read_v / i_range_a
        return Sizing(None, None, r_sense, r_sense)

    def time_constants(self, sized: SizedReadout, g_cells_s: float, g_path_s: float,
                       c_column_f: float) -> TimeConstants:
        assert sized.r_sense_ohm is not None
        r_node = 1.0 / (g_path_s + 1.0 / sized.r_sense_ohm)
        return TimeConstants(c_column_f * r_node,
                             (sized.readout.sample_hold.r_on_ohm + r_node) * sized.c_s_f, 0.0)


_BY_NAME: dict[str, FrontEnd] = {fe.name: fe for fe in (
    TiaFrontEnd(), IntegratorFrontEnd(), PassiveFrontEnd())}
FRONT_ENDS = tuple(_BY_NAME)
"""Every front end's name, as specifications, files and the command line spell it."""


def front_end(name: str) -> FrontEnd:
    """The front end called ``name`` (one of :data:`FRONT_ENDS`)."""
    check(name in _BY_NAME, "front_end", name, f"one of {FRONT_ENDS}")
    return _BY_NAME[name]
