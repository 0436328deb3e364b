"""The analog-CAM converter against the ADC it replaces: energy and latency per conversion, and
over every conversion of one sample of a model.

An ACAM converter of ``b`` bits is ``2^b`` one-cell rows (the 6T2M cell of Li et al., Nat.
Commun. 2020, :mod:`spicecim.acam`); ngspice measures its latency (precharge release to the
sense amplifier's sample) and its energy per conversion (every supply, the precharge after it):
:func:`spicecim.acam.converter.converter_figures`. The ADC is the tile's, with its reference
buffer (:attr:`~spicecim.devices.readout.AdcModel.ref_e_conv_j`). Each converts one column
once per read, so a model's conversions per sample are its mapped columns, each row tile and
input phase apart (:func:`conversions_per_sample`), the same count for either converter.
"""

from __future__ import annotations

from dataclasses import dataclass

from spicecim.acam.converter import converter_figures
from spicecim.cost.mapping import TileGeometry, map_model
from spicecim.devices import AdcModel
from spicecim.models.mlp import Mlp
from spicecim.sim.ngspice import NgspiceSession


def conversions_per_sample(mlp: Mlp, geometry: TileGeometry) -> int:
    """The column conversions of one sample: per layer, each row tile's used columns in each
    input phase."""
    mapping = map_model(mlp, geometry)
    return sum(len(m.row_counts) * sum(m.column_counts) * m.input_phases
               for m in (mapping.layer(d.name) for d in mlp.layers))


@dataclass(frozen=True, slots=True)
class ConverterComparison:
    """One conversion by each converter (the ACAM's from ngspice, the ADC's cited with its
    reference buffer) and ``conversions`` of them per sample."""

    bits: int
    conversions: int
    acam_energy_j: float
    acam_static_j: float  # the cells' voltage dividers, on through the evaluation
    acam_latency_s: float
    adc_energy_j: float
    adc_latency_s: float

    @property
    def energy_ratio(self) -> float:
        """ACAM over ADC energy per conversion (above 1: the ADC wins)."""
        return self.acam_energy_j / self.adc_energy_j

    @property
    def latency_ratio(self) -> float:
        """ACAM over ADC latency per conversion (above 1: the ADC wins)."""
        return self.acam_latency_s / self.adc_latency_s

    def answer(self) -> str:
        """Which converter wins, and why, in one paragraph."""
        energy = "ADC" if self.energy_ratio > 1 else "ACAM"
        latency = "ADC" if self.latency_ratio > 1 else "ACAM"
        return (f"{energy} wins on energy ({self.energy_ratio:.3g}x ACAM/ADC per conversion) "
                f"and {latency} on latency ({self.latency_ratio:.3g}x): the ACAM evaluates all "
                f"{1 << self.bits} rows of a {self.bits}-bit code at once, each cell's voltage "
                f"dividers drawing static current through the evaluation "
                f"({self.acam_static_j / self.acam_energy_j:.0%} of its energy), so its energy "
                f"grows as 2^bits, where a SAR's grows about as its bits")


def compare_converters(mlp: Mlp, geometry: TileGeometry, adc: AdcModel,
                       session: NgspiceSession | None = None) -> ConverterComparison:
    """The ACAM converter of ``adc``'s bits against ``adc`` for ``mlp`` mapped on
    ``geometry`` (the ACAM's figures from ngspice: minutes at 8 bits)."""
    acam = converter_figures(adc.bits, session=session)
    return ConverterComparison(
        bits=adc.bits, conversions=conversions_per_sample(mlp, geometry),
        acam_energy_j=acam.energy_j, acam_static_j=acam.energy_divider_j,
        acam_latency_s=acam.latency_s, adc_energy_j=adc.e_conv_j + adc.ref_e_conv_j,
        adc_latency_s=adc.t_conv_s)
