"""Evaluation as one call: a model on simulated tiles -> a :class:`~spicecim.report.report.
Report` of its latency, energy, accuracy and digital baselines (``spicecim evaluate`` prints
it; a notebook displays it).

Where a layer's latency and energy come from: a run of ``spicecim simulate --model`` holds the
model's own co-simulation (:mod:`spicecim.cost.cosim`: every tile with its own conductances
and activations), and every layer takes its co-simulated figures; a run of one generic tile
(random weights and inputs) lends each layer its first columns
(:mod:`spicecim.cost.schedule`), a quick what-if. The report says which, per layer. A
co-simulation of another model, or of other weights, is refused.

``adc_bits`` means the ADC's resolution, in the costs and in the accuracy alike: the accuracy
pass quantises to it, and each conversion costs that resolution's energy (the tables' ADC
scaled by :data:`~spicecim.cost.schedule.ADC_ENERGY_BY_BITS_PJ`); the columns' settling
stays the tables' (simulated to half an LSB of the tables' ADC: for fewer bits an upper bound).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spicecim import progress
from spicecim.analog import accuracy as acc
from spicecim.analog import scoring
from spicecim.cost import schedule as sched
from spicecim.cost.mapping import TileGeometry, map_model
from spicecim.devices import AdcModel
from spicecim.errors import ResultFileError, SpecError, check
from spicecim.measure import SCHEDULES
from spicecim.models.mlp import Mlp
from spicecim.netlist.spec import CrossbarSpec
from spicecim.netlist.weights import DEFAULT_VARIATION_MODEL, VARIATION_MODELS, WeightMapping
from spicecim.report.data import DEFAULT_CALIBRATION_FRACTION, Data, as_data, read_arrays, split
from spicecim.report.report import Report
from spicecim.store.hdf5 import open_run

CONVERTERS = ("adc", "acam")


@dataclass(frozen=True, slots=True)
class Settings:
    """What an evaluation does besides the model and its tables (``spicecim evaluate``'s
    options; ``None``: the tables' own value)."""

    schedules: tuple[str, ...] = SCHEDULES
    tile: tuple[int, int] | None = None
    rows_per_read: int | None = None
    slices: int = 1
    copies: int = 1
    ir_aware: bool = False
    variation_model: str = DEFAULT_VARIATION_MODEL
    adc_share: int | None = None
    simulate_missing: bool = False
    simulate_dir: Path | None = None
    workers: int | None = None
    engine: str | None = None  # of --simulate-missing (None: the default engine)
    workload: sched.Workload = sched.Workload()
    adder: sched.DigitalAdder = sched.DigitalAdder()
    accuracy: bool = True
    points: int = 1000
    calibration_points: int = 256
    calibration_fraction: float = DEFAULT_CALIBRATION_FRACTION
    converter: str = "adc"
    adc_bits: int | None = None
    dac_bits: int | None = None
    weight_bits: int | None = None
    variation: float = 1.0
    read_noise: float = acc.DEFAULT_READ_NOISE
    ir_drop: bool = True
    adc_range: str = "calibrated"
    range_floor: bool = True
    calibrate: bool = True
    sweeps: Mapping[str, Sequence[float]] = field(default_factory=dict)
    baseline: bool = True
    baseline_batch: int = 1 << 16
    gpu_baseline: Path | None = None
    seed: int = 0
    scene: bool = False
    fit_steps: int = 3000
    cache_dir: Path | None = None

    def __post_init__(self) -> None:
        for s in self.schedules:
            check(s in SCHEDULES, "schedule", s, f"one of {SCHEDULES}")
        check(len(self.schedules) >= 1, "schedules", self.schedules, "one or more")
        check(self.converter in CONVERTERS, "converter", self.converter, f"one of {CONVERTERS}")
        for name in ("adc_share", "workers"):
            value = getattr(self, name)
            check(value is None or (isinstance(value, int) and value >= 1), name, value,
                  "None or an integer >= 1")
        for name in ("adc_bits", "dac_bits", "weight_bits"):
            value = getattr(self, name)
            check(value is None or (isinstance(value, int) and 1 <= value <= 16), name, value,
                  "None or an integer from 1 to 16")
        for name in ("points", "calibration_points"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 1, name, value, "an integer >= 1")
        check(isinstance(self.calibration_fraction, float | int)
              and 0 < self.calibration_fraction < 1, "calibration_fraction",
              self.calibration_fraction, "a number between 0 and 1 (exclusive)")
        check(isinstance(self.baseline_batch, int) and self.baseline_batch >= 2,
              "baseline_batch", self.baseline_batch, "an integer >= 2")
        check(isinstance(self.seed, int) and self.seed >= 0, "seed", self.seed,
              "an integer >= 0")
        check(isinstance(self.fit_steps, int) and self.fit_steps >= 1, "fit_steps",
              self.fit_steps, "an integer >= 1")
        for name in ("variation", "read_noise"):
            value = getattr(self, name)
            check(math.isfinite(value) and value >= 0, name, value, "a finite number >= 0")
        check(self.variation_model in VARIATION_MODELS, "variation_model",
              self.variation_model, f"one of {VARIATION_MODELS}")
        check(self.adc_range in acc.ADC_RANGES, "adc_range", self.adc_range,
              f"one of {acc.ADC_RANGES}")
        for axis in self.sweeps:
            check(axis in scoring.SWEEP_AXES, "sweep axis", axis, f"one of {scoring.SWEEP_AXES}")
        if self.converter == "acam" and "adc_bits" in self.sweeps:
            raise SpecError("a sweep of adc_bits is invalid with the ACAM converter: expected "
                            "one converter per evaluation (set its bits with adc_bits)")


@dataclass(frozen=True, slots=True)
class _Figures:
    """Where the costs come from: a co-simulation's layers, or a generic table (None:
    missing, ``missing`` says why)."""

    spec: CrossbarSpec
    weights: WeightMapping
    adc_share: int
    table: sched.TileTable | None = None
    cosimulated: bool = False
    source: str | None = None
    missing: str = ""


def run(model: Mlp | str, tables: Path | str | Sequence[Path | str], *,
        weights: Path | str | None = None, settings: Settings | None = None,
        command_line: str = "", data: Path | str | None = None,
        calibration: Path | str | None = None, **overrides: Any) -> Report:
    """Evaluate ``model`` (an :class:`Mlp`, or a preset name with ``weights`` from a file, the
    fit to the built-in scene with ``scene``, or a seeded initialisation; an ``.onnx`` file
    brings its own graph) on the tiles of ``tables``
    (one or more run files of ``spicecim simulate``; the first sets the tile). ``settings``,
    then ``overrides`` (its field names, each of the field's type), say what else to do.

    The accuracy pass scores ``data`` (an ``.npz``, :mod:`spicecim.report.data`: every row not
    held out; ``points`` is then not used) and calibrates on ``calibration`` (another ``.npz``)
    or, without one, on the ``calibration_fraction`` of ``data`` held out; without ``data``,
    on ``points`` and ``calibration_points`` drawn by :func:`~spicecim.models.presets.
    sample_inputs`. The report says which."""
    from spicecim.models import baseline as base
    from spicecim.models.presets import ModelChoice, as_field, choose_model, sample_inputs

    s = Settings(**overrides) if settings is None else _replace(settings, overrides)
    paths = [Path(tables)] if isinstance(tables, str | Path) else [Path(p) for p in tables]
    check(len(paths) >= 1, "tables", paths, "one or more run files")
    if isinstance(model, Mlp):
        choice = ModelChoice(model, "mlp", "given")
    elif s.scene and weights is None:
        from spicecim.models.fit import scene_model  # loads JAX: only for a fit

        field_, source = scene_model(model, fit_steps=s.fit_steps, seed=s.seed,
                                     cache_dir=s.cache_dir)
        choice = ModelChoice(field_.mlp, model, source)
    else:
        choice = choose_model(model, None if weights is None else Path(weights), seed=s.seed)
    mlp = choice.mlp
    scored, calibrating = (_user_data(mlp, Path(data), None if calibration is None
                                      else Path(calibration), s)
                           if data is not None else (None, None))
    gpu = base.load_gpu_baseline(s.gpu_baseline, choice.name) if s.gpu_baseline else []
    figures = _figures(mlp, paths, s, command_line)
    spec, weights_map = figures.spec, figures.weights
    geometry = TileGeometry(spec.rows, spec.cols, weights_map.scheme, s.slices, s.copies,
                            s.rows_per_read)
    if figures.cosimulated:
        from spicecim.cost import cosim  # imports the simulator: only for a co-simulation

        with open_run(paths[0]) as r:
            own = cosim.run_geometry(r)
        if cosim.geometry_of(geometry) != own:
            raise SpecError(f"slices={s.slices}, copies={s.copies}, rows_per_read="
                            f"{s.rows_per_read} is invalid with the co-simulation in "
                            f"{paths[0]}: expected its slices={own['slices']}, copies="
                            f"{own['copies']}, rows_per_read={own['rows_per_read']}, as it was "
                            "simulated (or co-simulate that design point: simulate --model "
                            "--slices --copies --rows-per-read)")
    mapping = map_model(mlp, geometry)
    readout, acam_edges, adc = _converter(spec, s)
    if not figures.cosimulated:
        table = figures.table
        if table is not None and adc is not None:
            table = sched.with_converter(table, adc)
        cost = sched.model_cost(mapping, table, s.workload, figures.adc_share, s.adder, readout)
    else:
        with open_run(paths[0]) as r:
            layers = cosim.layer_costs(r, mapping, s.adder, adc_share=s.adc_share, adc=adc)
        cost = sched.model_cost(mapping, None, s.workload, figures.adc_share, s.adder,
                                readout, layers=layers, source=figures.source)

    result, sweep = None, []
    if s.accuracy or s.sweeps:
        nonideal = acc.Nonideality.of(
            spec, weights_map, variation=s.variation, read_noise=s.read_noise,
            ir_drop=s.ir_drop, seed=s.seed, adc_range=s.adc_range, calibrate=s.calibrate,
            range_floor=s.range_floor,
            acam_edges=acam_edges, ir_aware=s.ir_aware, variation_model=s.variation_model,
            **{k: v for k, v in (("adc_bits", s.adc_bits), ("dac_bits", s.dac_bits),
                                 ("weight_bits", s.weight_bits)) if v is not None})
        if scored is not None and calibrating is not None:
            sample, cal_inputs = scored.inputs, calibrating.inputs
            truth = {"labels": scored.labels, "targets": scored.targets}
        else:
            sample = sample_inputs(mlp, s.points, np.random.default_rng([s.seed, 2]))
            cal_inputs = sample_inputs(mlp, s.calibration_points,
                                       np.random.default_rng([s.seed, 3]))
            truth = {}
        points = len(next(iter(sample.values())))
        if s.accuracy:
            progress.stage(f"accuracy pass: {points} points through {len(mapping.layers)} "
                           "layers on the crossbar model")
            result = scoring.evaluate_accuracy(mlp, mapping, spec, weights_map, nonideal, sample,
                                               cal_inputs, **truth)
        if s.sweeps:
            progress.stage(f"accuracy sweep: {math.prod(len(v) for v in s.sweeps.values())} "
                           f"settings x {points} points")
            sweep = scoring.sweep_accuracy(mlp, mapping, spec, weights_map, nonideal,
                                       {k: list(v) for k, v in s.sweeps.items()}, sample,
                                       cal_inputs, **truth)
    if s.baseline:
        progress.stage(f"digital baseline: timing batch 1 and {s.baseline_batch} on this CPU")
    baselines = (base.cpu_baselines(mlp, [1, s.baseline_batch], s.seed) if s.baseline
                 else []) + gpu
    return Report(model=choice.name, weights=choice.weights, cost=cost, table=cost.table,
                  missing=figures.missing, schedules=tuple(s.schedules), accuracy=result,
                  sweep=tuple(sweep), sweep_axes=tuple(s.sweeps), baselines=tuple(baselines),
                  notes=tuple(_notes(choice.weights, figures, cost, s, bool(baselines))),
                  frames=as_field(mlp) is not None,
                  scored_on=scored.source if scored else _drawn(mlp, s.points, s.seed, 2),
                  calibrated_on=(calibrating.source if calibrating
                                 else _drawn(mlp, s.calibration_points, s.seed, 3)))


def _user_data(mlp: Mlp, data: Path, calibration: Path | None, s: Settings
               ) -> tuple[Data, Data]:
    """(scored, calibration) rows: ``data`` whole and ``calibration``, or ``data`` split."""
    rows = as_data(read_arrays(data), mlp, data)
    if calibration is None:
        return split(rows, s.calibration_fraction, s.seed)
    if calibration.resolve() == data.resolve():
        raise SpecError(f"--calibration {str(calibration)!r} is the --data file: expected "
                        "other rows than the ones scored (or no --calibration: a held-out "
                        "fraction of --data)")
    return rows, as_data(read_arrays(calibration, "--calibration"), mlp, calibration,
                         "--calibration")


def _drawn(mlp: Mlp, points: int, seed: int, stream: int) -> str:
    """What :func:`~spicecim.models.presets.sample_inputs` draws, said for the report."""
    from spicecim.models.presets import as_field

    what = ("positional encodings of points uniform in the scene's cube and of uniform view "
            "directions" if as_field(mlp) is not None else
            "uniform random inputs in [-1, 1] ([0, 1] for non-negative inputs)")
    return f"{points} {what}, seed ({seed}, {stream}); no --data: not the model's own data"


def _replace(settings: Settings, overrides: Mapping[str, Any]) -> Settings:
    return dataclasses.replace(settings, **overrides) if overrides else settings


def _figures(mlp: Mlp, paths: Sequence[Path], s: Settings, command_line: str) -> _Figures:
    """The co-simulation in ``paths[0]``, else the generic table of the tile asked for."""
    from spicecim.cost import cosim

    with open_run(paths[0]) as r:
        if r.model is not None:
            cosim.check_model(r, mlp)
            if s.tile is not None and s.tile != (r.spec.rows, r.spec.cols):
                raise SpecError(f"tile={s.tile[0]}x{s.tile[1]} is invalid with the "
                                f"co-simulation in {r.path}: expected its {r.spec.rows}x"
                                f"{r.spec.cols} tiles (drop --tile)")
            mapping = r.mapping
            if mapping is None:
                raise ResultFileError(f"{r.path}: a co-simulation without its weight mapping: "
                                      "expected a run of 'spicecim simulate --model'")
            return _Figures(r.spec, mapping, int(r.simulation["adc_share"]),
                            cosimulated=True, source=cosim.describe(r))
    tables = [t for path in paths for t in sched.read_tables(path)]
    if not tables:
        raise SpecError(f"{paths[0]} holds no tile table: expected a run written by "
                        "'spicecim simulate'")
    spec, weights = tables[0].spec, tables[0].weights
    if s.tile is not None:
        spec = sched.with_geometry(spec, *s.tile)
    k = s.adc_share or tables[0].adc_share
    folder = s.simulate_dir or paths[0].parent
    on_demand = sched.on_demand_path(folder, spec, weights, s.engine)
    if on_demand.exists():
        tables += sched.read_tables(on_demand)
    table = sched.find_table(tables, spec, weights)
    if table is None and s.simulate_missing:
        table = sched.simulate_table(spec, weights, folder, seed=s.seed, adc_share=k,
                                     workers=s.workers, command_line=command_line,
                                     engine=s.engine)
    missing = "" if table is not None else (
        f"no table of {spec.rows}x{spec.cols} tiles with the tables' device, wire, driver, "
        f"readout and weight settings in {', '.join(map(str, paths))}: rerun with "
        f"--simulate-missing (writes {on_demand})")
    return _Figures(spec, weights, k, table=table, source=None if table is None
                    else f"{sched.GENERIC}: {table.source}", missing=missing)


def _converter(spec: CrossbarSpec, s: Settings) -> tuple[str, tuple[float, ...] | None,
                                                   AdcModel | None]:
    """The converter the costs and the accuracy use: its description, its code edges (an
    ACAM's) and its figures where they differ from the tables' ADC (None: the tables')."""
    own = spec.readout.adc
    if s.converter == "acam":
        from spicecim.acam.converter import MAX_BITS, converter_figures

        bits = s.adc_bits or own.bits
        if bits > MAX_BITS:
            raise SpecError(f"adc_bits={bits} is invalid with the ACAM converter: expected at "
                            f"most {MAX_BITS} bits")
        fig = converter_figures(bits)
        edges = tuple(float(e) for e in (fig.edges_v - fig.v_min_v) / (fig.v_max_v - fig.v_min_v))
        text = (f"ACAM 6T2M, {bits} bits, {fig.latency_s * 1e12:.4g} ps, "
                f"{fig.energy_j * 1e12:.4g} pJ per conversion from ngspice")
        return text, edges, AdcModel(bits, fig.latency_s, fig.energy_j, "ACAM 6T2M (ngspice)",
                                    ref_fraction=0.0)  # its thresholds are its cells
    if s.adc_bits is None or s.adc_bits == own.bits:
        return f"ADC {own.bits} bit (tables)", None, None
    scaled = sched.scaled_adc(own, s.adc_bits)
    if scaled is None:
        raise SpecError(f"adc_bits={s.adc_bits} is invalid for the costs: expected one of "
                        f"{sorted(sched.ADC_ENERGY_BY_BITS_PJ)} (the resolutions with a cited "
                        f"energy) or the tables' {own.bits}")
    return (f"ADC {s.adc_bits} bit: the tables' {own.bits}-bit ADC, energy per conversion "
            f"scaled (Saberi 2011)"), None, scaled


def _notes(weights: str, figures: _Figures, cost: sched.ModelCost, s: Settings,
           baselines: bool) -> list[str]:
    notes = []
    if weights.startswith("seeded"):
        notes.append(f"weights: {weights}; accuracy figures describe an untrained network")
    table = figures.table
    if figures.cosimulated:
        notes.append("latency and energy: every layer co-simulated (its own tiles, "
                     "conductances and activations)")
    elif table is not None:
        notes.append(f"latency and energy: {sched.GENERIC}, every layer the first columns of "
                     f"one tile of random weights and inputs ({table.source}); co-simulate "
                     "the model (spicecim simulate --model) for its own figures")
        if table.failed:
            notes.append(f"{table.source}: columns {list(table.failed)} did not end ok; "
                         "figures of layers using them are missing")
    if s.adc_bits is not None and s.converter == "adc":
        notes.append("the columns' settling is the tables' (to half an LSB of their ADC)")
    if s.converter == "acam":
        notes.append("latency and energy: the ACAM converter's sense time and energy per "
                     "conversion in place of the ADC's; accuracy quantises with its code edges")
    if baselines:
        notes.append("digital energy is not measured: the comparison is time only")
    return notes
