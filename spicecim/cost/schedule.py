"""Latency and energy of a mapped model from the per-column tables of simulated tiles.

Rules (DESIGN.md section 6):

- A layer that uses ``n`` columns of a tile takes that tile's simulated columns ``0..n-1``; the
  three schedules of a tile are :func:`spicecim.measure.schedule_layer`'s, so a one-tile layer
  has exactly the figures ``spicecim tables`` prints for the same columns.
- The tiles of one layer run in parallel: the layer's analog latency is its slowest tile's, its
  energy the sum over all its tiles. A layer with signed inputs reads twice (two input phases,
  :mod:`spicecim.cost.mapping`): twice the latency and energy. A row-parallel tile
  (``rows_per_read``) is read once per group of rows, one after another: its latency and
  energy are the table's per read times the groups (each read costed as the table's activation,
  which drives every row: for the array and the DACs an upper bound).
- After the ADCs a digital stage subtracts each differential pair (or the reference column),
  weighs and adds the slices of a sliced weight, adds the partial sums of all row
  tiles, row groups and phases, and adds the bias: ``2 * d * partials`` additions per output
  (``d`` slices per weight, ``partials = phases * reads``), ``1 + ceil(log2(d * partials +
  1))`` adder levels in sequence. The per-layer rescaling and the activation are not costed.
- Layers run one after another: a sample's latency and energy are the sums over layers.
- Readout: the tables' ADC (``t_conv``, ``e_conv`` per conversion), or an ACAM converter
  (:func:`spicecim.acam.converter.converter_figures`) whose sense time and energy per conversion
  replace them (:func:`with_converter`); the columns' array latency and energy stay the tables'.
- A tile configuration absent from the tables is simulated on demand (:func:`simulate_table`)
  or its figures are NaN ("missing"); they are never extrapolated from another size.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import SupportsFloat, SupportsIndex, SupportsInt

import numpy as np

from spicecim import devices
from spicecim.cost.mapping import LayerMapping, ModelMapping
from spicecim.errors import ResultFileError, check
from spicecim.measure import SCHEDULES, ColumnFigures, schedule_layer
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import WeightMapping, make_tile
from spicecim.sim.driver import RunOptions, simulate
from spicecim.sim.sweep import DEFAULT_ENGINE
from spicecim.store.hdf5 import open_run
from spicecim.store.runs import Run

DEFAULT_POLICY = "driven"
"""Rows and front ends biased until the last conversion: turning them off once the samples are
held (``hold``) needs a sample-and-hold whose droop, charge injection and charge sharing into
a shared ADC are not simulated."""

# 32-bit integer add at 45 nm: 0.1 pJ (M. Horowitz, "Computing's energy problem (and what we can
# do about it)", ISSCC 2014, the operation-energy table; read in secondary copies of the table,
# search ids 54747880613 and 57785901847). Latency: an assumption, not a cited figure: one
# adder level per cycle of a 1 GHz digital clock.
DEFAULT_ADD_ENERGY_J = 0.1e-12
DEFAULT_ADD_LATENCY_S = 1e-9


# Energy per conversion of a 32 nm SAR ADC against its resolution (pJ): the ISAAC ADC scaled
# following Saberi, Lotfi, Mafinezhad and Serdijn 2011, as the hwcomponents ISAAC library encodes
# it (docs/sources.md section 4). Only ratios are used, so the tables' ADC keeps its own energy;
# a resolution outside 4..10 bits has no cited figure and its energy is reported missing.
ADC_ENERGY_BY_BITS_PJ = {4: 0.79, 5: 0.99, 6: 1.20, 7: 1.42, 8: 1.67, 9: 1.97, 10: 2.38}


@dataclass(frozen=True, slots=True)
class DigitalAdder:
    """The digital adder after the ADCs: time per adder level, energy per addition."""

    latency_s: float = DEFAULT_ADD_LATENCY_S
    energy_j: float = DEFAULT_ADD_ENERGY_J

    def __post_init__(self) -> None:
        check(self.latency_s >= 0, "adder latency_s", self.latency_s, "a time >= 0 s")
        check(self.energy_j >= 0, "adder energy_j", self.energy_j, "an energy >= 0 J")


@dataclass(frozen=True, slots=True)
class TileTable:
    """The per-column figures of one simulated tile (:class:`spicecim.measure.ColumnFigures`,
    NaN where a column did not end ``ok``), with the configuration it was made with."""

    source: str
    spec: specs.CrossbarSpec
    weights: WeightMapping
    adc_share: int
    columns: ColumnFigures = field(repr=False)
    dac_e_conv_j: float = 0.0
    sh_e_clock_j: float = 0.0
    failed: tuple[int, ...] = ()
    # the periphery the run sized for the tile (spicecim.measure.periphery): each driven row's
    # buffer bias at its rail and its word line per read
    row_bias_w: float = 0.0
    wordline_e_j: float = 0.0
    # False: a tile of a model's co-simulation (its own weights and activations), which
    # describes the tile's configuration but never stands in for a generic tile's figures.
    generic: bool = True

    def __post_init__(self) -> None:
        check(len(self.columns) == self.spec.cols, "columns", len(self.columns),
              f"{self.spec.cols} (the tile's columns)")
        check(self.adc_share >= 1, "adc_share", self.adc_share, "an integer >= 1")

    @property
    def adc(self) -> devices.AdcModel:
        return self.spec.readout.adc

    def matches(self, spec: specs.CrossbarSpec, weights: WeightMapping) -> bool:
        return self.spec.digest() == spec.digest() and self.weights == weights


def stored_float(values: Mapping[str, object], key: str, where: str) -> float:
    """``values[key]``, a number of a run file (a table row, which the store gives untyped), as
    a float; ``where`` names it in the error."""
    value = values[key]
    if not isinstance(value, SupportsFloat):
        raise ResultFileError(f"{where}: {key}={value!r} is invalid: expected a number")
    return float(value)


def stored_int(values: Mapping[str, object], key: str, where: str) -> int:
    """``values[key]``, a count of a run file, as an int (see :func:`stored_float`)."""
    value = values[key]
    if not isinstance(value, SupportsInt | SupportsIndex):
        raise ResultFileError(f"{where}: {key}={value!r} is invalid: expected a count")
    return int(value)


_TABLE_ATTRS = ("dac_e_conv_j", "sh_e_clock_j", "row_bias_w", "wordline_e_j")
"""The tile attributes a table costs with: a run that did not store them is refused."""


def read_tables(path: Path | str) -> list[TileTable]:
    """Every tile of a run file (``spicecim simulate``) as a :class:`TileTable`: those of the
    configuration ``/config`` describes (a Monte Carlo replica, read through its nominal
    tile's pinned readout, is not one). A model's co-simulation holds none: its tiles are the
    model's own (:func:`spicecim.cost.cosim.layer_costs` reads them)."""
    with open_run(path) as run:
        spec, weights = run.spec, run.mapping
        if weights is None:
            raise ResultFileError(f"{run.path}: its tile was given as conductances, not "
                                  "weights: expected a run of weights mapped onto a tile")
        if run.model is not None:
            return []  # a model's own tiles, not a generic one (spicecim.cost.cosim)
        adc_share = int(run.simulation["adc_share"])
        out = []
        for tile in run.tiles():
            attrs = run.tile_attrs(tile)
            if attrs.spec_digest != spec.digest():
                continue
            t = run.columns(tile)
            where = f"{run.path}:{tile}"
            attrs.require(where, *_TABLE_ATTRS)
            out.append(TileTable(
                source=where, spec=spec, weights=weights, adc_share=adc_share,
                columns=run.column_figures(tile), dac_e_conv_j=attrs.dac_e_conv_j,
                sh_e_clock_j=attrs.sh_e_clock_j,
                failed=tuple(int(j) for j in np.nonzero(t["status"] != "ok")[0]),
                row_bias_w=attrs.row_bias_w, wordline_e_j=attrs.wordline_e_j))
    return out


def refuse_partial(run: Run) -> None:
    """Refuse (one line) a co-simulation of part of a model (``simulate --model --layers`` or
    ``--max-tiles``): it checks those tiles, it costs no model."""
    partial = (run.model or {}).get("partial")
    if partial:
        raise ResultFileError(f"{run.path} is a partial co-simulation ({partial}): expected the "
                              "whole model's (co-simulate it without --layers and --max-tiles)")


def cosim_tile_table(path: Path | str) -> TileTable:
    """The configuration of a model's co-simulation (``spicecim simulate --model``) as a
    table of its first tile, marked not ``generic``: what a render of the co-simulated design
    point needs of the tile (specification, mapping, converter), its costs being the
    co-simulation's own (:func:`spicecim.cost.cosim.layer_costs`)."""
    with open_run(path) as run:
        spec, weights = run.spec, run.mapping
        if weights is None or run.model is None:
            raise ResultFileError(f"{run.path} holds no co-simulation of a model: expected a "
                                  "run of 'spicecim simulate --model'")
        refuse_partial(run)
        tile = run.tiles()[0]
        attrs = run.tile_attrs(tile)
        attrs.require(f"{run.path}:{tile}", *_TABLE_ATTRS)
        return TileTable(source=f"{run.path} (co-simulation)", spec=spec, weights=weights,
                         adc_share=int(run.simulation["adc_share"]),
                         columns=run.column_figures(tile), dac_e_conv_j=attrs.dac_e_conv_j,
                         sh_e_clock_j=attrs.sh_e_clock_j, generic=False,
                         row_bias_w=attrs.row_bias_w, wordline_e_j=attrs.wordline_e_j)


def find_table(tables: Sequence[TileTable], spec: specs.CrossbarSpec,
               weights: WeightMapping) -> TileTable | None:
    """The first table made with exactly this tile specification and weight mapping."""
    return next((t for t in tables if t.matches(spec, weights)), None)


def on_demand_path(directory: Path, spec: specs.CrossbarSpec, weights: WeightMapping,
                   engine: str | None = None) -> Path:
    """Where :func:`simulate_table` keeps the run of one configuration on ``engine`` (None:
    the default engine; found again next time). Each engine's run has its own file: a table
    asked of one engine is never another's (ngspice's keeps the name it always had)."""
    key = hashlib.sha256(f"{spec.digest()} {weights}".encode()).hexdigest()[:16]
    engine = engine or DEFAULT_ENGINE
    suffix = "" if engine == "ngspice" else f"-{engine}"
    return Path(directory) / f"xbar{spec.rows}x{spec.cols}-{key}{suffix}.h5"


def simulate_table(spec: specs.CrossbarSpec, weights: WeightMapping, directory: Path, *,
                   seed: int = 0, adc_share: int = 8, workers: int | None = None,
                   command_line: str = "", engine: str | None = None) -> TileTable:
    """Simulate the configuration through the run driver, as ``spicecim simulate`` would
    (uniform random weights in [-1, 1] and inputs in [0, 1] from ``seed``), on ``engine``
    (None: the default engine; the run records it)."""
    tile = make_tile(spec, weights, seed=seed)
    path = on_demand_path(directory, spec, weights, engine)
    options = RunOptions(adc_share=adc_share, engine=engine or DEFAULT_ENGINE)
    summary = simulate(tile, path, options=options, parameters={"seed": seed},
                       workers=workers, progress=False, command_line=command_line)
    return read_tables(summary.path)[0]


def with_converter(table: TileTable, adc: devices.AdcModel) -> TileTable:
    """``table`` with its ADC replaced by ``adc`` (another converter, e.g. an ACAM's, with its
    own conversion time, energy and reference buffer); the columns' latency and array energy
    stay."""
    readout = dataclasses.replace(table.spec.readout, adc=adc)
    return dataclasses.replace(table, spec=dataclasses.replace(table.spec, readout=readout))


def scaled_adc(adc: devices.AdcModel, bits: int) -> devices.AdcModel | None:
    """The tables' ADC at another resolution, its energy scaled by ADC_ENERGY_BY_BITS_PJ;
    None where either resolution has no cited figure."""
    if bits == adc.bits:
        return adc
    if bits not in ADC_ENERGY_BY_BITS_PJ or adc.bits not in ADC_ENERGY_BY_BITS_PJ:
        return None
    ratio = ADC_ENERGY_BY_BITS_PJ[bits] / ADC_ENERGY_BY_BITS_PJ[adc.bits]
    return dataclasses.replace(adc, bits=bits, e_conv_j=adc.e_conv_j * ratio,
                               source=f"{adc.source} scaled to {bits} bit (Saberi 2011)".strip())


def with_geometry(spec: specs.CrossbarSpec, rows: int, cols: int) -> specs.CrossbarSpec:
    return dataclasses.replace(spec, rows=rows, cols=cols)


# --- costs -----------------------------------------------------------------------------------

GENERIC = "generic tile"
COSIMULATED = "co-simulated"
SOURCES = (GENERIC, COSIMULATED)


@dataclass(frozen=True, slots=True)
class LayerCost:
    """One layer (or a model total) under one schedule, per sample: the analog tiles' energy by
    part (:class:`spicecim.measure.LayerSchedule`: the DACs' conversions and the array they
    drive, the front ends and their sample-and-holds, the ADCs) and the digital stage's."""

    name: str
    schedule: str
    latency_s: float
    energy_array_j: float
    energy_frontend_j: float
    energy_adc_j: float
    energy_digital_j: float
    conversions: int
    source: str = "generic tile"
    """Where the analog figures came from: :data:`GENERIC` (one simulated tile's first
    columns) or :data:`COSIMULATED` (the model's own tiles, :mod:`spicecim.cost.cosim`)."""

    def __post_init__(self) -> None:
        check(self.schedule in SCHEDULES, "schedule", self.schedule, f"one of {SCHEDULES}")
        check(self.source in SOURCES, "source", self.source, f"one of {SOURCES}")

    @property
    def energy_j(self) -> float:
        return (self.energy_array_j + self.energy_frontend_j + self.energy_adc_j
                + self.energy_digital_j)


def digital_stage(m: LayerMapping, adder: DigitalAdder) -> tuple[float, float]:
    """(latency, energy) of the digital stage after the ADCs (module docstring)."""
    partials = m.input_phases * m.reads
    terms = m.tile.slices * partials  # copies add up in the column, in the analog domain
    levels = 1 + math.ceil(math.log2(terms + 1))
    return levels * adder.latency_s, 2 * terms * m.fan_out * adder.energy_j


def layer_costs(m: LayerMapping, table: TileTable | None, adder: DigitalAdder,
                adc_share: int | None = None, policy: str = DEFAULT_POLICY
                ) -> dict[str, LayerCost]:
    """The layer's cost under each schedule (``measure.SCHEDULES`` names) with rows and front
    ends kept on as ``policy`` says; NaN without a table. ``adc_share`` defaults to the
    table's."""
    t_digital, e_digital = digital_stage(m, adder)
    conversions = m.columns_converted
    if table is None:
        return {s: LayerCost(m.name, s, math.nan, math.nan, math.nan, math.nan, e_digital,
                             conversions) for s in SCHEDULES}
    check(table.spec.rows == m.tile.rows and table.spec.cols == m.tile.cols, "table tile",
          f"{table.spec.rows}x{table.spec.cols}", f"{m.tile.rows}x{m.tile.cols} (the mapping's)")
    if not table.generic:
        raise ResultFileError(f"{table.source}: a tile of a model's own co-simulation, not a "
                              "generic tile: expected its layers' costs (cosim.layer_costs)")
    k = table.adc_share if adc_share is None else adc_share
    per_tile = [{s.schedule: s for s in schedule_layer(
                    table.columns.head(n), table.adc, k, rows=table.spec.rows,
                    dac_e_conv_j=table.dac_e_conv_j, sh_e_clock_j=table.sh_e_clock_j,
                    row_bias_w=table.row_bias_w, wordline_e_j=table.wordline_e_j,
                    policies=(policy,))}
                for n in m.column_counts]
    reads = m.input_phases * m.reads
    sequential = m.input_phases * max(m.tile.reads(n) for n in m.row_counts)
    out = {}
    for s in SCHEDULES:
        latency = float(np.max([t[s].latency_s for t in per_tile]))  # NaN (missing) wins
        out[s] = LayerCost(
            m.name, s, sequential * latency + t_digital,
            reads * sum(t[s].energy_dac_j + t[s].energy_rowbias_j + t[s].energy_array_j
                        + t[s].energy_wordline_j for t in per_tile),
            reads * sum(t[s].energy_frontend_j + t[s].energy_sh_j for t in per_tile),
            reads * sum(t[s].energy_adc_j + t[s].energy_adcref_j for t in per_tile),
            e_digital, conversions)
    return out


@dataclass(frozen=True, slots=True)
class Workload:
    """What a frame asks: samples per ray, pixels, and how many copies of the arrays run."""

    samples_per_ray: int = 192  # 64 coarse + 128 fine (Mildenhall et al. 2020; docs/sources.md)
    width_px: int = 800
    height_px: int = 800
    replicas: int = 1

    def __post_init__(self) -> None:
        for name in ("samples_per_ray", "width_px", "height_px", "replicas"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 1, name, value, "an integer >= 1")

    @property
    def samples_per_frame(self) -> int:
        return self.samples_per_ray * self.width_px * self.height_px


@dataclass(frozen=True, slots=True)
class Totals:
    """A model's figures under one schedule. Without pipelining each replica takes one sample
    at a time through all layers; ``pipelined_per_s`` is the bound when layers overlap (one
    sample per slowest layer per replica)."""

    schedule: str
    sample_latency_s: float
    sample_energy_j: float
    ray_latency_s: float
    ray_energy_j: float
    frame_latency_s: float
    frame_energy_j: float
    throughput_per_s: float
    pipelined_per_s: float


@dataclass(frozen=True, slots=True)
class ModelCost:
    """Every layer under every schedule, and the totals of a workload."""

    mapping: ModelMapping
    layers: tuple[Mapping[str, LayerCost], ...]
    workload: Workload
    adc_share: int
    table: str | None
    readout: str = "ADC (tables)"
    policy: str = DEFAULT_POLICY

    def layer(self, name: str, schedule: str) -> LayerCost:
        i = [m.name for m in self.mapping.layers].index(name)
        return self.layers[i][schedule]

    def total(self, schedule: str) -> Totals:
        costs = [layer[schedule] for layer in self.layers]
        latency = sum(c.latency_s for c in costs)
        energy = sum(c.energy_j for c in costs)
        w = self.workload
        per_ray = math.ceil(w.samples_per_ray / w.replicas)
        per_frame = math.ceil(w.samples_per_frame / w.replicas)
        slowest = float(np.max([c.latency_s for c in costs]))
        return Totals(schedule, latency, energy, per_ray * latency, w.samples_per_ray * energy,
                      per_frame * latency, w.samples_per_frame * energy,
                      w.replicas / latency if latency > 0 else math.nan,
                      w.replicas / slowest if slowest > 0 else math.nan)


def model_cost(mapping: ModelMapping, table: TileTable | None, workload: Workload,
               adc_share: int, adder: DigitalAdder = DigitalAdder(),
               readout: str = "ADC (tables)", policy: str = DEFAULT_POLICY, *,
               layers: Mapping[str, Mapping[str, LayerCost]] | None = None,
               source: str | None = None) -> ModelCost:
    """Every layer of ``mapping``: from ``layers`` where it has the layer (a co-simulation's,
    :func:`spicecim.cost.cosim.layer_costs`), else from ``table`` (None: every figure
    missing); ``readout`` describes the converter whose figures they carry, ``source`` where
    they came from [default: the table's]."""
    given = layers or {}
    return ModelCost(mapping, tuple(given[m.name] if m.name in given
                                    else layer_costs(m, table, adder, adc_share, policy)
                                    for m in mapping.layers),
                     workload, adc_share,
                     source or (None if table is None else table.source), readout, policy)
