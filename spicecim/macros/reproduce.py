"""A published macro rebuilt from its description, simulated, and reported as its paper does.

The tile is the macro's read: ``rows_per_read`` rows at its read voltage, a few of its columns
(``columns``; every column of a read sees the same rows, so a few stand for all of them), its
ADC, and the repository's front end (a TIA on the two-stage op-amp, sized for the tile's load,
:mod:`spicecim.devices.amplifier`). Conductances are drawn uniformly over the macro's range and
inputs uniformly over the DAC's levels (fixed seed): a macro's TOPS/W is measured on
representative data, and the papers do not print theirs.

Reported as the papers do: the access time of one multiply-accumulate operation at the
macro's precision is its ``input_cycles`` reads, each the column's simulated latency plus the
conversions of the columns sharing an ADC; TOPS/W counts 2 operations per multiply-accumulate
of a full-precision weight (``columns_per_weight`` columns make one) over the energy of every
read it takes. The digital shift-and-add of bit slices is not counted (see
:attr:`~spicecim.macros.MacroDescription.unmodelled`).
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spicecim import devices
from spicecim.macros import MacroDescription
from spicecim.measure import ENERGY_PARTS, LayerSchedule, ops_per_read, tops_per_w
from spicecim.netlist.spec import Tile, default_spec
from spicecim.sim import driver

SIM_COLUMNS = 2
"""Columns simulated per macro: each read's columns share the rows, so two show the spread of
the data at a sixth of a 12-column run's cost."""
ROW_PARTS = ("dac", "rowbias", "wordline")
"""The energy parts spent per driven row: a read's rows are the same whatever its columns."""


@dataclass(frozen=True, slots=True)
class MacroResult:
    """What :func:`reproduce` predicts for a macro: the access time of one operation at its
    precision, its TOPS/W, and the energy of one such operation (all its reads) by part."""

    macro: MacroDescription
    read_latency_s: float
    access_time_s: float
    ops: int
    energy_j: dict[str, float]

    @property
    def total_energy_j(self) -> float:
        return sum(self.energy_j.values())

    @property
    def tops_per_w(self) -> float:
        return tops_per_w(self.ops, self.total_energy_j)

    @property
    def access_ratio(self) -> float:
        """Predicted over measured access time."""
        return self.access_time_s / self.macro.measured_access_time_s.number

    @property
    def tops_ratio(self) -> float:
        """Predicted over measured TOPS/W."""
        return self.tops_per_w / self.macro.measured_tops_per_w.number

    @property
    def within(self) -> bool:
        """Whether both figures land within +-30 % of the measurement."""
        return all(0.7 <= r <= 1.3 for r in (self.access_ratio, self.tops_ratio))


def macro_tile(macro: MacroDescription, columns: int = SIM_COLUMNS, seed: int = 0) -> Tile:
    """The macro's read as a tile of ``columns`` columns (see the module docstring)."""
    rows = int(macro.rows_per_read.number)
    base = default_spec(rows, columns)
    adc = devices.AdcModel(bits=int(macro.adc_bits.number),
                           t_conv_s=macro.adc_t_conv_s.number,
                           e_conv_j=macro.adc_e_conv_j.number,
                           source=macro.adc_e_conv_j.source)
    spec = dataclasses.replace(
        base,
        driver=dataclasses.replace(base.driver, v_full_v=macro.v_read_v.number,
                                   dac_bits=macro.input_bits_per_cycle,
                                   v_rail_v=macro.v_rail_v.number),
        # the front end settles in the conversions of the columns its ADC serves
        readout=dataclasses.replace(base.readout, front_end=str(macro.front_end.value),
                                    adc=adc,
                                    settle_conversions=int(macro.columns_per_adc.number)))
    rng = np.random.default_rng(seed)
    g = rng.uniform(macro.g_min_s.number, macro.g_max_s.number, (rows, columns))
    return Tile(spec, g, rng.uniform(0.0, 1.0, rows))


def reproduce(macro: MacroDescription, columns: int = SIM_COLUMNS, seed: int = 0,
              workers: int = 1) -> MacroResult:
    """Simulate ``macro``'s read in ngspice and report it as its paper does."""
    tile = macro_tile(macro, columns, seed)
    with tempfile.TemporaryDirectory(prefix="spicecim-macro-") as tmp:
        summary = driver.simulate(tile, Path(tmp) / "macro.h5", workers=workers,
                                  progress=False)
    # Every converted column its own ADC conversion, the rows and front ends biased through it
    # (the sample-and-hold is not simulated): the schedule whose figures are per column; ADC
    # sharing is added below as the macro has it.
    read = next(s for s in summary.schedules
                if s.schedule == "fully_parallel" and s.policy == "driven")
    return result_of(macro, read, columns)


def result_of(macro: MacroDescription, read: LayerSchedule, columns: int) -> MacroResult:
    """The macro's figures from the schedule of ``columns`` simulated columns of one read."""
    cycles = int(macro.input_cycles.number)
    per_column = macro.cols_per_read.number / columns
    latency = (read.latency_s
               + (int(macro.columns_per_adc.number) - 1) * macro.adc_t_conv_s.number)
    energy = {part: getattr(read, f"energy_{part}_j") * (1 if part in ROW_PARTS else per_column)
              for part in ENERGY_PARTS}
    return MacroResult(macro=macro, read_latency_s=latency, access_time_s=cycles * latency,
                       ops=ops_per_read(int(macro.rows_per_read.number),
                                        macro.outputs_per_read),
                       energy_j={k: cycles * v for k, v in energy.items()})
