"""The column amplifier: an op-amp macromodel (``device_models/readout/<name>.lib``), its sizing
for the load it drives, its loop gain and the noise it samples.

**The equations** (``opamp_2s.lib``; ``opamp_1p.lib`` is the same with ``rout = 0``, no slew
limit and no noise). The first stage is a transconductance ``gm1`` limited to the tail current
``i_tail`` (``i = i_tail tanh(gm1 v_d / i_tail)``, so the Miller capacitor ``Cc`` charges at most
at the slew rate ``sr = i_tail / Cc``) into ``R1 || Cc``: the DC gain ``a0`` and the dominant pole
``gbw / a0``. The output is that voltage, compressed smoothly towards ``+-1.25 vswing``, behind
the output resistance ``rout = 1 / gm2``: above the dominant pole the Miller capacitor closes a
local loop round the output stage, whose output resistance is then ``1 / gm2`` (pole splitting;
Razavi, ch. 10). With the load's capacitance that resistance makes the non-dominant pole, so it
moves with the load as a two-stage amplifier's does. The input-referred noise density
``S_v = (32/3) k T / gm1`` (the input pair and its mirror, ``gamma = 2/3``, ``gm3 = gm1``) is a
resistor ``rn = S_v / (4 k T)`` in series with the non-inverting input. The supply delivers
``iq = i_tail + i2`` rail to rail and the output current from the rail it flows from.

**Sizing** (:func:`design`, from the load and the accuracy it must reach in the time the
schedule gives it, never from a latency): the Miller capacitor takes ``noise_share`` of the
sampled noise budget ``(LSB/2)^2``: the amplifier's output noise
``S_v n^2 (pi/2) f_c = (8/3) k T n / Cc`` at noise gain ``n`` and crossover ``f_c``. The output
stage's bias ``i2`` is at least the full-scale current it sinks through the feedback
(``i2 = i_fs``: class A over the whole range; *the load*); ``gm2 = (gm/Id)_out i2``, ``rout =
1 / gm2``. Its crossover can reach ``f_top``, the highest at which the non-dominant pole
``p2 = 1 / (2 pi (rout + r_switch) C_s)`` and the Miller zero ``gm2 / (2 pi Cc)`` leave
``phase_margin_deg``, at most a tenth of the zero and at most critical damping of the closed
loop (:func:`closed_loop`; above it the step rings and reaches half an LSB no sooner). A
full-scale step must settle to half an LSB (``2^-(bits+1)`` of it) within the load's window
``t_settle_s`` (*the settling*; :func:`settle_time_s` of :func:`closed_loop`) at a crossover
no higher than the noise allows (:func:`noise_crossover_hz`): where ``f_top`` at ``i2 = i_fs``
is too slow, ``i2`` is raised until it is not. Where no bias is enough (the switch's own
``r_switch C_s``, or the noise, is too slow), ``i2`` is raised only as far as the noise's
crossover, and the readout says the window is out of reach. The crossover is then the least
that settles in the window (``f_top`` without a window), ``gbw = n f_c / d`` with ``d`` the
output resistance's divider against the feedback at DC, ``gm1 = 2 pi gbw Cc``, ``i_tail =
2 gm1 / (gm/Id)_in``, and at least ``Cc V_fs 2 pi f_c`` so that the step's steepest slope does
not slew. The DC gain is the model file's; :attr:`AmpLoad` reports the gain error ``n / a0`` in
LSB (:func:`gain_error_lsb`).

**Phase margin** (:func:`phase_margin_deg`): from the loop gain of the sized amplifier in its
circuit: ``T(s) = a0 (1 - s/z) / (1 + s a0 / (2 pi gbw)) H(s)`` with ``H`` the output resistance
into the load (the switch and sampling capacitor) and the feedback divider (``R_f`` or ``C_int``
against the column's conductance and capacitance); the margin is ``180 + arg T`` where
``|T| = 1``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq

from spicecim.devices.library import ASSIGN, PARAMS_LINE, header_value, read_lib, source_of
from spicecim.devices.settling import closed_loop, settle_time_s
from spicecim.errors import SpecError, check
from spicecim.units import param

BOLTZMANN_J_PER_K = 1.380649e-23
"""Exact by the definition of the kelvin (SI, 2019)."""
ROOM_TEMPERATURE_K = 300.0
"""The temperature every noise figure is quoted at (design choice: room temperature)."""
GAMMA = 2.0 / 3.0
"""The channel thermal-noise factor of a long-channel MOSFET in saturation (Razavi, Design of
Analog CMOS Integrated Circuits, 2nd ed., ch. 7: 4 k T gamma gm, gamma = 2/3)."""
ZERO_RATIO = 10.0
"""The Miller zero at least this many times the crossover (Palmisano et al. 2001; Allen &
Holberg's rule gm2 >= 10 gm1 at unity feedback)."""


@dataclass(frozen=True, slots=True)
class OpAmp:
    """A voltage-feedback op-amp macromodel (the module docstring gives its equations).

    ``a0`` the DC gain (the model file's), ``gbw_hz`` the gain-bandwidth product, ``v_swing_v``
    the linear output range on one side of the virtual ground, ``i_q_a`` the quiescent supply
    current (the tail ``i_tail_a`` and the output stage ``i_out_a``), ``vdd_v`` the supply
    (split about the virtual ground), ``r_out_ohm`` the output resistance, ``slew_v_per_s``
    the slew rate, ``noise_v2_per_hz`` the input-referred noise density, ``c_c_f`` the Miller
    capacitor. A ``None`` is sized for the load by :func:`design`; ``gm_id_in_per_v``,
    ``gm_id_out_per_v``, ``phase_margin_deg`` and ``noise_share`` are that sizing's design
    choices."""

    name: str
    a0: float
    # 10 THz is beyond any transistor's f_T
    gbw_hz: float | None = dataclasses.field(metadata=param(
        "--gbw", "Readout amplifier gain-bandwidth product", unit="Hz", accepted=(1e3, 1e13),
        sized="the highest its output stage allows at 60 degrees of phase margin in its load"))
    v_swing_v: float
    i_q_a: float | None
    vdd_v: float
    source: str = ""
    r_out_ohm: float | None = 0.0
    slew_v_per_s: float | None = math.inf
    noise_v2_per_hz: float | None = 0.0
    i_tail_a: float | None = 0.0
    i_out_a: float | None = 0.0
    c_c_f: float | None = 0.0
    gm_id_in_per_v: float = 15.0
    gm_id_out_per_v: float = 10.0
    phase_margin_deg: float = 60.0
    noise_share: float = 0.5

    def __post_init__(self) -> None:
        check(math.isfinite(self.a0) and self.a0 > 1, "a0", self.a0, "a finite gain > 1 V/V")
        check(math.isfinite(self.vdd_v) and self.vdd_v > 0, "vdd_v", self.vdd_v,
              "a finite supply > 0 V")
        check(math.isfinite(self.v_swing_v) and 0 < self.v_swing_v < self.vdd_v / 2,
              "v_swing_v", self.v_swing_v, f"in (0, vdd/2 = {self.vdd_v / 2}) V")
        for name in ("gbw_hz", "slew_v_per_s"):
            value = getattr(self, name)
            check(value is None or value > 0, name, value, "None (sized) or a value > 0")
        for name in ("i_q_a", "r_out_ohm", "noise_v2_per_hz", "i_tail_a", "i_out_a", "c_c_f"):
            value = getattr(self, name)
            check(value is None or (math.isfinite(value) and value >= 0), name, value,
                  "None (sized) or a finite value >= 0")
        for name in ("gm_id_in_per_v", "gm_id_out_per_v"):
            value = getattr(self, name)
            check(math.isfinite(value) and 1 <= value <= 40, name, value,
                  "a transconductance efficiency in [1, 40] /V")
        check(30 <= self.phase_margin_deg < 90, "phase_margin_deg", self.phase_margin_deg,
              "in [30, 90) degrees")
        check(0 < self.noise_share < 1, "noise_share", self.noise_share, "a fraction in (0, 1)")

    @property
    def resolved(self) -> bool:
        """Whether every sized value is set (the amplifier can be netlisted)."""
        return None not in (self.gbw_hz, self.i_q_a, self.r_out_ohm, self.slew_v_per_s,
                            self.noise_v2_per_hz)

    @property
    def noise_r_ohm(self) -> float:
        """The resistor whose thermal noise is the input-referred noise density."""
        assert self.noise_v2_per_hz is not None
        return self.noise_v2_per_hz / (4 * BOLTZMANN_J_PER_K * ROOM_TEMPERATURE_K)

    def instance_params(self) -> str:
        """The ``params:`` of an instance: those the model file takes."""
        check(self.resolved, "op-amp", self.name, "sized for its load (devices.amplifier.design)")
        values = {"a0": self.a0, "gbw": self.gbw_hz, "sr": self.slew_v_per_s,
                  "rout": self.r_out_ohm, "rn": self.noise_r_ohm if self.noise_v2_per_hz else 0.0,
                  "vswing": self.v_swing_v, "iq": self.i_q_a, "vdd": self.vdd_v}
        return " ".join(f"{k}={values[k]!r}" for k in _lib_params(self.name))

    def subckt_text(self) -> str:
        return read_lib("readout", self.name)

    @property
    def gm_s(self) -> float:
        """The first stage's normalising transconductance ``gm`` (the .lib's ``.param``): with
        the gain node's resistance ``a0 / gm`` and capacitance ``gm / (2 pi gbw)``."""
        match = _GM_PARAM.search(self.subckt_text())
        if match is None:
            raise SpecError(f"op-amp model {self.name!r} has no '.param gm=...' line")
        return float(match.group(1))

    @property
    def slew_current_a(self) -> float:
        """The first stage's current limit ``isl = sr C1`` (the .lib's ``.param``; ``inf``
        for a model without a slew limit, whose first stage is linear)."""
        if "sr" not in _lib_params(self.name):
            return math.inf
        assert self.slew_v_per_s is not None and self.gbw_hz is not None
        return self.slew_v_per_s * self.gm_s / (2 * math.pi * self.gbw_hz)

    def first_stage_a(self, v_d: Any, xp: Any = np) -> Any:
        """:func:`first_stage_a` of this amplifier."""
        isl = self.slew_current_a
        return first_stage_a(v_d, self.gm_s, None if math.isinf(isl) else isl, xp)

    @property
    def output_resistance_ohm(self) -> float:
        """``Ro`` between the compressed output and the pin, as the .lib writes it
        (``max(rout, 1e-3)``); 0 for a model without it."""
        if "rout" not in _lib_params(self.name):
            return 0.0
        assert self.r_out_ohm is not None
        return max(self.r_out_ohm, 1e-3)

    def output_v(self, v_p1: Any, xp: Any = np) -> Any:
        """:func:`output_v` of this amplifier."""
        return output_v(v_p1, self.v_swing_v)

    def supply_power_w(self, i_out_a: Any, xp: Any = np) -> Any:
        """:func:`supply_power_w` of this amplifier."""
        assert self.i_q_a is not None
        return supply_power_w(i_out_a, self.i_q_a, self.vdd_v, xp)

    def closed_loop_tau_s(self, noise_gain: float) -> float:
        """The dominant closed-loop pole at a feedback factor 1/noise_gain (the output
        resistance's pole with the load adds to it: :func:`phase_margin_deg`)."""
        assert self.gbw_hz is not None
        return noise_gain / (2 * math.pi * self.gbw_hz * (1 + noise_gain / self.a0))


# The macromodels' equations, on values or arrays (``xp`` numpy or ``jax.numpy``): the batched
# engine evaluates them with each column's sized values.


def first_stage_a(v_d: Any, gm_s: Any, i_sl_a: Any | None, xp: Any = np) -> Any:
    """The current ``B1`` (``G1``) drives into the gain node for the differential input
    ``v_d = v(inp) - v(inn)``: ``isl tanh(gm v_d / isl)``, or ``gm v_d`` without a slew limit
    (``i_sl_a`` None). ``Rn`` carries no current (nothing draws from ``inx``), so ``v(inx)`` is
    ``v(inp)``. The slope ``gm / cosh^2`` is this expression's derivative (JAX takes it)."""
    if i_sl_a is None:
        return gm_s * v_d
    return i_sl_a * xp.tanh(gm_s / i_sl_a * v_d)


def output_v(v_p1: Any, v_swing_v: Any) -> Any:
    """The voltage ``Bo`` drives for the gain node's voltage ``v_p1``: gain 1, compressed
    towards +-1.25 ``v_swing_v`` (the .lib's expression). ``x**8`` is ``abs(x)**8`` without the
    kink of ``abs`` at 0."""
    return v_p1 / (1 + (v_p1 / (1.25 * v_swing_v)) ** 8) ** 0.125


def supply_power_w(i_out_a: Any, i_q_a: Any, vdd_v: Any, xp: Any = np) -> Any:
    """What the split supply delivers for output current ``i_out_a``: the quiescent current
    across both rails, the output current from the rail it flows from (``Bq``, ``Bp``, ``Bn``
    of the .lib)."""
    return i_q_a * vdd_v + 0.5 * vdd_v * xp.abs(i_out_a)


_GM_PARAM = re.compile(r"^\.param\s+gm\s*=\s*([-+0-9.eE]+)", re.IGNORECASE | re.MULTILINE)
_LIB_FIELDS = {"a0": "a0", "gbw": "gbw_hz", "vswing": "v_swing_v", "iq": "i_q_a", "vdd": "vdd_v",
               "rout": "r_out_ohm", "sr": "slew_v_per_s"}


def _lib_params(name: str) -> list[str]:
    match = PARAMS_LINE.search(read_lib("readout", name))
    if match is None:
        raise SpecError(f"op-amp model {name!r} has no '.subckt ... params:' line")
    return [k.lower() for k, _ in ASSIGN.findall(match.group(2))]


def opamp(name: str = "opamp_2s", **overrides: Any) -> OpAmp:
    """Load an op-amp macromodel from ``device_models/readout/<name>.lib``; the parameters its
    ``* sized:`` header names are left ``None``, to be sized for the load."""
    text = read_lib("readout", name)
    match = PARAMS_LINE.search(text)
    if match is None:
        raise SpecError(f"op-amp model {name!r} has no '.subckt ... params:' line")
    values = {k.lower(): float(v) for k, v in ASSIGN.findall(match.group(2))}
    try:
        sized = set(header_value(text, "sized").split())
    except SpecError:
        sized = set()
    kwargs: dict[str, Any] = {field: (None if key in sized else values[key])
                              for key, field in _LIB_FIELDS.items() if key in values}
    if sized:  # a sized model: its noise, bias split and Miller capacitor come with it
        kwargs.update(noise_v2_per_hz=None, i_tail_a=None, i_out_a=None, c_c_f=None)
    return dataclasses.replace(OpAmp(name=name, source=source_of(text), **kwargs), **overrides)


@dataclass(frozen=True, slots=True)
class AmpLoad:
    """What the amplifier drives and must reach. ``i_fs_a``: the full-scale output current;
    ``r_f_ohm`` (``inf`` for none) and ``c_f_f``: the feedback to the inverting input;
    ``g_in_s`` and ``c_in_f``: the column at the inverting input; ``r_switch_ohm`` and
    ``c_s_f``: the sample-and-hold it charges; ``half_lsb_v``: half the ADC's LSB;
    ``t_settle_s``: the time a full-scale step has to settle to half an LSB (``inf``: none)."""

    i_fs_a: float
    r_f_ohm: float
    c_f_f: float
    g_in_s: float
    c_in_f: float
    r_switch_ohm: float
    c_s_f: float
    half_lsb_v: float
    bits: int
    t_settle_s: float = math.inf

    def __post_init__(self) -> None:
        check(self.t_settle_s > 0, "t_settle_s", self.t_settle_s,
              "a settling window > 0 s (inf: none)")

    @property
    def full_scale_v(self) -> float:
        """The output step from zero to full scale: ``2^(bits+1)`` half LSBs."""
        return self.half_lsb_v * 2.0 ** (self.bits + 1)

    @property
    def noise_gain(self) -> float:
        """``1 / beta`` at the crossover: resistive (``1 + R_f G``) or capacitive."""
        if math.isfinite(self.r_f_ohm):
            return 1.0 + self.r_f_ohm * self.g_in_s
        return 1.0 + self.c_in_f / self.c_f_f


def design(amp: OpAmp, load: AmpLoad) -> OpAmp:
    """``amp`` with every ``None`` sized for ``load`` (the module docstring's procedure)."""
    if amp.resolved:
        return amp
    kt = BOLTZMANN_J_PER_K * ROOM_TEMPERATURE_K
    n = load.noise_gain
    c_c = (amp.c_c_f if amp.c_c_f is not None
           else (8.0 / 3.0) * kt * n / (amp.noise_share * load.half_lsb_v**2))
    i_out = amp.i_out_a if amp.i_out_a is not None else _settling_bias_a(amp, load, c_c)
    gm2 = amp.gm_id_out_per_v * i_out
    r_out = amp.r_out_ohm if amp.r_out_ohm is not None else 1.0 / gm2
    if amp.gbw_hz is None:
        p2, f_top = _stage(amp, load, c_c, r_out, gm2)
        f_c = min(f_top, noise_crossover_hz(load, amp.noise_share))
        if math.isfinite(load.t_settle_s) and _loop_settle_s(f_c, r_out, load) < \
                load.t_settle_s:
            f_c = brentq(lambda f: _loop_settle_s(f, r_out, load) - load.t_settle_s,
                         f_c * 1e-9, f_c, xtol=f_c * 1e-9)
        gbw = n * f_c / _divider(load, r_out)
    else:
        f_c = amp.gbw_hz / n * _divider(load, r_out)
        gbw = amp.gbw_hz
    gm1 = 2 * math.pi * gbw * c_c
    i_tail = (amp.i_tail_a if amp.i_tail_a is not None
              else max(2 * gm1 / amp.gm_id_in_per_v, c_c * load.full_scale_v * 2 * math.pi * f_c))
    return dataclasses.replace(
        amp, gbw_hz=gbw,
        r_out_ohm=r_out, c_c_f=c_c, i_tail_a=i_tail, i_out_a=i_out,
        i_q_a=amp.i_q_a if amp.i_q_a is not None else i_tail + i_out,
        slew_v_per_s=amp.slew_v_per_s if amp.slew_v_per_s is not None else i_tail / c_c,
        noise_v2_per_hz=(amp.noise_v2_per_hz if amp.noise_v2_per_hz is not None
                         else (32.0 / 3.0) * kt / gm1))


SETTLING_BIAS_LIMIT = 1e4
"""How far above the load's current the settling may raise the output stage before the
window counts as out of reach (``r_out`` is then ``1e-4`` of what the load set: the switch's
own ``r_on C_s`` is what remains)."""


def _divider(load: AmpLoad, r_out: float) -> float:
    """``d``: the output resistance against the feedback path at DC (``R_f`` in series with
    the column's ``1 / G``; an integrator's feedback carries no DC current: 1)."""
    if not math.isfinite(load.r_f_ohm) or load.g_in_s == 0:
        return 1.0
    return 1.0 / (1.0 + r_out / (load.r_f_ohm + 1.0 / load.g_in_s))


def _stage(amp: OpAmp, load: AmpLoad, c_c: float, r_out: float, gm2: float
           ) -> tuple[float, float]:
    """The non-dominant pole ``p2`` of an output stage and ``f_top``, the highest crossover it
    allows (module docstring): the phase margin's, a tenth of the Miller zero's, and the
    closed loop's critical damping (:func:`closed_loop`: ``b1^2 = 4 b2``, the lower root)."""
    p2 = 1.0 / (2 * math.pi * (r_out + load.r_switch_ohm) * load.c_s_f)
    z = gm2 / (2 * math.pi * c_c)
    # b1^2 = 4 b2 in x = 1 / w_u: x^2 + (2 t_z - 4 t_p) x + t_z^2 = 0
    t_z, t_p = (load.r_switch_ohm * load.c_s_f,
                closed_loop(1 / (2 * math.pi), r_out, load)[1])
    disc = (2 * t_z - 4 * t_p) ** 2 - 4 * t_z * t_z
    f_crit = (math.inf if disc < 0
              else 1 / (2 * math.pi * 0.5 * (4 * t_p - 2 * t_z + math.sqrt(disc))))
    return p2, min(_crossover_hz(p2, z, amp.phase_margin_deg), z / ZERO_RATIO, f_crit)


def _settling_bias_a(amp: OpAmp, load: AmpLoad, c_c: float) -> float:
    """The least output-stage bias that meets both the load (``i_fs``) and the settling window
    at a crossover the noise allows (:func:`noise_crossover_hz`). Where no bias settles in the
    window, the least that reaches the noise's crossover (none above the load's where the
    switch's own pole is what is too slow)."""
    f_noise = noise_crossover_hz(load, amp.noise_share)

    def reach(i_out: float) -> float:
        gm2 = amp.gm_id_out_per_v * i_out
        return _stage(amp, load, c_c, 1.0 / gm2, gm2)[1]

    def spare_s(i_out: float) -> float:
        f_c = min(reach(i_out), f_noise)
        return load.t_settle_s - _loop_settle_s(f_c, 1.0 / (amp.gm_id_out_per_v * i_out), load)

    if not math.isfinite(load.t_settle_s) or spare_s(load.i_fs_a) >= 0:
        return load.i_fs_a
    top = load.i_fs_a * SETTLING_BIAS_LIMIT
    if spare_s(top) >= 0:
        return float(brentq(spare_s, load.i_fs_a, top, xtol=load.i_fs_a * 1e-9, rtol=1e-10))
    if reach(load.i_fs_a) < f_noise < reach(top):
        return float(brentq(lambda i: reach(i) - f_noise, load.i_fs_a, top,
                            xtol=load.i_fs_a * 1e-9, rtol=1e-10))
    return load.i_fs_a


def noise_crossover_hz(load: AmpLoad, noise_share: float = 0.5) -> float:
    """The highest crossover at which the feedback resistor's and the cells' thermal noise,
    ``4 k T (R_f + G R_f^2) (pi/2) f_c`` (:func:`sampled_noise_v2`, the switch's pole left
    out), fit in what the amplifier's ``noise_share`` and the capacitor's ``k T / C_s`` leave
    of ``(LSB/2)^2`` (``inf`` for an integrator, none where nothing is left)."""
    kt = BOLTZMANN_J_PER_K * ROOM_TEMPERATURE_K
    if not math.isfinite(load.r_f_ohm):
        return math.inf
    left = (1 - noise_share) * load.half_lsb_v**2 - kt / load.c_s_f
    density = 4 * kt * (load.r_f_ohm + load.g_in_s * load.r_f_ohm**2)
    return left / (density * 0.5 * math.pi) if left > 0 and density > 0 else math.inf


def _loop_settle_s(f_u_hz: float, r_out_ohm: float, load: AmpLoad) -> float:
    return settle_time_s(*closed_loop(f_u_hz, r_out_ohm, load), load.bits)


def loop_settle_s(amp: OpAmp, load: AmpLoad) -> float:
    """:func:`settle_time_s` of the sized amplifier in its load (:func:`closed_loop`)."""
    assert amp.gbw_hz is not None and amp.r_out_ohm is not None
    return _loop_settle_s(amp.gbw_hz * _divider(load, amp.r_out_ohm) / load.noise_gain,
                          amp.r_out_ohm, load)


def gain_error_lsb(amp: OpAmp, load: AmpLoad) -> float:
    """The full-scale gain error ``n / (a0 + n)`` in LSB of the ADC."""
    n = load.noise_gain
    return n / (amp.a0 + n) * 2.0**load.bits


def _crossover_hz(p2_hz: float, z_hz: float, pm_deg: float) -> float:
    """The crossover at which a pole ``p2`` and a right-half-plane zero ``z`` together take
    ``90 - pm`` degrees: ``atan(f/p2) + atan(f/z) = 90 - pm``, a quadratic in ``f``."""
    t = math.tan(math.radians(90.0 - pm_deg))
    a, b = 1.0 / p2_hz, 1.0 / z_hz
    return (-(a + b) + math.sqrt((a + b) ** 2 + 4 * t * t * a * b)) / (2 * t * a * b)


def loop_gain(amp: OpAmp, load: AmpLoad, f_hz: np.ndarray) -> np.ndarray:
    """The loop gain ``T(j 2 pi f)`` of ``amp`` in ``load``'s circuit (module docstring)."""
    assert amp.gbw_hz is not None and amp.r_out_ohm is not None
    s = 2j * math.pi * np.asarray(f_hz, dtype=float)
    zero = (1.0 - s * amp.c_c_f / (amp.gm_id_out_per_v * amp.i_out_a)
            if amp.c_c_f and amp.i_out_a else 1.0)
    a = amp.a0 * zero / (1.0 + s * amp.a0 / (2 * math.pi * amp.gbw_hz))
    y_f = (1.0 / load.r_f_ohm if math.isfinite(load.r_f_ohm) else 0.0) + s * load.c_f_f
    y_n = load.g_in_s + s * load.c_in_f
    y_l = 1.0 / (load.r_switch_ohm + 1.0 / (s * load.c_s_f))
    divider = y_f / (y_f + y_n)
    if amp.r_out_ohm == 0:
        return np.asarray(a * divider)
    g_out = 1.0 / amp.r_out_ohm
    return np.asarray(a * divider * g_out / (g_out + y_l + y_f * y_n / (y_f + y_n)))


def crossover_hz(amp: OpAmp, load: AmpLoad) -> float:
    """Where ``|T|`` last falls through 1 (NaN if it never exceeds 1)."""
    assert amp.gbw_hz is not None
    f = np.logspace(math.log10(amp.gbw_hz) - 8, math.log10(amp.gbw_hz) + 2, 401)
    above = np.nonzero(np.abs(loop_gain(amp, load, f)) >= 1.0)[0]
    if above.size == 0 or above[-1] == f.size - 1:
        return math.nan
    lo, hi = f[above[-1]], f[above[-1] + 1]
    return float(brentq(lambda x: math.log(abs(complex(loop_gain(amp, load, np.array(x))))),
                        lo, hi, xtol=lo * 1e-9))


def phase_margin_deg(amp: OpAmp, load: AmpLoad) -> float:
    """``180 + arg T`` at the crossover (NaN without one)."""
    f_c = crossover_hz(amp, load)
    if not math.isfinite(f_c):
        return math.nan
    t = complex(loop_gain(amp, load, np.array(f_c)))
    return 180.0 + math.degrees(math.atan2(t.imag, t.real))


NOISE_PARTS = ("amplifier", "feedback", "cells", "sampling")


def sampled_noise_v2(amp: OpAmp, load: AmpLoad, t_int_s: float | None = None,
                     temperature_k: float = ROOM_TEMPERATURE_K) -> dict[str, float]:
    """The mean-square noise the sampling capacitor holds, by source (:data:`NOISE_PARTS`).

    A TIA (``r_f_ohm`` finite) passes each source through its closed loop, whose noise
    bandwidth with two poles is ``(pi/2) f_c`` whatever the second pole (``f_c`` the loop's
    crossover, :func:`crossover_hz`: ``gbw / n`` less the output resistance's divider; the
    integral of ``|1 / (1 + s/w_c + s^2/(w_c w_2))|^2`` over frequency is ``w_c / 4``), and the
    switch's pole ``f_s = 1 / (2 pi r_switch C_s)`` after it narrows it to
    ``(pi/2) f_c f_s / (f_c + f_s)`` (two real poles): the
    amplifier's input noise times ``n^2``, the feedback resistor's ``4 k T R_f`` and the cells'
    ``4 k T G R_f^2`` (thermal, at their conductance). An integrator's window ``t_int_s`` holds
    the cells' current noise as charge, ``2 k T G t / C_int^2``. The switch leaves ``k T / C_s``
    on the capacitor whatever its resistance."""
    assert amp.noise_v2_per_hz is not None and amp.gbw_hz is not None
    kt = BOLTZMANN_J_PER_K * temperature_k
    n = load.noise_gain
    f_c = crossover_hz(amp, load)
    f_s = 1.0 / (2 * math.pi * load.r_switch_ohm * load.c_s_f)
    bandwidth_hz = 0.5 * math.pi * f_c * f_s / (f_c + f_s)
    parts = {"amplifier": amp.noise_v2_per_hz * n * n * bandwidth_hz, "feedback": 0.0,
             "cells": 0.0, "sampling": kt / load.c_s_f}
    if math.isfinite(load.r_f_ohm):
        parts["feedback"] = 4 * kt * load.r_f_ohm * bandwidth_hz
        parts["cells"] = 4 * kt * load.g_in_s * load.r_f_ohm**2 * bandwidth_hz
    elif t_int_s is not None:
        parts["cells"] = 2 * kt * load.g_in_s * t_int_s / load.c_f_f**2
    return parts
