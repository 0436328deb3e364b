"""Design points of a crossbar accelerator and the tables that cost them.

A :class:`DesignPoint` is what a designer chooses on top of a simulated tile: the array size,
rows activated per read (row parallelism), the conductance range and bits per device, and how
many devices a weight takes (bit slicing and copies, :mod:`spicecim.cost.slicing`). Its
latency and energy always come from tables of its own configuration (:func:`design_table`:
the given run when it matches, else a run found or simulated under a folder by
:func:`spicecim.cost.schedule.simulate_table`), never scaled from another size.

:data:`MITIGATED` is the design point the NeRF report's mitigation ladder adds (its choice is
explained in docs/sources.md section 8): 64x64 tiles, each weight bit-sliced over two 4-bit
devices, each input on four rows (four copies of every device, summed in the column); the
tile's device, range and readout as the default's.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spicecim.cost import schedule as sched
from spicecim.cost.mapping import TileGeometry
from spicecim.errors import SpecError, check
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import WeightMapping

DESIGN_AXES = ("tile", "rows_per_read", "g_min", "g_max", "slices", "copies")
"""Axes of a design sweep (bits per device: the accuracy sweep's ``weight_bits``)."""


@dataclass(frozen=True, slots=True)
class DesignPoint:
    """Choices on top of a tile (None: the tile's own)."""

    rows: int | None = None
    cols: int | None = None
    rows_per_read: int | None = None
    g_min_s: float | None = None
    g_max_s: float | None = None
    weight_bits: int | None = None
    slices: int = 1
    copies: int = 1

    def __post_init__(self) -> None:
        for name in ("rows", "cols", "rows_per_read"):
            value = getattr(self, name)
            check(value is None or (isinstance(value, int) and value >= 1), name, value,
                  "None or an integer >= 1")
        for name in ("g_min_s", "g_max_s"):
            value = getattr(self, name)
            check(value is None or value > 0, name, value, "None or a conductance > 0 S")
        bits = self.weight_bits
        check(bits is None or (isinstance(bits, int) and 1 <= bits <= 16), "weight_bits", bits,
              "None or an integer from 1 to 16")

    def spec(self, base: specs.CrossbarSpec) -> specs.CrossbarSpec:
        return dataclasses.replace(base, rows=self.rows or base.rows, cols=self.cols or base.cols)

    def weights(self, base: WeightMapping) -> WeightMapping:
        return WeightMapping(base.scheme, self.g_min_s or base.g_min_s,
                             self.g_max_s or base.g_max_s, self.weight_bits or base.bits)

    def geometry(self, base: specs.CrossbarSpec, weights: WeightMapping) -> TileGeometry:
        spec = self.spec(base)
        return TileGeometry(spec.rows, spec.cols, weights.scheme, self.slices, self.copies,
                            self.rows_per_read)

    def describe(self, base: specs.CrossbarSpec, weights: WeightMapping) -> str:
        spec, w = self.spec(base), self.weights(weights)
        rpr = "all rows" if self.rows_per_read is None else f"{self.rows_per_read} rows"
        return (f"{spec.rows}x{spec.cols} tiles read {rpr} at a time, "
                f"{w.g_min_s * 1e6:g}-{w.g_max_s * 1e6:g} uS, {w.bits} bit per device, "
                f"{self.slices} slice(s) x {self.copies} row copy(ies) per weight")

    def label(self, base: specs.CrossbarSpec, weights: WeightMapping) -> str:
        spec, w = self.spec(base), self.weights(weights)
        rpr = "" if self.rows_per_read is None else f" R{self.rows_per_read}"
        return (f"{spec.rows}x{spec.cols}{rpr} {w.g_min_s * 1e6:g}-{w.g_max_s * 1e6:g}uS "
                f"{w.bits}b x{self.slices}s x{self.copies}c")


BASELINE = DesignPoint()
MITIGATED = DesignPoint(rows=64, cols=64, slices=2, copies=4)


def design_table(point: DesignPoint, base: sched.TileTable, directory: Path | None, *,
                 simulate: bool = True, workers: int | None = None, seed: int = 0,
                 engine: str | None = None) -> sched.TileTable | None:
    """The tables of ``point``'s configuration: ``base`` itself when it matches (and is a
    generic tile, not a co-simulation's), else a run
    under ``directory`` (:func:`spicecim.cost.schedule.on_demand_path`), simulated there
    when ``simulate`` on ``engine`` (None: the default engine); None when it is missing and
    not simulated."""
    spec, weights = point.spec(base.spec), point.weights(base.weights)
    if base.generic and base.matches(spec, weights):
        return base
    if directory is None:
        return None
    path = sched.on_demand_path(directory, spec, weights, engine)
    if path.exists():
        found = sched.find_table(sched.read_tables(path), spec, weights)
        if found is not None:
            return found
    if not simulate:
        return None
    return sched.simulate_table(spec, weights, directory, seed=seed, adc_share=base.adc_share,
                                workers=workers, engine=engine)


def parse_design_sweep(texts: Sequence[str]) -> dict[str, list[float]]:
    """``['tile=64,128,256', 'g_max=20e-6,40e-6']`` -> axes (names in DESIGN_AXES)."""
    axes: dict[str, list[float]] = {}
    for text in texts:
        name, sep, values = text.partition("=")
        name = name.strip()
        if not sep or name not in DESIGN_AXES:
            raise SpecError(f"sweep={text!r} is invalid: expected NAME=V1,V2,... with NAME one "
                            f"of {', '.join(DESIGN_AXES)}")
        try:
            axes[name] = [float(v) for v in values.split(",")]
        except ValueError:
            raise SpecError(f"sweep={text!r} is invalid: expected numbers after '='") from None
    return axes


def sweep_points(base: DesignPoint, axes: Mapping[str, Sequence[float]]) -> list[DesignPoint]:
    """Every combination of the axes on top of ``base``, the last varying fastest."""
    points = []
    for values in itertools.product(*axes.values()):
        change: dict[str, Any] = {}  # field -> value, of that field's type
        for name, value in zip(axes, values, strict=True):
            if name == "tile":
                change["rows"] = change["cols"] = _integer(name, value)
            elif name in ("g_min", "g_max"):
                change[f"{name}_s"] = float(value)
            else:
                change[name] = _integer(name, value)
        points.append(dataclasses.replace(base, **change))
    return points


def _integer(name: str, value: float) -> int:
    check(float(value).is_integer(), name, value, "an integer")
    return int(value)
