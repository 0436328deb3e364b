"""Layers onto crossbar tiles: how many arrays, devices and ADCs a model needs.

Rows of a tile take a layer's inputs, columns its outputs. A signed output takes two physical
columns (differential pair) or one column plus a reference column shared by the tile's outputs.
A layer wider than one tile in its inputs is split into row tiles whose partial sums are added
digitally after the ADCs; biases are added digitally too.

A layer whose inputs can be negative (it reads a model input not declared non-negative, such
as a positional encoding in [-1, 1], or a layer without a non-negative activation:
``Mlp.signed_inputs``) is read in two phases: the DAC drives the positive parts of the inputs,
then their magnitudes where negative, and the two results are subtracted
digitally. The alternative, an offset (x + 1) / 2 with a digital correction W.1, reads once but
halves the input's resolution and makes every output a difference of two large numbers; two
reads keep the DAC's full range for each sign at twice the latency and energy of the layer.

Design choices of a tile (:class:`TileGeometry`): a weight may take several devices
(:mod:`spicecim.cost.slicing`): ``slices`` bit slices of ``2^bits`` levels each, the most
significant first, on their own columns, so an output takes ``2 * slices`` physical columns in
the differential scheme; and ``copies`` rows per input, driven by the same DAC, so each
column sums ``copies`` devices per weight in the analog domain and a tile holds
``rows // copies`` inputs. A tile may be read ``rows_per_read`` rows at a time (row
parallelism: the groups are read one after another through the same columns and their
partial sums added digitally, like row tiles).

ADC counts are physical: the fully parallel schedule has one ADC per column of every array,
ADC-shared one per ``k`` columns, serialized one per array.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from spicecim.errors import check
from spicecim.models.mlp import Mlp
from spicecim.netlist.spec import WEIGHT_SCHEMES


@dataclass(frozen=True, slots=True)
class TileGeometry:
    """The array every layer is cut into: ``rows`` physical rows by ``cols`` physical columns;
    each weight on ``slices`` column pairs times ``copies`` rows (differential scheme only when
    more than one device), each tile read ``rows_per_read`` rows at a time (None: all rows at
    once; a multiple of ``copies``)."""

    rows: int
    cols: int
    scheme: str = "differential"
    slices: int = 1
    copies: int = 1
    rows_per_read: int | None = None

    def __post_init__(self) -> None:
        check(self.rows >= 1, "tile rows", self.rows, "an integer >= 1")
        check(self.scheme in WEIGHT_SCHEMES, "weight scheme", self.scheme,
              f"one of {WEIGHT_SCHEMES}")
        check(self.cols >= 2, "tile cols", self.cols, "an integer >= 2")
        for name in ("slices", "copies"):
            value = getattr(self, name)
            check(isinstance(value, int) and 1 <= value <= 8, name, value,
                  "an integer from 1 to 8")
        if self.scheme == "differential":
            check(self.cols % 2 == 0, "tile cols", self.cols,
                  "an even number for differential pairs")
            check(self.cols >= 2 * self.slices, "tile cols", self.cols,
                  f">= 2 * slices = {2 * self.slices}")
        else:
            check(self.devices_per_weight == 1, "slices * copies", self.devices_per_weight,
                  "1 with the reference scheme (slicing needs differential pairs)")
        check(self.rows >= self.copies, "tile rows", self.rows, f">= copies = {self.copies}")
        rpr = self.rows_per_read
        check(rpr is None or (isinstance(rpr, int) and 1 <= rpr <= self.rows
                              and rpr % self.copies == 0), "rows_per_read", rpr,
              f"None or a multiple of copies = {self.copies} up to the tile's {self.rows} rows")

    @property
    def devices_per_weight(self) -> int:
        """Devices (of each polarity) per weight: its slices times its copies."""
        return self.slices * self.copies

    @property
    def inputs_per_tile(self) -> int:
        return self.rows // self.copies

    @property
    def outputs_per_tile(self) -> int:
        if self.scheme == "differential":
            return self.cols // (2 * self.slices)
        return self.cols - 1

    def columns_for(self, outputs: int) -> int:
        """Physical columns that ``outputs`` signed outputs occupy within one tile."""
        if self.scheme == "differential":
            return 2 * self.slices * outputs
        return outputs + 1

    def reads(self, inputs: int) -> int:
        """Reads of a tile holding ``inputs`` inputs (row parallelism)."""
        if self.rows_per_read is None:
            return 1
        return math.ceil(inputs * self.copies / self.rows_per_read)


@dataclass(frozen=True, slots=True)
class LayerMapping:
    """One layer on tiles. ``row_counts[r]`` is the inputs held by row tile r (each on
    ``copies`` rows), ``column_counts[c]`` the physical columns used in column tile c;
    ``input_phases`` is 2 for a layer with signed inputs (see the module docstring)."""

    name: str
    fan_in: int
    fan_out: int
    row_tiles: int
    col_tiles: int
    row_counts: tuple[int, ...]
    column_counts: tuple[int, ...]
    tile: TileGeometry
    input_phases: int = 1

    def __post_init__(self) -> None:
        check(len(self.row_counts) == self.row_tiles and sum(self.row_counts) == self.fan_in,
              f"{self.name}.row_counts", self.row_counts, f"{self.row_tiles} counts summing to "
              f"fan_in = {self.fan_in}")
        check(len(self.column_counts) == self.col_tiles and
              all(1 <= n <= self.tile.cols for n in self.column_counts),
              f"{self.name}.column_counts", self.column_counts,
              f"{self.col_tiles} counts in [1, {self.tile.cols}]")
        check(self.input_phases in (1, 2), f"{self.name}.input_phases", self.input_phases,
              "1 (non-negative inputs) or 2 (signed inputs)")

    @property
    def arrays(self) -> int:
        return self.row_tiles * self.col_tiles

    @property
    def output_counts(self) -> tuple[int, ...]:
        """Signed outputs held by each column tile."""
        per_tile = self.tile.outputs_per_tile
        return tuple(min(per_tile, self.fan_out - c * per_tile) for c in range(self.col_tiles))

    @property
    def devices(self) -> int:
        """Devices programmed with a weight (or reference) value."""
        return self.fan_in * self.tile.copies * sum(self.column_counts)

    @property
    def reads(self) -> int:
        """Sequential reads of each column tile: row-parallel groups over all row tiles."""
        return sum(self.tile.reads(n) for n in self.row_counts)

    @property
    def columns_converted(self) -> int:
        """ADC conversions per activation: every used column of every array, each phase and
        each row-parallel group."""
        return self.input_phases * self.reads * sum(self.column_counts)

    @property
    def adcs_parallel(self) -> int:
        """ADCs when every column has its own (the fully parallel schedule)."""
        return self.arrays * self.tile.cols

    @property
    def utilisation(self) -> float:
        return self.devices / (self.arrays * self.tile.rows * self.tile.cols)

    def adcs(self, adc_share: int) -> dict[str, int]:
        """ADCs per schedule (``measure.SCHEDULES`` names) with ``adc_share`` columns per ADC."""
        check(adc_share >= 1, "adc_share", adc_share, "an integer >= 1")
        return {"fully_parallel": self.adcs_parallel,
                "adc_shared": self.arrays * math.ceil(self.tile.cols / adc_share),
                "serialized": self.arrays}


def map_layer(name: str, fan_in: int, fan_out: int, tile: TileGeometry, *,
              input_phases: int = 1) -> LayerMapping:
    check(fan_in >= 1, f"{name}.fan_in", fan_in, "an integer >= 1")
    check(fan_out >= 1, f"{name}.fan_out", fan_out, "an integer >= 1")
    per_tile = tile.inputs_per_tile
    row_tiles = math.ceil(fan_in / per_tile)
    col_tiles = math.ceil(fan_out / tile.outputs_per_tile)
    rows = tuple(min(per_tile, fan_in - r * per_tile) for r in range(row_tiles))
    per_tile = tile.outputs_per_tile
    outputs = [min(per_tile, fan_out - c * per_tile) for c in range(col_tiles)]
    return LayerMapping(
        name=name,
        fan_in=fan_in,
        fan_out=fan_out,
        row_tiles=row_tiles,
        col_tiles=col_tiles,
        row_counts=rows,
        column_counts=tuple(tile.columns_for(n) for n in outputs),
        tile=tile,
        input_phases=input_phases,
    )


@dataclass(frozen=True, slots=True)
class ModelMapping:
    """Every layer of a model on tiles of one geometry, in execution order."""

    layers: tuple[LayerMapping, ...]
    tile: TileGeometry

    def __post_init__(self) -> None:
        check(len(self.layers) >= 1, "layers", len(self.layers), "one or more layers")
        check(all(m.tile == self.tile for m in self.layers), "layers", "mixed tiles",
              f"every layer on {self.tile}")

    @property
    def arrays(self) -> int:
        return sum(m.arrays for m in self.layers)

    @property
    def devices(self) -> int:
        return sum(m.devices for m in self.layers)

    @property
    def utilisation(self) -> float:
        return self.devices / (self.arrays * self.tile.rows * self.tile.cols)

    def adcs(self, adc_share: int) -> dict[str, int]:
        per_layer = [m.adcs(adc_share) for m in self.layers]
        return {k: sum(a[k] for a in per_layer) for k in per_layer[0]}

    def layer(self, name: str) -> LayerMapping:
        for m in self.layers:
            if m.name == name:
                return m
        raise KeyError(name)


def map_model(mlp: Mlp, tile: TileGeometry) -> ModelMapping:
    """Each layer of ``mlp`` on ``tile``s, two input phases where its inputs can be negative."""
    return ModelMapping(tuple(
        map_layer(layer.name, layer.fan_in, layer.fan_out, tile,
                  input_phases=2 if mlp.signed_inputs(layer) else 1)
        for layer in mlp.layers), tile)
