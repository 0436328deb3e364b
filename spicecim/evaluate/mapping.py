"""Layers onto crossbar tiles: how many arrays, devices and ADCs a model needs.

Rows of a tile take a layer's inputs, columns its outputs. A signed output takes two physical
columns (differential pair) or one column plus a reference column shared by the tile's outputs.
A layer wider than one tile in its inputs is split into row tiles whose partial sums are added
digitally after the ADCs; biases are added digitally too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from spicecim.errors import check
from spicecim.netlist.spec import WEIGHT_SCHEMES


@dataclass(frozen=True, slots=True)
class TileGeometry:
    rows: int
    cols: int
    scheme: str = "differential"

    def __post_init__(self) -> None:
        check(self.rows >= 1, "tile rows", self.rows, "an integer >= 1")
        check(self.scheme in WEIGHT_SCHEMES, "weight scheme", self.scheme, f"one of {WEIGHT_SCHEMES}")
        check(self.cols >= 2, "tile cols", self.cols, "an integer >= 2")
        if self.scheme == "differential":
            check(self.cols % 2 == 0, "tile cols", self.cols, "an even number for differential pairs")

    @property
    def outputs_per_tile(self) -> int:
        return self.cols // 2 if self.scheme == "differential" else self.cols - 1

    def columns_for(self, outputs: int) -> int:
        """Physical columns that ``outputs`` signed outputs occupy within one tile."""
        return 2 * outputs if self.scheme == "differential" else outputs + 1


@dataclass(frozen=True, slots=True)
class LayerMapping:
    """One layer on tiles. ``column_counts[c]`` is the physical columns used in column tile c."""

    name: str
    fan_in: int
    fan_out: int
    row_tiles: int
    col_tiles: int
    row_counts: tuple[int, ...]
    column_counts: tuple[int, ...]
    tile: TileGeometry

    @property
    def arrays(self) -> int:
        return self.row_tiles * self.col_tiles

    @property
    def devices(self) -> int:
        """Devices programmed with a weight (or reference) value."""
        return self.fan_in * sum(self.column_counts)

    @property
    def columns_converted(self) -> int:
        """Column readouts per activation: every used column of every array."""
        return self.row_tiles * sum(self.column_counts)

    @property
    def adcs_parallel(self) -> int:
        """ADCs when every column has its own (the fully parallel schedule)."""
        return self.arrays * self.tile.cols

    @property
    def utilisation(self) -> float:
        return self.devices / (self.arrays * self.tile.rows * self.tile.cols)

    @property
    def partial_sum_adds(self) -> int:
        """Digital additions joining row tiles, per output, per activation."""
        return (self.row_tiles - 1) * self.fan_out


def map_layer(name: str, fan_in: int, fan_out: int, tile: TileGeometry) -> LayerMapping:
    check(fan_in >= 1, f"{name}.fan_in", fan_in, "an integer >= 1")
    check(fan_out >= 1, f"{name}.fan_out", fan_out, "an integer >= 1")
    row_tiles = math.ceil(fan_in / tile.rows)
    col_tiles = math.ceil(fan_out / tile.outputs_per_tile)
    rows = tuple(min(tile.rows, fan_in - r * tile.rows) for r in range(row_tiles))
    outputs = [min(tile.outputs_per_tile, fan_out - c * tile.outputs_per_tile) for c in range(col_tiles)]
    return LayerMapping(
        name=name,
        fan_in=fan_in,
        fan_out=fan_out,
        row_tiles=row_tiles,
        col_tiles=col_tiles,
        row_counts=rows,
        column_counts=tuple(tile.columns_for(n) for n in outputs),
        tile=tile,
    )
