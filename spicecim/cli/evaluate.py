"""``spicecim evaluate``: a model on simulated tiles: latency, energy, accuracy, baselines."""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
from pathlib import Path
from typing import cast

import click

from spicecim.analog import accuracy as acc
from spicecim.analog import scoring
from spicecim.cli import limits
from spicecim.cli.figures import refuse_failed
from spicecim.cli.options import (
    MAX_READ_NOISE,
    MAX_VARIATION_SCALE,
    READ_NOISE,
    VARIATION,
    Finite,
    check_output,
    parse_size,
)
from spicecim.cli.paths import check_input_file, check_not_input
from spicecim.cost import schedule as sched
from spicecim.cost.duration import DURATION_LIMIT_S
from spicecim.errors import SpecError
from spicecim.models.mlp import Mlp
from spicecim.models.presets import (
    MODEL_FILES,
    NERF_PRESETS,
    check_preset,
    choose_model,
    default_cache_dir,
)
from spicecim.netlist.weights import (
    DEFAULT_VARIATION_MODEL,
    VARIATION_MODELS,
    VARIATION_SOURCES,
)
from spicecim.report import evaluation
from spicecim.report.data import DEFAULT_CALIBRATION_FRACTION, read_arrays
from spicecim.report.report import Report, render, to_dict, write_h5
from spicecim.sim.sweep import DEFAULT_ENGINE, ENGINES

_MAX_SWEEP_VALUES = 200
# The digital adder's bounds: three orders of magnitude above its defaults (1 ns per level, one
# cycle of a 1 GHz clock; 0.1 pJ per addition, Horowitz ISSCC 2014), so a figure past them is a
# typo, not a design (1e300 s per level would print as a frame's latency).
_MAX_ADD_LATENCY_S = 1e-6
_MAX_ADD_ENERGY_J = 1e-9
# Samples per ray: 21x the 192 (64 coarse + 128 fine) of Mildenhall et al. 2020's NeRF; more
# would cost a frame that no renderer takes.
_MAX_SAMPLES_PER_RAY = 4096


class ModelName(click.ParamType):
    """A preset name (one of the NeRF presets or ``mlp:IN-H1-...-OUT``), or a file that
    brings its own graph (:data:`~spicecim.models.presets.MODEL_FILES`)."""

    name = "model"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        if Path(str(value)).suffix in MODEL_FILES:
            return str(value)  # the file is checked with the other inputs
        try:
            return check_preset(str(value))
        except SpecError:
            self.fail(f"{value!r} is not one of {', '.join(map(repr, NERF_PRESETS))}, "
                      "mlp:IN-H1-...-OUT (e.g. mlp:784-256-10) or a model file (.npz of "
                      "spicecim, .onnx)", param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(NERF_PRESETS) + "|mlp:IN-H1-...-OUT|FILE.npz|FILE.onnx]"


MODEL = ModelName()


def parse_sweep(text: str) -> tuple[str, list[float]]:
    """'adc_bits=2:10' (inclusive, step 1), 'variation=0:2:0.5' or 'adc_bits=4,6,8'."""
    name, sep, values = text.partition("=")
    name = name.strip()
    accepted = (f"NAME=START:STOP[:STEP] or NAME=V1,V2,... with NAME one of "
                f"{', '.join(scoring.SWEEP_AXES)}")
    if not sep or name not in scoring.SWEEP_AXES:
        raise SpecError(f"sweep={text!r} is invalid: expected {accepted}")
    try:
        if ":" in values:
            parts = [float(p) for p in values.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError(values)
            start, stop, step = (*parts, 1.0) if len(parts) == 2 else parts
            if step <= 0 or stop < start or (stop - start) / step >= _MAX_SWEEP_VALUES:
                raise ValueError(values)
            count = math.floor((stop - start) / step + 1e-9) + 1
            numbers = [start + i * step for i in range(count)]
        else:
            numbers = [float(p) for p in values.split(",")]
    except ValueError:
        raise SpecError(f"sweep={text!r} is invalid: expected {accepted} "
                        "(START <= STOP, STEP > 0)") from None
    if not all(math.isfinite(v) for v in numbers):
        raise SpecError(f"sweep={text!r} is invalid: expected finite numbers")
    # each axis's values as its option takes them (--adc-bits 1..16, --variation >= 0, ...)
    bits, switch = name.endswith("_bits"), name == "ir_drop"
    most = MAX_VARIATION_SCALE if name == "variation" else MAX_READ_NOISE
    if not all((v == int(v) and 1 <= v <= 16) if bits else v in (0, 1) if switch
               else 0 <= v <= most for v in numbers):
        domain = ("integers from 1 to 16" if bits else "0 (off) or 1 (on)" if switch
                  else f"values from 0 to {most:g}")
        raise SpecError(f"sweep={text!r} is invalid: expected {name} {domain}")
    return name, numbers


@click.command()
@click.argument("runs", nargs=-1, required=True, metavar="RUN...",
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", type=MODEL, default="nerf-4x256", show_default=True,
              help="A preset, or a file with the model's graph and weights (a spicecim .npz "
                   "as save_mlp writes it, or an ONNX MLP); with --weights FILE.onnx the "
                   "file's graph instead.")
@click.option("--weights", "weights_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The model's weights: spicecim .npz, .npz of state-dict keys, PyTorch "
                   ".pt/.pth, or an ONNX MLP (.onnx: graph and weights) [default: seeded "
                   "initialisation].")
@click.option("--scene", is_flag=True,
              help="A NeRF preset's weights fitted to the built-in scene (as 'spicecim nerf' "
                   "and 'simulate --scene' use them; cached).")
@click.option("--fit-steps", type=click.IntRange(min=1), default=3000, show_default=True,
              help="Adam steps of the --scene fit.")
@click.option("--yes", is_flag=True,
              help=f"Run a --scene fit or a --sweep grid estimated to take over "
                   f"{DURATION_LIMIT_S / 60:.0f} min (else refused with the estimate).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where --scene fits are kept [default: $SPICECIM_CACHE or ~/.cache/spicecim].")
@click.option("--schedule", type=click.Choice(sched.SCHEDULES),
              help="Show one schedule [default: all three].")
@click.option("--tile", help="Tile ROWSxCOLS [default: the run's tile].")
@click.option("--rows-per-read", type=click.IntRange(min=1),
              help="Rows activated per read (row parallelism) [default: all].")
@click.option("--slices", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Devices per weight of different significance (bit slicing).")
@click.option("--copies", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Rows per input (devices per weight summed in the column).")
@click.option("--ir-aware/--no-ir-aware", default=False, show_default=True,
              help="IR-drop-aware programming (conductances pre-distorted on the fast solver).")
@click.option("--variation-model", type=click.Choice(VARIATION_MODELS),
              default=DEFAULT_VARIATION_MODEL, show_default=True,
              help="Programming-error model: " + "; ".join(
                  f"{name}: {VARIATION_SOURCES[name]}" for name in VARIATION_MODELS) + ".")
@click.option("--adc-share", type=click.IntRange(min=1),
              help="Columns per ADC in the ADC-shared schedule [default: the run's].")
@click.option("--simulate-missing", is_flag=True,
              help="Simulate a tile configuration the runs lack (else: reported missing).")
@click.option("--simulate-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where on-demand runs are kept and found [default: the first run's folder].")
@click.option("--workers", type=click.IntRange(min=1),
              help="Worker processes for --simulate-missing.")
@click.option("--engine", type=click.Choice(ENGINES), default=DEFAULT_ENGINE, show_default=True,
              help="The simulator of --simulate-missing (the run records it; each engine's run "
                   "is kept apart).")
@click.option("--samples-per-ray", type=click.IntRange(1, _MAX_SAMPLES_PER_RAY), default=192,
              show_default=True,
              help="Samples per ray (64 coarse + 128 fine).")
@click.option("--resolution", default="800x800", show_default=True, help="Frame WIDTHxHEIGHT.")
@click.option("--replicas", type=click.IntRange(min=1), default=1, show_default=True,
              help="Copies of the model's arrays working on different samples.")
@click.option("--adder-latency", type=Finite(0, max=_MAX_ADD_LATENCY_S),
              default=sched.DEFAULT_ADD_LATENCY_S, show_default=True,
              help="Digital adder time per level (s; assumption).")
@click.option("--adder-energy", type=Finite(0, max=_MAX_ADD_ENERGY_J),
              default=sched.DEFAULT_ADD_ENERGY_J, show_default=True,
              help="Energy per digital addition (J; Horowitz ISSCC 2014).")
@click.option("--accuracy/--no-accuracy", default=True, show_default=True)
@click.option("--points", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Sample points of the accuracy evaluation.")
@click.option("--calibration-points", type=click.IntRange(min=1), default=256, show_default=True,
              help="Points that set each layer's DAC input scale, ADC range and column "
                   "calibration.")
@click.option("--data", "data_path", type=click.Path(path_type=Path),
              help="Score the model on your own data: an .npz with one array per model input "
                   "(or 'inputs'), optionally 'labels' (class ids: top-1 accuracy) or "
                   "'targets'; every row not held out is scored [default: drawn inputs, "
                   "--points].")
@click.option("--calibration", "calibration_path", type=click.Path(path_type=Path),
              help="Calibrate on this .npz (same arrays as --data) instead of a held-out "
                   "fraction of --data.")
@click.option("--calibration-fraction", type=Finite(0, min_open=True, max=1, max_open=True),
              default=DEFAULT_CALIBRATION_FRACTION, show_default=True,
              help="The share of --data rows held out (seeded shuffle) to calibrate; never "
                   "scored.")
@click.option("--adc-bits", type=click.IntRange(1, 16),
              help="The ADC's resolution: the accuracy quantises to it and each conversion "
                   "costs its energy (Saberi 2011 scaling) [default: the run's ADC].")
@click.option("--converter", type=click.Choice(evaluation.CONVERTERS), default="adc",
              show_default=True,
              help="Column converter: the run's ADC, or an ACAM (6T2M) converter of "
                   "--adc-bits bits simulated in ngspice (its sense time, energy per conversion "
                   "and code edges replace the ADC's).")
@click.option("--dac-bits", type=click.IntRange(1, 16), help="[default: the run's DAC]")
@click.option("--weight-bits", type=click.IntRange(1, 16),
              help="Conductance levels 2^bits [default: the run's].")
@click.option("--variation", type=VARIATION, default=1.0, show_default=True,
              help="Scale of the programming variation sigma_G of --variation-model.")
@click.option("--read-noise", type=READ_NOISE, default=acc.DEFAULT_READ_NOISE,
              show_default=True, help="Relative read-noise sigma per device per read.")
@click.option("--ir-drop/--no-ir-drop", default=True, show_default=True,
              help="Wire, driver and sense resistances in the accuracy pass.")
@click.option("--adc-range", type=click.Choice(acc.ADC_RANGES), default="calibrated",
              show_default=True,
              help="ADC full scale: per tile from the calibration batch's largest column "
                   "current, or the worst case rows x G_max x V (the latency tables' LSB).")
@click.option("--range-floor/--no-range-floor", default=True, show_default=True,
              help="Raise each tile's calibrated ADC range to its front end's noise floor, the "
                   "least range at which it settles in its window with its noise within half "
                   "an LSB (the circuit's range; off: the workload's range alone).")
@click.option("--calibrate/--no-calibrate", default=True, show_default=True,
              help="Per-column least-squares gain and offset on the calibration batch, "
                   "applied after the ADC (corrects IR drop's systematic loss).")
@click.option("--sweep", "sweeps", multiple=True,
              help="Accuracy sweep, e.g. adc_bits=2:10 or variation=0:2:0.5 (repeat for a grid).")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Time the digital model on this machine.")
@click.option("--baseline-batch", type=click.IntRange(min=2), default=1 << 16, show_default=True,
              help="The large batch of the CPU baseline (batch 1 is always timed).")
@click.option("--gpu-baseline", type=click.Path(dir_okay=False, path_type=Path),
              help="GPU figures from benchmarks/gpu_baseline.py (JSON).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of weights, points, variation and noise.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the report to this HDF5 file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
@click.pass_context
def evaluate(ctx: click.Context, runs: tuple[Path, ...], model: str, weights_path: Path | None,
             schedule: str | None, tile: str | None, samples_per_ray: int, resolution: str,
             replicas: int, adder_latency: float, adder_energy: float, sweeps: tuple[str, ...],
             as_json: bool, out: Path | None, overwrite: bool, data_path: Path | None,
             calibration_path: Path | None, yes: bool, **options: object) -> None:
    """Map a model onto the tiles of simulated RUN files (a model's co-simulation, or a
    generic tile); print latency, energy, accuracy and baselines.

    Accuracy is on your own data with --data (top-1 accuracy against its labels), calibrated
    on rows that are not scored; without it, on drawn inputs, and the report says so."""
    model_file = Path(model) if Path(model).suffix in MODEL_FILES else None
    if model_file is not None and weights_path is not None:
        raise SpecError(f"--weights is invalid with --model {str(model_file)!r}: expected one "
                        "of them (the model file brings its own weights)")
    inputs: list[tuple[str, Path | None]] = [("RUN", run) for run in runs] + [
        ("--model", model_file), ("--weights", weights_path), ("--data", data_path),
        ("--calibration", calibration_path),
        ("--gpu-baseline", cast("Path | None", options["gpu_baseline"]))]
    _check_sizes(ctx, model, model_file, inputs, (out, overwrite), (data_path, calibration_path),
                 bool(sweeps), options)
    width, height = parse_size(resolution, "resolution")
    limits.check_frame_image(width, height)
    size = parse_size(tile, "tile") if tile else None
    _check_values(runs, size, replicas, width * height * samples_per_ray, yes, options)
    settings = evaluation.Settings(
        schedules=(schedule,) if schedule else sched.SCHEDULES, tile=size,
        workload=sched.Workload(samples_per_ray, width, height, replicas),
        adder=sched.DigitalAdder(adder_latency, adder_energy),
        sweeps=_parse_sweeps(sweeps, yes), **options)  # type: ignore[arg-type]
    command_line = shlex.join(["spicecim", *sys.argv[1:]])
    report = evaluation.run(model, runs, weights=weights_path, settings=settings,
                            command_line=command_line, data=data_path,
                            calibration=calibration_path)
    _refuse_failed(report)
    click.echo(json.dumps(to_dict(report)) if as_json else render(report))
    if out:
        write_h5(report, out, command_line)


def _refuse_failed(report: Report) -> None:
    """Refuse (exit 1) a report whose accuracy pass did not give a finite figure."""
    results = ([("", report.accuracy)] if report.accuracy else []) + [
        (f"sweep point {k}: ", r) for k, r in enumerate(report.sweep)]
    refuse_failed({f"{where}{o.name} {k}": getattr(o, k) for where, r in results
                   for o in r.outputs for k in ("rel_rms", "rmse", "max_abs")},
                  "the accuracy pass")


def _parse_sweeps(texts: tuple[str, ...], yes: bool) -> dict[str, list[float]]:
    """The --sweep axes, each given once (a second would silently replace the first), their
    grid's time estimated (refused over the limit unless ``yes``)."""
    axes: dict[str, list[float]] = {}
    for text in texts:
        name, values = parse_sweep(text)
        if name in axes:
            raise SpecError(f"sweep={text!r} repeats the axis {name}: expected each axis once "
                            "(its values in one --sweep, e.g. adc_bits=4,6,8)")
        axes[name] = values
    if axes:
        limits.check_grid_time(math.prod(map(len, axes.values())), limits.SWEEP_POINT_CPU_S,
                               "an accuracy sweep", "accuracy passes", yes)
    return axes


def _check_values(runs: tuple[Path, ...], tile: tuple[int, int] | None, replicas: int,
                  samples: int, yes: bool, options: dict[str, object]) -> None:
    """Values that make no sense together, the runs' own tile read for its columns: each RUN
    once, --replicas up to the frame's ``samples``, --adc-share up to the tile's columns, the
    worker processes in memory, --simulate-dir, the --scene fit's time and its cache folder;
    checked before any work."""
    for i, run in enumerate(runs):
        for other in runs[:i]:
            if os.path.samefile(run, other):
                raise SpecError(f"RUN {str(run)!r} is given twice (as {str(other)!r}): "
                                "expected each run file once")
    limits.check_count(replicas, samples, "--replicas",
                       "a replica per sample of the frame at most, WIDTHxHEIGHT x "
                       "--samples-per-ray")
    if options["adc_share"] is not None:
        cols = tile[1] if tile else _run_cols(runs[0])
        limits.check_adc_share(cast(int, options["adc_share"]), cols, "tile")
    if options["workers"]:
        limits.check_processes(cast(int, options["workers"]), "--workers")
    if options["simulate_dir"]:  # a folder given is a folder used: checked before any work
        check_output(cast(Path, options["simulate_dir"]), True, "--simulate-dir", inside=())
    if options["scene"]:
        limits.check_fit_steps(cast(int, options["fit_steps"]), yes)
        check_output(cast("Path | None", options["cache_dir"]) or default_cache_dir(), True,
                     "--cache-dir", inside=())


def _run_cols(run: Path) -> int:
    """The columns of the (first) tile of ``run``."""
    from spicecim.store.hdf5 import open_run

    with open_run(run) as r:
        return int(r.spec.cols)


def _check_sizes(ctx: click.Context, model: str, model_file: Path | None,
                 inputs: list[tuple[str, Path | None]], output: tuple[Path | None, bool],
                 data: tuple[Path | None, Path | None], sweeps: bool,
                 options: dict[str, object]) -> None:
    """--out (``output``: with --overwrite), the input files, and the model and every batch
    the options ask for against the memory, checked before any work."""
    out, overwrite = output
    if out:
        check_not_input([out], inputs)
        check_output(out, overwrite)
    data_path, calibration_path = data
    accuracy, baseline = limits.ACCURACY_BYTES_PER_VALUE, limits.BASELINE_BYTES_PER_VALUE
    batches = {}
    if options["accuracy"] or sweeps:
        batches = {"--points": (options["points"], accuracy),
                   "--calibration-points": (options["calibration_points"], accuracy)}
    if options["baseline"]:
        batches["--baseline-batch"] = (options["baseline_batch"], baseline)
    if model_file is None:
        limits.check_model(model, batches)
    if ctx.params["tile"]:  # a tile that could never be built is no design point to report
        limits.check_tile(*parse_size(ctx.params["tile"], "tile"), "a smaller --tile")
    for option, path in inputs:
        if path is not None:
            check_input_file(path, option)
    # a model file's graph, read once its path is checked: its sizes, as a preset's above
    sized: str | Mlp = model if model_file is None else choose_model(model).mlp
    if model_file is not None:
        limits.check_model(sized, batches)
    rows = _data_rows(ctx, data_path, calibration_path)
    if rows is not None and (options["accuracy"] or sweeps):
        limits.check_model(sized, {"--data": (rows[0], accuracy),
                                   "--calibration": (rows[1], accuracy)})


def _data_rows(ctx: click.Context, data: Path | None, calibration: Path | None
               ) -> tuple[int, int] | None:
    """The rows of --data and of --calibration (0 without it), their files read and checked
    before any work; the options that --data replaces refused beside it."""
    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT

    if data is None:
        for name in ("calibration_path", "calibration_fraction"):
            if given(name):
                option = "--" + name.removesuffix("_path").replace("_", "-")
                raise SpecError(f"{option} is invalid without --data: expected --data FILE.npz "
                                "(the rows it calibrates apart from)")
        return None
    for name, instead in (("points", "every row of --data not held out is scored"),
                          ("calibration_points", "--calibration or --calibration-fraction")):
        if given(name):
            raise SpecError(f"--{name.replace('_', '-')} is invalid with --data: expected "
                            f"none ({instead})")
    if calibration is not None and given("calibration_fraction"):
        raise SpecError("--calibration-fraction is invalid with --calibration: expected one "
                        "of them (a file to calibrate on, or a share of --data held out)")
    n = len(next(iter(read_arrays(data).values())))
    fraction = cast(float, ctx.params["calibration_fraction"])
    if given("calibration_fraction") and not 1 <= round(fraction * n) <= n - 1:
        raise SpecError(f"--calibration-fraction {fraction:g} holds out {round(fraction * n)} of "
                        f"the {n} rows of --data: expected a share that holds out 1 to {n - 1} "
                        "(one row at least to calibrate on, one to score)")
    return n, (len(next(iter(read_arrays(calibration, "--calibration").values())))
               if calibration is not None else n)
