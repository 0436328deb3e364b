"""The column readout and its behavioural ADC."""

from __future__ import annotations

from dataclasses import dataclass

from spicecim.errors import check

READOUT_STYLES = ("sense", "virtual_ground")


@dataclass(frozen=True, slots=True)
class AdcModel:
    """Behavioural ADC: resolution, conversion time and energy per conversion."""

    bits: int
    t_conv_s: float
    e_conv_j: float
    source: str = ""

    def __post_init__(self) -> None:
        check(1 <= self.bits <= 16, "adc_bits", self.bits, "an integer from 1 to 16")
        check(self.t_conv_s >= 0, "t_conv_s", self.t_conv_s, ">= 0 s")
        check(self.e_conv_j >= 0, "e_conv_j", self.e_conv_j, ">= 0 J")


@dataclass(frozen=True, slots=True)
class Readout:
    """The column's ADC front end.

    ``sense``: the column ends in ``r_sense_ohm`` in parallel with the ADC sampling capacitor
    ``c_adc_f``; the ADC reads the sense-node voltage. ``virtual_ground``: an ideal
    transimpedance stage holds the column end at 0 V and converts its current into a voltage
    across ``r_sense_ohm`` parallel ``c_adc_f`` (a resistive-feedback TIA), so the column sees no
    sense-voltage drop.
    """

    style: str
    r_sense_ohm: float
    c_adc_f: float
    adc: AdcModel

    def __post_init__(self) -> None:
        check(self.style in READOUT_STYLES, "readout", self.style, f"one of {READOUT_STYLES}")
        check(self.r_sense_ohm > 0, "r_sense_ohm", self.r_sense_ohm, "a resistance > 0 ohm")
        check(self.c_adc_f >= 0, "c_adc_f", self.c_adc_f, "a capacitance >= 0 F")
