"""The column readout: a front end that turns the column current into a voltage, a
sample-and-hold, and a behavioural ADC.

Front ends (:data:`FRONT_ENDS`; each one's sizing and time constants in its class,
:mod:`spicecim.devices.frontends`, resolved once from the name by :attr:`Readout.front`):

- ``tia``: an op-amp (:class:`~spicecim.devices.amplifier.OpAmp`, by default the two-stage
  ``device_models/readout/opamp_2s.lib`` sized for this load) holds the column at virtual
  ground; its feedback resistor ``r_f_ohm`` turns the column current into ``v = -I r_f``.
  Settles with the closed-loop time constant ``n / (2 pi gbw (1 + n / a0))``,
  ``n = 1 + r_f G_column`` (the noise gain), and the output resistance's pole with the load.
- ``integrator``: the op-amp integrates the column current on ``c_int_f`` from t = 0 (its reset
  switch opens as the inputs start to rise) for ``t_int_s``; the sample-and-hold then holds.
  ``v = -Q / c_int``.
- ``passive``: the column current flows into ``r_sense_ohm`` to ground (the column end is not at
  virtual ground: it rises by the signal), ``v = I r_sense``.

Every front end feeds a sample-and-hold (:class:`SampleHold`): a switch of on-resistance
``r_on_ohm`` into the sampling capacitor ``c_s_f``, the ADC's input.

Sizing (:func:`size`): what a specification leaves ``None`` is derived from the tile it reads,
so the ADC's full scale is the front end's real output range at the tile's conductances: the
range current (``i_range_a``: the ADC range the accuracy pass calibrates on the workload,
:func:`spicecim.solve.calibrated_range_a`, where the tile was given one; else the worst-case
column current ``i_fs_a``, every input at full scale, no IR drop) maps to the op-amp's
output swing (``tia``: ``r_f = vswing / i_fs``; ``integrator``: ``t_int = c_int vswing / i_fs``
plus half the input edge, the charge lost while the inputs rise) or to ``full_scale_fraction`` of
the read voltage (``passive``). The sampling capacitor is ``kt_margin`` times the kT/C bound
``12 k T 4^bits / V_fs^2`` (kT/C noise equal to the quantisation noise LSB^2/12; the margin of 4
puts it 6 dB below; docs/sources.md). Then the amplifier is sized for what it drives
(:func:`spicecim.devices.amplifier.design`: the output stage for the full-scale current, the
Miller capacitor for the noise, the bandwidth for the phase margin), and the sampled noise is
the whole front end's (:func:`spicecim.devices.amplifier.sampled_noise_v2`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

from spicecim.devices.amplifier import (
    BOLTZMANN_J_PER_K,
    ROOM_TEMPERATURE_K,
    AmpLoad,
    OpAmp,
    design,
    gain_error_lsb,
    loop_settle_s,
    phase_margin_deg,
    sampled_noise_v2,
)
from spicecim.devices.frontends import FRONT_ENDS as FRONT_ENDS  # where callers look for it
from spicecim.devices.frontends import FrontEnd, front_end
from spicecim.devices.transistor import AccessTransistor
from spicecim.errors import check
from spicecim.units import param

AMP_FIGURES = ("amp_i_q_a", "amp_i_out_a", "amp_gbw_hz", "amp_a0", "amp_gain_error_lsb",
               "amp_r_out_ohm", "amp_slew_v_per_s", "amp_phase_margin_deg", "amp_settle_s",
               "amp_settle_window_s")
"""The sized amplifier's figures (:meth:`SizedReadout.amp_figures`)."""


@dataclass(frozen=True, slots=True)
class SampleHold:
    """The switch and capacitor in front of the ADC. ``c_s_f`` None: sized by kT/C at the
    front end's full scale (``kt_margin`` times the bound). ``c_gate_f`` and ``v_clock_v``: the
    switch's gate, charged once per sample (:attr:`clock_energy_j`)."""

    r_on_ohm: float
    c_gate_f: float
    v_clock_v: float
    # 1 aF is below any capacitor one can draw (its kT/C noise is 64 mV rms), 1 nF off-chip
    c_s_f: float | None = dataclasses.field(default=None, metadata=param(
        "--c-sample", "Sampling capacitance", unit="F", accepted=(1e-18, 1e-9),
        sized="4x the kT/C bound at the ADC's bits and full scale"))
    kt_margin: float = 4.0

    def __post_init__(self) -> None:
        check(math.isfinite(self.r_on_ohm) and self.r_on_ohm > 0, "r_on_ohm", self.r_on_ohm,
              "a finite resistance > 0 ohm")
        check(math.isfinite(self.c_gate_f) and self.c_gate_f >= 0, "c_gate_f", self.c_gate_f,
              "a finite capacitance >= 0 F")
        check(math.isfinite(self.v_clock_v) and self.v_clock_v >= 0, "v_clock_v",
              self.v_clock_v, "a finite voltage >= 0 V")
        check(self.c_s_f is None or (math.isfinite(self.c_s_f) and self.c_s_f > 0), "c_s_f",
              self.c_s_f, "None (sized by kT/C) or a finite capacitance > 0 F")
        check(math.isfinite(self.kt_margin) and self.kt_margin > 0, "kt_margin", self.kt_margin,
              "a finite factor > 0")

    @property
    def clock_energy_j(self) -> float:
        """The clock's energy per sample: the gate charged to the clock voltage and let go."""
        return self.c_gate_f * self.v_clock_v**2


def switch_from(transistor: AccessTransistor, c_s_f: float | None = None,
                kt_margin: float = 4.0) -> SampleHold:
    """A sample-and-hold whose switch is ``transistor`` at its gate voltage: its deep-triode
    on-resistance and its gate capacitance."""
    return SampleHold(transistor.r_on_ohm, transistor.c_gate_f, transistor.v_gate_v, c_s_f,
                      kt_margin)


REF_BUFFER_FRACTION = 1.7 / 4.0
"""The reference buffer's energy per conversion as a fraction of the converter core's: the
published SAR whose data sheet states its reference input apart, Analog Devices' AD7980 (16 bit,
1 MS/s: 4 mW from VDD, 1.7 mW from REF; A. Walsh, "Explaining SAR ADC power specifications",
Analog Devices technical article). Kull et al. (ISSCC 2013), the default ADC, state 3.1 mW for
the converter and no reference buffer, so it is counted apart."""


@dataclass(frozen=True, slots=True)
class AdcModel:
    """Behavioural ADC: resolution, conversion time, energy per conversion and area (0:
    unknown; with it, a schedule's ADCs are compared with the array they serve).
    ``ref_fraction``: the reference buffer's energy per conversion over ``e_conv_j`` (0 where
    ``e_conv_j`` includes it)."""

    bits: int = dataclasses.field(metadata=param("--adc-bits", "ADC resolution", unit="bits",
                                                 accepted=(1, 16)))
    t_conv_s: float
    e_conv_j: float
    source: str = ""
    area_m2: float = 0.0
    ref_fraction: float = REF_BUFFER_FRACTION

    def __post_init__(self) -> None:
        check(isinstance(self.bits, int) and 1 <= self.bits <= 16, "adc_bits", self.bits,
              "an integer from 1 to 16")
        check(math.isfinite(self.t_conv_s) and self.t_conv_s >= 0, "t_conv_s", self.t_conv_s,
              "a finite time >= 0 s")
        check(math.isfinite(self.e_conv_j) and self.e_conv_j >= 0, "e_conv_j", self.e_conv_j,
              "a finite energy >= 0 J")
        check(math.isfinite(self.area_m2) and self.area_m2 >= 0, "adc area_m2", self.area_m2,
              "a finite area >= 0 m^2")
        check(math.isfinite(self.ref_fraction) and self.ref_fraction >= 0, "adc ref_fraction",
              self.ref_fraction, "a finite fraction >= 0")

    @property
    def ref_e_conv_j(self) -> float:
        """The reference buffer's energy per conversion."""
        return self.ref_fraction * self.e_conv_j


SETTLE_CONVERSIONS = 8
"""The conversions a read's front end settles in: with a sample-and-hold, the array's next read
settles while the ADC converts this read's held columns, so a read may take as long as the
conversions of the columns one ADC serves (ISAAC pipelines a 100 ns crossbar read with its ADC
converting the 128 columns it serves at 1.28 GS/s in that time; Shafiee et al., ISCA 2016;
docs/sources.md section 4b). 8: the ADC-shared schedule's default columns per ADC
(``RunOptions.adc_share``); a fully parallel read (1) is out of the default switch's reach."""


@dataclass(frozen=True, slots=True)
class Readout:
    """A column's readout: front end, sample-and-hold and ADC (see the module docstring).

    ``opamp`` serves ``tia`` and ``integrator``; ``r_f_ohm``, ``c_int_f`` and ``t_int_s``,
    ``r_sense_ohm`` and ``full_scale_fraction`` belong to one front end each. A ``None`` is sized
    from the tile by :func:`size`; ``full_scale_v`` None: the ADC's range is the front end's
    output at ``i_range_a``, the column current the ADC's range is sized for (None: the tile's
    worst case; given: the range the accuracy pass calibrates)."""

    front_end: str = dataclasses.field(metadata=param(
        "--front-end", "Column readout: TIA (virtual ground), charge integrator, or a passive "
        "sense resistor; each ends in a sample-and-hold", choices=FRONT_ENDS))
    opamp: OpAmp
    sample_hold: SampleHold
    adc: AdcModel
    # the accepted ranges: beyond 1 GOhm a feedback resistor's kT/C and leakage swamp any
    # column current; 0.1 fF is below a MOM capacitor's parasitics, 1 nF an off-chip part;
    # 1 ms is a million conversions' worth of an ADC
    r_f_ohm: float | None = dataclasses.field(default=None, metadata=param(
        "--r-f", "TIA feedback resistance", unit="ohm", accepted=(1.0, 1e9),
        sized="sized so the tile's worst-case column current reaches the amplifier's swing"))
    c_int_f: float = dataclasses.field(default=1e-12, metadata=param(
        "--c-int", "Integrator capacitance", unit="F", accepted=(1e-16, 1e-9)))
    t_int_s: float | None = dataclasses.field(default=None, metadata=param(
        "--t-int", "Integration window", unit="s", accepted=(1e-12, 1e-3),
        sized="sized like --r-f"))
    r_sense_ohm: float | None = dataclasses.field(default=None, metadata=param(
        "--r-sense", "Passive sense resistance", unit="ohm", accepted=(1e-3, 1e9),
        sized="sized for a full scale of 10 % of --v-read"))
    full_scale_fraction: float = 0.1
    full_scale_v: float | None = None
    i_range_a: float | None = None
    settle_conversions: int = SETTLE_CONVERSIONS

    def __post_init__(self) -> None:
        front_end(self.front_end)  # a name of FRONT_ENDS (one line naming it otherwise)
        for name in ("r_f_ohm", "t_int_s", "r_sense_ohm", "full_scale_v", "i_range_a"):
            value = getattr(self, name)
            check(value is None or (math.isfinite(value) and value > 0), name, value,
                  "None (sized from the tile) or a finite value > 0")
        check(math.isfinite(self.c_int_f) and self.c_int_f > 0, "c_int_f", self.c_int_f,
              "a finite capacitance > 0 F")
        check(math.isfinite(self.full_scale_fraction) and 0 < self.full_scale_fraction < 1,
              "full_scale_fraction", self.full_scale_fraction, "a fraction in (0, 1)")
        check(isinstance(self.settle_conversions, int) and self.settle_conversions >= 1,
              "settle_conversions", self.settle_conversions, "an integer >= 1")

    @property
    def t_settle_s(self) -> float:
        """The window the front end has to settle a full-scale step to half an LSB:
        ``settle_conversions`` conversion periods of the ADC (``inf`` for an ADC that takes no
        time)."""
        return self.settle_conversions * self.adc.t_conv_s or math.inf

    def pinned(self, sized: SizedReadout) -> Readout:
        """This readout with every automatic value fixed at ``sized``'s: the same circuit and
        ADC range whatever tile it reads (a replica with programming variation, say)."""
        return dataclasses.replace(
            self, r_f_ohm=sized.r_f_ohm or self.r_f_ohm, t_int_s=sized.t_int_s or self.t_int_s,
            r_sense_ohm=sized.r_sense_ohm or self.r_sense_ohm, full_scale_v=sized.full_scale_v,
            sample_hold=dataclasses.replace(self.sample_hold, c_s_f=sized.c_s_f),
            opamp=sized.readout.opamp)

    @property
    def front(self) -> FrontEnd:
        """The front end :attr:`front_end` names."""
        return front_end(self.front_end)

    @property
    def virtual_ground(self) -> bool:
        """Whether the column end is held at 0 V (the fast solver's boundary condition)."""
        return self.front.has_amplifier

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> Readout:
        d = dict(d)
        return cls(**{**d, "opamp": OpAmp(**d["opamp"]),
                      "sample_hold": SampleHold(**d["sample_hold"]),
                      "adc": AdcModel(**d["adc"])})


@dataclass(frozen=True, slots=True)
class SizedReadout:
    """A :class:`Readout` with every automatic value resolved for one tile.

    ``gain_ohm``: volts at the ADC input per ampere of column current at DC (sign dropped; for
    the integrator, the window over the capacitor). ``full_scale_v``: the ADC's input range,
    ``i_range_a`` (the calibrated range, or ``i_fs_a``, the tile's worst-case column current)
    times the gain. ``readout.opamp`` is the
    amplifier sized for ``load`` (None: ``passive``, no amplifier); ``noise_v2`` the sampled
    noise by source (:func:`~spicecim.devices.amplifier.sampled_noise_v2`)."""

    readout: Readout
    i_fs_a: float
    r_f_ohm: float | None
    t_int_s: float | None
    r_sense_ohm: float | None
    c_s_f: float
    gain_ohm: float
    full_scale_v: float
    load: AmpLoad | None = None
    noise_v2: dict[str, float] = dataclasses.field(default_factory=dict)
    temperature_k: float = ROOM_TEMPERATURE_K
    i_range_a: float = math.nan

    @property
    def range_use(self) -> float:
        """The worst-case column current over the range the ADC is sized for (above 1: the
        range is a calibrated one and currents beyond it clip)."""
        return self.i_fs_a / self.i_range_a

    @property
    def bits(self) -> int:
        return self.readout.adc.bits

    @property
    def lsb_v(self) -> float:
        return self.full_scale_v / (1 << self.bits)

    @property
    def half_lsb_v(self) -> float:
        return 0.5 * self.lsb_v

    @property
    def ktc_noise_v(self) -> float:
        """The sampling capacitor's own kT/C noise (rms)."""
        return math.sqrt(BOLTZMANN_J_PER_K * self.temperature_k / self.c_s_f)

    @property
    def noise_v(self) -> float:
        """The whole front end's sampled noise (rms): every source of :attr:`noise_v2`."""
        return math.sqrt(sum(self.noise_v2.values())) if self.noise_v2 else self.ktc_noise_v

    @property
    def noise_ok(self) -> bool:
        """Sampled noise at most half an LSB."""
        return self.noise_v <= self.half_lsb_v

    @property
    def snr_db(self) -> float:
        """A full-scale sine (rms ``V_fs / (2 sqrt 2)``) against the sampled noise."""
        return 20 * math.log10(self.full_scale_v / (2 * math.sqrt(2)) / self.noise_v)

    @property
    def enob(self) -> float:
        """Effective bits: the full-scale sine against quantisation plus sampled noise,
        ``(SNDR - 1.76 dB) / 6.02 dB``."""
        sndr = (self.full_scale_v**2 / 8) / (self.lsb_v**2 / 12 + self.noise_v**2)
        return (10 * math.log10(sndr) - 1.76) / 6.02

    @property
    def phase_margin_deg(self) -> float:
        """The amplifier's phase margin in its circuit (NaN without an amplifier)."""
        if self.load is None:
            return math.nan
        return phase_margin_deg(self.readout.opamp, self.load)

    @property
    def sample_hold_tau_s(self) -> float:
        return self.readout.sample_hold.r_on_ohm * self.c_s_f

    def noise_warning(self) -> str:
        """One line when kT/C noise exceeds half an LSB, else ''."""
        if self.noise_ok:
            return ""
        return (f"sampled noise {self.noise_v * 1e6:.3g} uV rms (front end and the "
                f"{self.c_s_f * 1e15:.4g} fF sampling capacitor) exceeds half an LSB "
                f"({self.half_lsb_v * 1e6:.3g} uV of a "
                f"{self.full_scale_v * 1e3:.4g} mV, {self.bits}-bit full scale): the lowest "
                f"{math.log2(2 * self.noise_v / self.lsb_v):.1f} bits are noise")

    def to_dict(self) -> dict:
        return {"front_end": self.readout.front_end, "i_fs_a": self.i_fs_a,
                "r_f_ohm": self.r_f_ohm, "t_int_s": self.t_int_s,
                "r_sense_ohm": self.r_sense_ohm, "c_s_f": self.c_s_f, "gain_ohm": self.gain_ohm,
                "full_scale_v": self.full_scale_v, "lsb_v": self.lsb_v,
                "i_range_a": self.i_range_a,
                "noise_v": self.noise_v, "noise_ok": self.noise_ok, **self.amp_figures()}

    def amp_figures(self) -> dict[str, float]:
        """The sized amplifier's figures a table prints (NaN without an amplifier), and the
        sampled noise's signal-to-noise ratio and effective bits."""
        if self.load is None:
            return {**dict.fromkeys(AMP_FIGURES, math.nan), "snr_db": self.snr_db,
                    "enob": self.enob}
        amp = self.readout.opamp
        return {"amp_i_q_a": float(amp.i_q_a or 0.0), "amp_i_out_a": float(amp.i_out_a or 0.0),
                "amp_gbw_hz": float(amp.gbw_hz or 0.0), "amp_a0": amp.a0,
                "amp_gain_error_lsb": gain_error_lsb(amp, self.load),
                "amp_r_out_ohm": float(amp.r_out_ohm or 0.0),
                "amp_slew_v_per_s": float(amp.slew_v_per_s or 0.0),
                "amp_phase_margin_deg": self.phase_margin_deg,
                "amp_settle_s": loop_settle_s(amp, self.load),
                "amp_settle_window_s": self.load.t_settle_s,
                "snr_db": self.snr_db, "enob": self.enob}

    @property
    def bias_set_by(self) -> str:
        """:func:`bias_cause` of the sized amplifier ('' without an amplifier)."""
        if self.load is None:
            return ""
        f = self.amp_figures()
        return bias_cause(f["amp_i_out_a"], self.load.i_fs_a, f["amp_settle_s"],
                          f["amp_settle_window_s"])


def bias_cause(i_out_a: float, i_load_a: float, settle_s: float, window_s: float) -> str:
    """What set an amplifier's output-stage bias ``i_out_a``: ``load`` (the full-scale current
    ``i_load_a``) or ``settling`` (the window needed more); where it settles in ``settle_s``,
    beyond the window ``window_s``, the window is out of reach: of the noise (the bias was
    raised to the crossover the noise allows) or of the switch's own pole (the load's)."""
    raised = i_out_a > i_load_a * (1 + 1e-9)
    if settle_s > window_s * (1 + 1e-6):
        return ("settling to the noise's bandwidth (window out of reach)" if raised
                else "load (window out of reach)")
    return "settling" if raised else "load"


def kt_capacitance_f(full_scale_v: float, bits: int, margin: float,
                     temperature_k: float = ROOM_TEMPERATURE_K) -> float:
    """``margin`` times the capacitance whose kT/C noise equals the quantisation noise
    LSB^2/12 of ``bits`` over ``full_scale_v``: ``12 k T 4^bits / V_fs^2``."""
    return margin * 12 * BOLTZMANN_J_PER_K * temperature_k * 4.0**bits / full_scale_v**2


def size(readout: Readout, i_fs_a: float, v_read_v: float, rise_s: float,
         c_column_f: float = 0.0) -> SizedReadout:
    """Resolve the automatic values of ``readout`` for a tile whose worst-case column current
    is ``i_fs_a`` at read voltage ``v_read_v`` with inputs rising over ``rise_s``, its column
    wire's capacitance ``c_column_f``."""
    check(math.isfinite(i_fs_a) and i_fs_a > 0, "worst-case column current", i_fs_a,
          "a finite current > 0 A")
    i_range = readout.i_range_a or i_fs_a
    sizing = readout.front.size(readout, i_range, v_read_v, rise_s)
    r_f, t_int, r_sense, gain = sizing.r_f_ohm, sizing.t_int_s, sizing.r_sense_ohm, sizing.gain_ohm
    full_scale = readout.full_scale_v or i_range * gain
    sh = readout.sample_hold
    c_s = sh.c_s_f or kt_capacitance_f(full_scale, readout.adc.bits, sh.kt_margin)
    if not readout.front.has_amplifier:
        noise = {"sampling": BOLTZMANN_J_PER_K * ROOM_TEMPERATURE_K / c_s}
        return SizedReadout(readout, i_fs_a, r_f, t_int, r_sense, c_s, gain, full_scale,
                            noise_v2=noise, i_range_a=i_range)
    # The output stage is biased for the current at which the output reaches its swing.
    load = AmpLoad(i_fs_a=i_range, r_f_ohm=r_f if r_f is not None else math.inf,
                   c_f_f=0.0 if r_f is not None else readout.c_int_f,
                   g_in_s=i_fs_a / v_read_v, c_in_f=c_column_f, r_switch_ohm=sh.r_on_ohm,
                   c_s_f=c_s, half_lsb_v=0.5 * full_scale / (1 << readout.adc.bits),
                   bits=readout.adc.bits, t_settle_s=readout.t_settle_s)
    amp = design(readout.opamp, load)
    noise = sampled_noise_v2(amp, load, t_int)
    return SizedReadout(dataclasses.replace(readout, opamp=amp), i_fs_a, r_f, t_int, r_sense,
                        c_s, gain, full_scale, load, noise, i_range_a=i_range)
