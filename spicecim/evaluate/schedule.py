"""Latency and energy of a mapped model from the per-column tables of simulated tiles.

Rules (DESIGN.md section 6):

- A layer that uses ``n`` columns of a tile takes that tile's simulated columns ``0..n-1``; the
  three schedules of a tile are :func:`spicecim.measure.schedule_layer`'s, so a one-tile layer
  has exactly the figures ``spicecim tables`` prints for the same columns.
- The tiles of one layer run in parallel: the layer's analog latency is its slowest tile's, its
  energy the sum over all its tiles. A layer with signed inputs reads twice (two input phases,
  :mod:`spicecim.evaluate.mapping`): twice the latency and energy. A row-parallel tile
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

import numpy as np

from spicecim import devices
from spicecim.driver import column_figures, simulate_to_file
from spicecim.errors import ResultFileError, check
from spicecim.evaluate.mapping import LayerMapping, ModelMapping
from spicecim.measure import ROW_POLICIES, SCHEDULES, ColumnFigures, schedule_layer
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import WeightMapping
from spicecim.store.hdf5 import open_run

# Command-line names of measure.SCHEDULES, in the same order.
SCHEDULE_NAMES = {"parallel": "fully_parallel", "adc-shared": "adc_shared",
                  "serialized": "serialized"}
SCHEDULE_LABELS = {v: k for k, v in SCHEDULE_NAMES.items()}
DEFAULT_POLICY = ROW_POLICIES[0]
"""Rows and front ends off once every column's sample is held (the sample-and-holds exist to
allow it)."""

# 32-bit integer add at 45 nm: 0.1 pJ (M. Horowitz, "Computing's energy problem (and what we can
# do about it)", ISSCC 2014, the operation-energy table; read in secondary copies of the table,
# search ids 54747880613 and 57785901847). Latency: an assumption, not a cited figure: one
# adder level per cycle of a 1 GHz digital clock.
DEFAULT_ADD_ENERGY_J = 0.1e-12
DEFAULT_ADD_LATENCY_S = 1e-9


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

    def __post_init__(self) -> None:
        check(len(self.columns) == self.spec.cols, "columns", len(self.columns),
              f"{self.spec.cols} (the tile's columns)")
        check(self.adc_share >= 1, "adc_share", self.adc_share, "an integer >= 1")

    @property
    def adc(self) -> devices.AdcModel:
        return self.spec.readout.adc

    def matches(self, spec: specs.CrossbarSpec, weights: WeightMapping) -> bool:
        return self.spec.digest() == spec.digest() and self.weights == weights


def spec_from_dict(d: Mapping) -> specs.CrossbarSpec:
    """The :class:`CrossbarSpec` whose ``to_dict()`` is ``d`` (as stored in a run's config)."""
    cell = d["cell"]
    access = cell.get("access")
    return specs.CrossbarSpec(
        rows=d["rows"], cols=d["cols"],
        cell=specs.CellParams(
            kind=cell["kind"], memristor=devices.MemristorParams(**cell["memristor"]),
            access=None if access is None else devices.AccessTransistor(**access),
            state=cell["state"]),
        wire=specs.WireParams(**d["wire"]),
        driver=specs.DriverParams(**d["driver"]),
        readout=devices.Readout.from_dict(d["readout"]),
    )


def read_tables(path: Path | str) -> list[TileTable]:
    """Every tile of a run file (``spicecim simulate``) as a :class:`TileTable`."""
    with open_run(path) as run:
        config = run.config
        try:
            spec = spec_from_dict(config["spec"])
            weights = WeightMapping(**config["parameters"]["weights"])
            adc_share = int(config["simulation"]["adc_share"])
        except (KeyError, TypeError) as exc:
            raise ResultFileError(f"{run.path}: its /config lacks {exc} (expected a run written "
                                  "by 'spicecim simulate')") from exc
        out = []
        for tile in run.tiles():
            attrs = run.tile_attrs(tile)
            if attrs.get("spec_digest") != spec.digest():
                continue  # a tile of another configuration than /config describes: not ours
            t = run.columns(tile)
            out.append(TileTable(
                source=f"{run.path}:{tile}", spec=spec, weights=weights, adc_share=adc_share,
                columns=column_figures(t), dac_e_conv_j=float(attrs["dac_e_conv_j"]),
                sh_e_clock_j=float(attrs["sh_e_clock_j"]),
                failed=tuple(int(j) for j in np.nonzero(t["status"] != "ok")[0])))
    return out


def find_table(tables: Sequence[TileTable], spec: specs.CrossbarSpec,
               weights: WeightMapping) -> TileTable | None:
    """The first table made with exactly this tile specification and weight mapping."""
    return next((t for t in tables if t.matches(spec, weights)), None)


def on_demand_path(directory: Path, spec: specs.CrossbarSpec, weights: WeightMapping) -> Path:
    """Where :func:`simulate_table` keeps the run of one configuration (found again next time)."""
    key = hashlib.sha256(f"{spec.digest()} {weights}".encode()).hexdigest()[:16]
    return Path(directory) / f"xbar{spec.rows}x{spec.cols}-{key}.h5"


def simulate_table(spec: specs.CrossbarSpec, weights: WeightMapping, directory: Path, *,
                   seed: int = 0, adc_share: int = 8, workers: int | None = None,
                   command_line: str = "") -> TileTable:
    """Simulate the configuration with the simulation stage, as ``spicecim simulate`` would
    (uniform random weights in [-1, 1] and inputs in [0, 1] from ``seed``)."""
    rng = np.random.default_rng(seed)
    outputs = spec.cols // 2 if weights.scheme == "differential" else spec.cols - 1
    w = rng.uniform(-1.0, 1.0, size=(spec.rows, outputs))
    x = rng.uniform(0.0, 1.0, size=spec.rows)
    tile = specs.Tile(spec, weights.to_conductances(w), x)
    parameters = {"weights": {"scheme": weights.scheme, "g_min_s": weights.g_min_s,
                              "g_max_s": weights.g_max_s, "bits": weights.bits}, "seed": seed}
    path = on_demand_path(directory, spec, weights)
    summary = simulate_to_file(tile, path, parameters=parameters,
                               adc_share=adc_share, workers=workers, progress=False,
                               command_line=command_line)
    return read_tables(summary.path)[0]


def with_converter(table: TileTable, bits: int, t_conv_s: float, e_conv_j: float,
                   source: str) -> TileTable:
    """``table`` with its ADC's conversion time and energy replaced (another converter, e.g. an
    ACAM's); the columns' latency and array energy stay."""
    readout = dataclasses.replace(table.spec.readout, adc=devices.AdcModel(
        bits=bits, t_conv_s=t_conv_s, e_conv_j=e_conv_j, source=source))
    return dataclasses.replace(table, spec=dataclasses.replace(table.spec, readout=readout))


def with_geometry(spec: specs.CrossbarSpec, rows: int, cols: int) -> specs.CrossbarSpec:
    return dataclasses.replace(spec, rows=rows, cols=cols)


# --- costs -----------------------------------------------------------------------------------


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

    def __post_init__(self) -> None:
        check(self.schedule in SCHEDULES, "schedule", self.schedule, f"one of {SCHEDULES}")

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
    k = table.adc_share if adc_share is None else adc_share
    per_tile = [{s.schedule: s for s in schedule_layer(
                    table.columns.head(n), table.adc, k, rows=table.spec.rows,
                    dac_e_conv_j=table.dac_e_conv_j, sh_e_clock_j=table.sh_e_clock_j,
                    policies=(policy,))}
                for n in m.column_counts]
    reads = m.input_phases * m.reads
    sequential = m.input_phases * max(m.tile.reads(n) for n in m.row_counts)
    out = {}
    for s in SCHEDULES:
        latency = float(np.max([t[s].latency_s for t in per_tile]))  # NaN (missing) wins
        out[s] = LayerCost(
            m.name, s, sequential * latency + t_digital,
            reads * sum(t[s].energy_dac_j + t[s].energy_array_j for t in per_tile),
            reads * sum(t[s].energy_frontend_j + t[s].energy_sh_j for t in per_tile),
            reads * sum(t[s].energy_adc_j for t in per_tile),
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
               readout: str = "ADC (tables)", policy: str = DEFAULT_POLICY) -> ModelCost:
    """Every layer of ``mapping`` from ``table`` (None: every figure missing); ``readout``
    describes the converter whose figures the table carries."""
    return ModelCost(mapping, tuple(layer_costs(m, table, adder, adc_share, policy)
                                    for m in mapping.layers),
                     workload, adc_share, None if table is None else table.source, readout,
                     policy)
