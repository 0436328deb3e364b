"""The model co-simulated: every tile of the mapped network, with its own conductances and its
own activations, through the run driver.

A :class:`Plan` holds the model, the tile specification and weight mapping, and the network's
inputs: ``inputs``, the K samples each tile is driven with, and ``calibration``, the batch whose
largest input to each layer sets that layer's DAC scale (as the accuracy pass sets it). The
model is mapped onto tiles with the evaluator's mapping (:func:`~spicecim.cost.mapping.
map_model`); each tile is programmed with its layer's quantised conductances
(:func:`~spicecim.cost.slicing.target_conductances`; unused cells at ``g_min``; programming
variation optional, seeded, :func:`~spicecim.netlist.weights.programming_sigma_s`); each is
driven by the layer's own input under every sample: the float network's activations, scaled by
the layer's DAC scale and clipped to [0, 1], in two phases (positive parts, then magnitudes of
the negative parts) for a layer with signed inputs; the DAC quantises them as the tile does.
Every column of every tile is simulated; a tile's schedules convert the columns its layer uses
and drive the rows it uses, as the evaluator counts them.

Run file names: tile ``<layer>.r<R>c<C>.k<K>p<P>`` (row tile, column tile, sample, phase); the
tiles ``<layer>.r<R>c<C>.*`` share their conductances, so each column is loaded once for all
their inputs. Layers ``<layer>.<stat>`` for each of :data:`STATISTICS`: per sample, the layer's
tiles work in parallel (latency: the slowest; energy: the sum) and its phases one after the
other (latency and energy add); then the statistic over the samples, figure by figure (the
total energy of a row is the sum of its parts' statistics). The digital stage after the ADCs
is the evaluator's (:func:`spicecim.cost.schedule.digital_stage`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spicecim.cost.mapping import LayerMapping, ModelMapping, TileGeometry, map_model
from spicecim.cost.reads import Read, combine_reads
from spicecim.cost.schedule import (
    COSIMULATED,
    DEFAULT_POLICY,
    DigitalAdder,
    LayerCost,
    digital_stage,
    refuse_partial,
    stored_float,
    stored_int,
)
from spicecim.cost.slicing import target_conductances
from spicecim.devices import AdcModel
from spicecim.errors import ResultFileError, SpecError, check
from spicecim.measure import SCHEDULES
from spicecim.models.mlp import Mlp, batch_size
from spicecim.netlist.spec import CrossbarSpec, Tile
from spicecim.netlist.weights import WeightMapping, programming_sigma_s
from spicecim.sim.driver import LayerJob, RunOptions, RunSummary, TileJob, check_encoding, run_job
from spicecim.sim.executors import Cluster
from spicecim.solve import adc_range_a, calibrated_range_a, calibration_drive
from spicecim.store import schema
from spicecim.store.runs import Run

STATISTICS = ("mean", "max", "p95")
RANGES = "ranges"
"""The co-simulation's record of each tile's ADC range: ``{tile group: [calibrated, range]}``
in amperes (:func:`tile_range_a`)."""


def model_digest(mlp: Mlp) -> str:
    """A digest of the network's graph and weights: what a co-simulation was made for."""
    h = hashlib.sha256(json.dumps({"inputs": mlp.input_widths(),
                                   "layers": [(d.name, list(d.sources), d.activation)
                                              for d in mlp.layers]}).encode())
    for d in mlp.layers:
        h.update(np.ascontiguousarray(d.weight, np.float32).tobytes())
        h.update(np.ascontiguousarray(d.bias, np.float32).tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Plan:
    """What to co-simulate (see the module docstring). ``description`` says where the inputs
    came from; ``weights`` where the model's weights did (a file's digest joins the
    provenance)."""

    mlp: Mlp
    spec: CrossbarSpec
    mapping: WeightMapping
    inputs: Mapping[str, np.ndarray] = field(repr=False)
    calibration: Mapping[str, np.ndarray] = field(repr=False)
    model: str = ""
    weights: str = ""
    description: str = ""
    variation: float = 0.0
    seed: int = 0
    slices: int = 1
    copies: int = 1
    rows_per_read: int | None = None
    origin: Mapping[str, object] = field(default_factory=dict)
    layers: tuple[str, ...] = ()
    max_tiles: int | None = None

    def __post_init__(self) -> None:
        self.geometry  # noqa: B018 - validates slices, copies and rows_per_read on the tile
        names = [d.name for d in self.mlp.layers]
        unknown = [n for n in self.layers if n not in names]
        check(not unknown, "layers", ",".join(unknown),
              f"names of the model's layers ({','.join(names)})")
        check(self.max_tiles is None or (isinstance(self.max_tiles, int) and self.max_tiles >= 1),
              "max_tiles", self.max_tiles, "None or an integer >= 1")
        k = batch_size(self.inputs)
        check(1 <= k <= 1024, "inputs", k, "1 to 1024 samples (each is a full co-simulation)")
        check(batch_size(self.calibration) >= 1, "calibration", batch_size(self.calibration),
              "one or more samples")
        check(self.variation >= 0, "variation", self.variation, "a scale >= 0 of sigma_G")
        check(isinstance(self.seed, int) and self.seed >= 0, "seed", self.seed,
              "an integer >= 0")

    @property
    def samples(self) -> int:
        return batch_size(self.inputs)

    @property
    def geometry(self) -> TileGeometry:
        return TileGeometry(self.spec.rows, self.spec.cols, self.mapping.scheme, self.slices,
                            self.copies, self.rows_per_read)

    @property
    def model_mapping(self) -> ModelMapping:
        return map_model(self.mlp, self.geometry)

    def selected(self) -> list[tuple[LayerMapping, int, int]]:
        """The tiles (layer, row tile, column tile) co-simulated: every tile of ``layers``
        (default: of every layer) in order, the first ``max_tiles`` of them."""
        chosen = [(m, r, c) for m in self.model_mapping.layers
                  if not self.layers or m.name in self.layers
                  for r in range(m.row_tiles) for c in range(m.col_tiles)]
        return chosen[:self.max_tiles]

    def partial(self) -> str:
        """What part of the model is co-simulated, in words ("": all of it)."""
        total = self.model_mapping.arrays
        chosen = self.selected()
        if len(chosen) == total:
            return ""
        names = list(dict.fromkeys(m.name for m, _, _ in chosen))
        return f"{len(chosen)} of the model's {total} tiles (layers {','.join(names)})"

    def columns(self) -> int:
        """Column transients the co-simulation runs: each selected tile's columns under every
        sample, input phase and row group."""
        tile = self.geometry
        return sum(self.spec.cols * m.input_phases * tile.reads(m.row_counts[r]) * self.samples
                   for m, r, _ in self.selected())

    def provenance(self) -> dict[str, object]:
        """What the run's ``/config`` records of the co-simulation (a rerun must ask the
        same; the evaluator checks it against the model it evaluates, and refuses a
        ``partial`` one)."""
        names = list(dict.fromkeys(m.name for m, _, _ in self.selected()))
        return {"name": self.model, "digest": model_digest(self.mlp), "weights": self.weights,
                "inputs": self.description, "samples": self.samples,
                "variation": self.variation, "seed": self.seed, "layers": names,
                "partial": self.partial(), "geometry": geometry_of(self.geometry),
                "origin": dict(self.origin)}


def geometry_of(tile: TileGeometry) -> dict[str, object]:
    """What a co-simulation records of its tiles' design choices (devices per weight, reads)."""
    return {"slices": tile.slices, "copies": tile.copies, "rows_per_read": tile.rows_per_read}


def layer_inputs(mlp: Mlp, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each layer's input (its sources concatenated) when the float network runs ``inputs``."""
    seen: dict[str, np.ndarray] = {}

    def record(name: str, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        seen[name] = np.asarray(x, float)
        return np.asarray(x, float) @ np.asarray(weight, float)

    mlp.forward(dict(inputs), record)
    return seen


@dataclass(frozen=True, slots=True)
class _Tile:
    """One programmed tile of a layer: where it sits, the layer inputs it holds and its
    conductances."""

    layer: LayerMapping
    row: int
    col: int
    rows: slice
    g_s: np.ndarray = field(repr=False)

    @property
    def group(self) -> str:
        return f"{self.layer.name}.r{self.row}c{self.col}"


def _programmed(plan: Plan) -> list[_Tile]:
    """Every tile of the mapping programmed as the evaluator places the weights: each input on
    ``copies`` rows, each output on ``2 * slices`` columns (:func:`~spicecim.cost.slicing.
    target_conductances`); unused cells at ``g_min``."""
    spec, weights, tile = plan.spec, plan.mapping, plan.geometry
    mem = spec.cell.memristor
    dense = {d.name: d for d in plan.mlp.layers}
    index = {name: i for i, name in enumerate(dense)}
    out = []
    for m, r, c in plan.selected():
        w = np.asarray(dense[m.name].weight, float)
        w_max = float(np.max(np.abs(w))) or 1.0
        row0, n_in = sum(m.row_counts[:r]), m.row_counts[r]
        out0, n_out = sum(m.output_counts[:c]), m.output_counts[c]
        g = np.full((spec.rows, spec.cols), weights.g_min_s)
        g[:n_in * tile.copies, :m.column_counts[c]] = target_conductances(
            weights, w[row0:row0 + n_in, out0:out0 + n_out], w_max, weights.bits,
            tile.slices, tile.copies)
        if plan.variation > 0:  # each tile its own draw, whichever tiles are selected
            z = np.random.default_rng([plan.seed, 4, index[m.name], r, c]
                                      ).standard_normal(g.shape)
            g = np.clip(g + plan.variation * programming_sigma_s(g, weights.g_max_s) * z,
                        mem.g_off_s, mem.g_on_s)
        out.append(_Tile(m, r, c, slice(row0, row0 + n_in), g))
    return out


def _row_groups(rows: int, rows_per_read: int | None) -> list[tuple[int, int]]:
    """The physical rows ``[start, stop)`` of each read of a tile whose first ``rows`` rows
    hold inputs: all at once, or ``rows_per_read`` at a time (:meth:`TileGeometry.reads`)."""
    if rows_per_read is None:
        return [(0, rows)]
    return [(start, min(start + rows_per_read, rows)) for start in range(0, rows, rows_per_read)]


def tile_range_a(plan: Plan, tile: _Tile, u: np.ndarray) -> tuple[float, float]:
    """``(calibrated, range)``: the ADC range the accuracy pass calibrates on ``tile`` (the
    calibration batch's layer inputs ``u`` over the DAC scale, both phases, each input on its
    copies' rows, every row at once: a row group's read is within it) and the one it uses,
    raised to the front end's noise floor (:func:`~spicecim.solve.adc_range_a`)."""
    spec = plan.spec
    drive = np.zeros((len(u) * tile.layer.input_phases, spec.rows))
    used = np.repeat(calibration_drive(u[:, tile.rows], tile.layer.input_phases,
                                       spec.driver.v_full_v), plan.geometry.copies, axis=1)
    drive[:, :used.shape[1]] = used
    workload = calibrated_range_a(spec, tile.g_s, drive, tile.layer.column_counts[tile.col])
    return workload, adc_range_a(spec, tile.g_s, workload)


def calibrated_spec(plan: Plan, i_range_a: float) -> CrossbarSpec:
    """The plan's spec with its front end sized for the ADC range ``i_range_a`` (unchanged
    where no current flows: the worst case)."""
    if i_range_a <= 0:
        return plan.spec
    return dataclasses.replace(plan.spec, readout=dataclasses.replace(plan.spec.readout,
                                                                      i_range_a=i_range_a))


def jobs(plan: Plan) -> tuple[list[TileJob], list[LayerJob], ModelMapping]:
    """The run's tiles (every programmed tile under every sample, phase and row group, the
    rows outside the group at 0 V) and layers."""
    tiles, layers, mapping, _ = _jobs(plan)
    return tiles, layers, mapping


def _jobs(plan: Plan) -> tuple[list[TileJob], list[LayerJob], ModelMapping,
                               dict[str, list[float]]]:
    """:func:`jobs`, and each programmed tile's ``[calibrated, range]`` currents
    (:func:`tile_range_a`) by its group name."""
    geometry, mapping = plan.geometry, plan.model_mapping
    seen = layer_inputs(plan.mlp, plan.inputs)
    calibration = layer_inputs(plan.mlp, plan.calibration)
    peaks = {name: float(np.max(np.abs(x))) or 1.0 for name, x in calibration.items()}
    spec, k, copies = plan.spec, plan.samples, geometry.copies
    tiles: list[TileJob] = []
    reads: dict[str, list[Read]] = {d.name: [] for d in plan.mlp.layers}
    ranges: dict[str, list[float]] = {}
    for t in _programmed(plan):
        ranges[t.group] = list(tile_range_a(plan, t, calibration[t.layer.name]
                                            / peaks[t.layer.name]))
        tile_spec = calibrated_spec(plan, ranges[t.group][1])
        u = seen[t.layer.name][:, t.rows] / peaks[t.layer.name]
        phases = [np.clip(u, 0.0, 1.0)]
        if t.layer.input_phases == 2:
            phases.append(np.clip(-u, 0.0, 1.0))
        for p, x in enumerate(phases):
            driven = np.repeat(x, copies, axis=1)  # an input's DAC drives its copies' rows
            groups = _row_groups(driven.shape[1], geometry.rows_per_read)
            for g, (start, stop) in enumerate(groups):
                for s in range(k):
                    rows = np.zeros(spec.rows)
                    rows[start:stop] = driven[s, start:stop]
                    read = Read(t.group, s, p, None if geometry.rows_per_read is None else g,
                                 t.layer.column_counts[t.col], (stop - start) // copies)
                    tiles.append(TileJob(read.name, Tile(tile_spec, t.g_s, rows, plan.mapping),
                                         t.group))
                    reads[t.layer.name].append(read)
    layers = [LayerJob(f"{name}.{stat}", tuple(r.name for r in members),
                       combine_reads(members, k, stat),
                       columns=tuple(r.columns for r in members),
                       rows=tuple(r.inputs for r in members))
              for name, members in reads.items() if members for stat in STATISTICS]
    return tiles, layers, mapping, ranges


def cosimulate(plan: Plan, out: Path | str, *, options: RunOptions | None = None,
               cluster: Cluster | None = None, workers: int | None = None,
               overwrite: bool = False, progress: bool | None = None,
               command_line: str = "") -> RunSummary:
    """Co-simulate ``plan`` into ``out`` (resuming it): every column of every tile for every
    sample and phase, then the model's per-layer tables."""
    options = RunOptions() if options is None else options
    check(options.monte_carlo == 0, "monte_carlo", options.monte_carlo,
          "0 for a co-simulation (its variation is the plan's)")
    tiles, layers, _, ranges = _jobs(plan)
    check_encoding(tiles[0].tile)
    # The ADC ranges as the accuracy pass finds them, for the tables (RANGES).
    model = {**plan.provenance(), RANGES: ranges}
    return run_job(tiles, layers, out, reference=tiles[0].tile, options=options,
                   parameters={schema.PARAMETER_MODEL: model}, cluster=cluster,
                   workers=workers, overwrite=overwrite, progress=progress,
                   command_line=command_line)


@dataclass(frozen=True, slots=True)
class LayerFigures:
    """A co-simulated layer's figures per schedule: one row per schedule and row policy, of
    the given statistic over the samples."""

    name: str
    statistic: str
    schedules: tuple[Mapping[str, object], ...]


def check_model(run: Run, mlp: Mlp) -> dict:
    """The run's co-simulation provenance, refused (one line) unless it was made for ``mlp``."""
    model = run.model
    if model is None:
        raise ResultFileError(f"{run.path} holds no co-simulation of a model: expected a run of "
                              "'spicecim simulate --model'")
    refuse_partial(run)
    digest = model_digest(mlp)
    if model["digest"] != digest:
        raise ResultFileError(
            f"{run.path} co-simulated model {model['name']!r} with other weights (its "
            f"weights: {model['weights']}; digest {model['digest']}, this model's {digest}): "
            "give the same weights (--weights FILE, --scene for the scene's fit, the same "
            "--seed for an initialisation), or co-simulate this model")
    return model


def layer_figures(run: Run, layer: str, statistic: str = "mean") -> LayerFigures:
    """One co-simulated layer's table (``<layer>.<statistic>``)."""
    check(statistic in STATISTICS, "statistic", statistic, f"one of {STATISTICS}")
    name = f"{layer}.{statistic}"
    if name not in run.layers():
        raise ResultFileError(f"{run.path} has no co-simulated layer {layer!r}")
    return LayerFigures(layer, statistic, tuple(run.layer(name).rows()))


def model_table(run: Run, policy: str = "hold") -> list[dict[str, object]]:
    """The model's per-layer table: for each layer and schedule (rows ``policy``), the latency
    of every statistic over the samples and the mean energy by part."""
    model = run.model
    if model is None:
        raise ResultFileError(f"{run.path} holds no co-simulation of a model")
    out = []
    for layer in model["layers"]:
        stats = {s: layer_figures(run, layer, s).schedules for s in STATISTICS}
        for i, row in enumerate(stats["mean"]):
            if row["policy"] != policy:
                continue
            num = functools.partial(stored_float, row, where=f"{run.path}: layer {layer!r}")
            out.append({"layer": layer, "schedule": row["schedule"], "policy": policy,
                        "rounds": row["rounds"], "conversions": row["conversions"],
                        **{f"latency_{s}_s": stats[s][i]["latency_s"] for s in STATISTICS},
                        "energy_mean_j": row["energy_j"],
                        "energy_dac_mean_j": num("energy_dac_j"),
                        "energy_rowbias_mean_j": num("energy_rowbias_j"),
                        "energy_array_mean_j": num("energy_array_j"),
                        "energy_wordline_mean_j": num("energy_wordline_j"),
                        "energy_frontend_mean_j": num("energy_frontend_j") + num("energy_sh_j"),
                        "energy_adc_mean_j": row["energy_adc_j"],
                        "energy_adcref_mean_j": num("energy_adcref_j"),
                        "energy_max_j": stats["max"][i]["energy_j"],
                        "energy_p95_j": stats["p95"][i]["energy_j"]})
    return out


def layer_costs(run: Run, mapping: ModelMapping, adder: DigitalAdder, *,
                adc_share: int | None = None, policy: str = DEFAULT_POLICY,
                adc: AdcModel | None = None, statistic: str = "mean"
                ) -> dict[str, dict[str, LayerCost]]:
    """Each layer's cost per schedule from the model's co-simulation in ``run`` (its layers'
    ``statistic`` over the samples), with the evaluator's digital stage after the ADCs.
    ``mapping`` must be the co-simulation's (the same tiles); ``adc_share`` the run's (its
    schedules were formed with it). ``adc``: another converter in place of the run's ADC: per
    layer, its ``rounds`` conversion times replace the ADC's in the latency and its energy per
    conversion the ADC's."""
    model = run.model
    if model is None:
        raise ResultFileError(f"{run.path} holds no co-simulation of a model")
    spec, weights = run.spec, run.mapping
    tile = mapping.tile
    if (tile.rows, tile.cols) != (spec.rows, spec.cols) or (
            weights is not None and tile.scheme != weights.scheme):
        raise SpecError(f"tile {tile.rows}x{tile.cols} ({tile.scheme}) is invalid with the "
                        f"co-simulation in {run.path}: expected its {spec.rows}x{spec.cols} "
                        "tiles (drop --tile, or co-simulate that tile)")
    simulated = run_geometry(run)
    if geometry_of(tile) != simulated:
        raise SpecError(f"slices={tile.slices}, copies={tile.copies}, rows_per_read="
                        f"{tile.rows_per_read} is invalid with the co-simulation in {run.path}: "
                        f"expected its slices={simulated['slices']}, copies="
                        f"{simulated['copies']}, rows_per_read={simulated['rows_per_read']} "
                        "(co-simulate that design point)")
    run_share = int(run.simulation["adc_share"])
    if adc_share is not None and adc_share != run_share:
        raise SpecError(f"adc_share={adc_share} is invalid with the co-simulation in {run.path}: "
                        f"expected its {run_share} columns per ADC (co-simulate again with "
                        f"--adc-share {adc_share})")
    own = spec.readout.adc
    out = {}
    for m in mapping.layers:
        t_digital, e_digital = digital_stage(m, adder)
        rows = {r["schedule"]: r for r in layer_figures(run, m.name, statistic).schedules
                if r["policy"] == policy}
        costs = {}
        where = f"{run.path}: layer {m.name!r}"
        for s in SCHEDULES:
            num = functools.partial(stored_float, rows[s], where=where)
            count = functools.partial(stored_int, rows[s], where=where)
            latency, e_adc = num("latency_s"), num("energy_adc_j") + num("energy_adcref_j")
            if adc is not None:
                latency += count("rounds") * (adc.t_conv_s - own.t_conv_s)
                e_adc = (count("conversions") * adc.e_conv_j
                         + count("conversions") * adc.ref_e_conv_j)
            costs[s] = LayerCost(
                m.name, s, latency + t_digital,
                sum(num(f"energy_{p}_j") for p in ("dac", "rowbias", "array", "wordline")),
                num("energy_frontend_j") + num("energy_sh_j"), e_adc, e_digital,
                count("conversions"), source=COSIMULATED)
        out[m.name] = costs
    return out


def run_geometry(run: Run) -> dict[str, object]:
    """The design choices a co-simulation's tiles were programmed and read with (a run
    written before they were recorded: one device per weight, every row at once)."""
    model = run.model or {}
    return dict(model.get("geometry") or {"slices": 1, "copies": 1, "rows_per_read": None})


def describe(run: Run, statistic: str = "mean") -> str:
    """Where a co-simulated report's figures came from, in one line."""
    model = run.model or {}
    return (f"co-simulated: {run.path}, model {model.get('name')!r} ({model.get('weights')}), "
            f"each layer's {statistic} over {model.get('samples')} inputs: "
            f"{model.get('inputs')}")
