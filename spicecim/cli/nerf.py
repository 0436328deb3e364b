"""``spicecim nerf``: the built-in scene rendered by the float MLP and by the crossbar model."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from spicecim import progress
from spicecim.analog import accuracy as acc
from spicecim.cli import limits
from spicecim.cli.evaluate import parse_size, parse_sweep
from spicecim.cli.figures import refuse_failed
from spicecim.cli.options import POSITIVE, READ_NOISE, VARIATION, check_output
from spicecim.cli.paths import check_input_file, check_not_input
from spicecim.cost import design as designs
from spicecim.cost.duration import DURATION_LIMIT_S
from spicecim.cost.schedule import TileTable
from spicecim.errors import SpecError, raise_if_stopped
from spicecim.models.presets import CACHE_ENV, NERF_PRESETS, default_cache_dir
from spicecim.models.scene import default_scene
from spicecim.nerf import frame as frames
from spicecim.nerf import outputs, pipeline
from spicecim.netlist.weights import VARIATION_MODELS
from spicecim.sim.sweep import DEFAULT_ENGINE, ENGINES

if TYPE_CHECKING:  # finetune loads JAX: imported where fine-tuning runs
    from spicecim.analog.finetune import FinetuneSettings


@click.command("nerf")
@click.argument("run", metavar="RUN", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", type=click.Choice(NERF_PRESETS), default="nerf-4x256", show_default=True)
@click.option("--resolution", default="64x64", show_default=True, help="Frame WIDTHxHEIGHT.")
@click.option("--samples-per-ray", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("renders"),
              show_default=True, help="Folder for the PNGs (and the sweep's CSV and plot).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help=f"Fitted weights are kept here [default: ${CACHE_ENV} or "
                   "~/.cache/spicecim].")
@click.option("--fit-steps", type=click.IntRange(min=1), default=3000, show_default=True,
              help="Adam steps of the fit to the scene (JAX, once per cache).")
@click.option("--ideal", is_flag=True,
              help="Ideal crossbar: no quantisation, variation, read noise or IR drop; the "
                   "options below still apply on top.")
@click.option("--adc-bits", type=click.IntRange(1, 16), help="[default: the tables' ADC]")
@click.option("--dac-bits", type=click.IntRange(1, 16), help="[default: the tables' DAC]")
@click.option("--weight-bits", type=click.IntRange(1, 16),
              help="Conductance levels 2^bits [default: the tables'].")
@click.option("--variation", type=VARIATION,
              help="Scale of the programming variation sigma_G of --variation-model [default: 1].")
@click.option("--read-noise", type=READ_NOISE,
              help=f"Relative read-noise sigma per device per read [default: "
                   f"{acc.DEFAULT_READ_NOISE:g}].")
@click.option("--ir-drop/--no-ir-drop", default=None,
              help="Wire, driver and sense resistances [default: on].")
@click.option("--adc-range", type=click.Choice(acc.ADC_RANGES), default="calibrated",
              show_default=True,
              help="ADC full scale: per tile from the calibration samples' largest column "
                   "current, or the worst case rows x G_max x V (the latency tables' LSB).")
@click.option("--calibrate/--no-calibrate", default=True, show_default=True,
              help="Per-column least-squares gain and offset on the calibration samples, "
                   "applied after the ADC (corrects IR drop's systematic loss).")
@click.option("--variation-model", type=click.Choice(VARIATION_MODELS),
              help="Programming-error model [default: wan2022, NeuRRAM via aihwkit].")
@click.option("--sweep", "sweep_texts", multiple=True,
              help="Render once per value: an accuracy axis (adc_bits=3:8, variation=0:2:0.5; "
                   "writes sweep.csv, sweep.png) or design axes, repeatable for a grid "
                   f"({', '.join(designs.DESIGN_AXES)}; tile=64,128,256 g_max=20e-6,40e-6; "
                   "writes design_sweep.csv and design_sweep.png, Pareto points marked; each "
                   "point costed from its own tiles, co-simulated (or tables simulated) under "
                   "--simulate-dir when missing).")
@click.option("--tile", "tile_text", help="Design point: tile ROWSxCOLS [default: the tables'].")
@click.option("--rows-per-read", type=click.IntRange(min=1),
              help="Design point: rows activated per read (row parallelism) [default: all].")
@click.option("--g-min", type=POSITIVE,
              help="Design point: lowest programmed conductance (S) [default: the tables'].")
@click.option("--g-max", type=POSITIVE,
              help="Design point: highest programmed conductance (S) [default: the tables'].")
@click.option("--slices", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Design point: devices per weight of different significance (bit slicing).")
@click.option("--copies", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Design point: devices per slice, averaged digitally.")
@click.option("--mitigated", is_flag=True,
              help="Use the mitigation design point (64x64 tiles, 2 slices x 4 row copies; "
                   "docs/sources.md section 8) in place of the options above.")
@click.option("--ir-aware/--no-ir-aware", default=False, show_default=True,
              help="IR-drop-aware programming: conductances pre-distorted on the fast solver "
                   "so the column currents match the target products.")
@click.option("--finetune/--no-finetune", default=False, show_default=True,
              help="Fine-tune the MLP through the crossbar model (JAX, cached).")
@click.option("--finetune-steps", type=click.IntRange(min=1), default=None,
              help="Adam steps of the fine-tuning [default: FinetuneSettings().steps].")
@click.option("--ladder", is_flag=True,
              help="Render the mitigations added one at a time (none; + design point "
                   "[--mitigated unless given]; + IR-drop-aware programming; + fine-tuning) "
                   "and report PSNR/SSIM, latency and energy per frame of each.")
@click.option("--simulate-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where other design points are found or simulated: co-simulations of "
                   "their own tiles (RUN a co-simulation), else generic tiles' tables [default: "
                   "RUN's folder].")
@click.option("--workers", type=click.IntRange(min=1), help="Processes for those simulations.")
@click.option("--engine", type=click.Choice(ENGINES),
              help="The simulator of those simulations (each run records it) [default: the "
                   "co-simulation's engine; for a generic tile's tables, "
                   f"{DEFAULT_ENGINE}].")
@click.option("--yes", is_flag=True,
              help="Run co-simulations of design points, a fit or a fine-tuning estimated to "
                   f"take over {DURATION_LIMIT_S / 60:.0f} min (else refused with the "
                   "estimate).")
@click.option("--adc-share", type=click.IntRange(min=1),
              help="Columns per ADC in the ADC-shared schedule [default: the tables'].")
@click.option("--calibration-points", type=click.IntRange(min=1), default=8192,
              show_default=True,
              help="Samples of 3 other views (never the rendered frame) that set each "
                   "layer's DAC scale, ADC range and column calibration.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the fit, calibration, variation and noise.")
@click.option("--overwrite", is_flag=True, help="Replace the PNGs (and CSVs) in --out.")
@click.option("--progress/--no-progress", default=None,
              help="Bars of each step on stderr: programming, rendering, fine-tuning "
                   "[default: when stderr is a terminal].")
def nerf_cmd(run: Path, model: str, out: Path, cache_dir: Path | None, fit_steps: int,
             seed: int, **given: Any) -> None:
    """Render the built-in scene with the float MLP and through the crossbar model; print
    PSNR and SSIM beside the frame's latency and energy per schedule, and write the PNGs."""
    progress.show(given["progress"])
    width, height = parse_size(given["resolution"], "resolution")
    frame = frames.Frame(width, height, given["samples_per_ray"])
    limits.check_frame(width, height, given["samples_per_ray"])
    limits.check_model(model, {"--calibration-points": (given["calibration_points"],
                                                        limits.ACCURACY_BYTES_PER_VALUE)})
    sweep, design_axes = _sweeps(given["sweep_texts"], frame, given["yes"])
    cache = cache_dir or default_cache_dir()
    _check_outputs(run, out, cache, sweep is not None, bool(design_axes), given)
    table = frames.load_table(run)
    cosim_run = None if table.generic else run  # load_table: a co-simulation's configuration
    if cosim_run is not None:
        frames.check_cosim_share(cosim_run, given["adc_share"])
    design = _checked_design(table, design_axes, cosim_run is None, fit_steps, given)

    from spicecim.models.fit import cached_fit  # loads JAX: only when a fit may run

    scene = default_scene()

    def tell(line: str) -> None:  # every wait of this command, on stderr
        click.echo(line, err=True)

    tell(f"{model}: fitted to the built-in scene ({fit_steps} Adam steps, about a minute the "
         f"first time; then read from {cache}) ...")
    field = cached_fit(cache, scene, preset=model, steps=fit_steps, seed=seed)
    mitigations = pipeline.Mitigations(
        design, _tuning(given, seed), given["ladder"],
        tuple((k, tuple(v)) for k, v in design_axes.items()),
        given["simulate_dir"] or run.parent, cache, given["workers"], given["engine"],
        given["yes"])
    result = pipeline.run_nerf(
        scene, field, table, frame, _settings(table, seed, given), sweep, model=model,
        weights=f"fitted to the built-in scene, {fit_steps} steps, seed {seed}; cached in {cache}",
        calibration_points=given["calibration_points"], adc_share=given["adc_share"],
        mitigations=mitigations, progress=tell, cosim_run=cosim_run)
    _report(result, out)


def _sweeps(texts: tuple[str, ...], frame: frames.Frame, yes: bool
            ) -> tuple[tuple[str, list[float]] | None, dict[str, list[float]]]:
    """The accuracy sweep (one axis at most) and the design sweep's axes of --sweep, the
    design grid's time and memory estimated on ``frame`` (over the limit unless ``yes``)."""
    design_texts = [t for t in texts if t.partition("=")[0].strip() in designs.DESIGN_AXES]
    accuracy_texts = [t for t in texts if t not in design_texts]
    if len(accuracy_texts) > 1:
        raise click.UsageError("one accuracy --sweep axis at a time (design axes may repeat)")
    sweep = parse_sweep(accuracy_texts[0]) if accuracy_texts else None
    axes: dict[str, list[float]] = {}
    for text in design_texts:
        ((name, values),) = designs.parse_design_sweep([text]).items()
        if name in axes:
            raise SpecError(f"sweep={text!r} repeats the axis {name}: expected each axis once "
                            "(its values in one --sweep, e.g. tile=64,128)")
        _check_axis(text, name, values)
        axes[name] = values
    if axes:
        limits.check_design_grid(math.prod(map(len, axes.values())), frame.width_px,
                                 frame.height_px, yes)
    return sweep, axes


# Each design axis's values as its option takes them: (lowest, highest, integers only).
_AXIS_DOMAINS = {"tile": (2, None, True), "rows_per_read": (1, None, True),
                 "g_min": (0, None, False), "g_max": (0, None, False), "slices": (1, 8, True),
                 "copies": (1, 8, True)}


def _check_axis(text: str, name: str, values: list[float]) -> None:
    """Refuse a design axis's value outside its domain (a tile beyond memory too): the
    option's own range, where a value used to fail only after the fit and the first render."""
    lo, hi, integer = _AXIS_DOMAINS[name]
    for v in values:
        if not (math.isfinite(v) and (v >= lo if integer else v > lo)
                and (hi is None or v <= hi) and (not integer or v == int(v))):
            kind = "integers" if integer else "finite values"
            bound = f"from {lo} to {hi}" if hi is not None else (
                f">= {lo}" if integer else f"> {lo}")
            raise SpecError(f"sweep={text!r} is invalid: expected {name} {kind} {bound}")
        if name == "tile":
            limits.check_tile(int(v), int(v), "smaller tile= values")


def _check_outputs(run: Path, out: Path, cache: Path, sweep: bool, design_sweep: bool,
                   given: dict[str, Any]) -> None:
    """Every output and folder the command writes, and RUN, checked before any work."""
    names = outputs.output_names(sweep, given["ladder"], design_sweep)
    check_not_input([out / name for name in names], [("RUN", run)])
    check_output(out, given["overwrite"], inside=names)
    check_output(cache, True, "--cache-dir", inside=())
    # a folder given is checked whether or not a design point is simulated there; RUN's own
    # folder (read-only, maybe) only where one may be
    if given["simulate_dir"] or given["ladder"] or design_sweep:
        check_output(given["simulate_dir"] or run.parent, True, "--simulate-dir", inside=())
    check_input_file(run, "RUN")


def _checked_design(table: TileTable, axes: dict[str, list[float]], generic: bool,
                    fit_steps: int, given: dict[str, Any]) -> designs.DesignPoint:
    """The design point of the options (:func:`_design`), and what the options ask for checked
    against the tables' tile and the time limit, before the fit: its tile in memory, its
    conductances within the device's range, rows per read and columns per ADC within its tile,
    the worker processes in memory, the fit's and the fine-tuning's steps in time (unless
    --yes)."""
    design = _design(given)
    limits.check_fit_steps(fit_steps, given["yes"])
    if (given["finetune"] or given["ladder"]) and given["finetune_steps"]:
        limits.check_fit_steps(given["finetune_steps"], given["yes"], "--finetune-steps")
    if given["workers"]:
        limits.check_processes(given["workers"], "--workers")
    spec = design.spec(table.spec)
    limits.check_tile(spec.rows, spec.cols, "a smaller --tile")
    mem = table.spec.cell.memristor
    for option, g in (("--g-min", design.g_min_s), ("--g-max", design.g_max_s),
                      *(("--sweep g_min", v) for v in axes.get("g_min", ())),
                      *(("--sweep g_max", v) for v in axes.get("g_max", ()))):
        if table.spec.cell.kind == "memristor" and g is not None and not (
                mem.g_off_s <= g <= mem.g_on_s):
            raise SpecError(f"{option} {g:g} is invalid: expected {mem.g_off_s:.3g} to "
                            f"{mem.g_on_s:.3g} S (the range of RUN's device, {mem.name})")
    # each point's tile can be cut: g_min < g_max, even columns, rows >= copies, rows per read
    # a multiple of the copies up to the rows
    for point in [design, *designs.sweep_points(design, axes)]:
        point.geometry(table.spec, point.weights(table.weights))
    if generic and given["adc_share"]:
        limits.check_adc_share(given["adc_share"], spec.cols, "tile")
    return design


def _design(given: dict[str, Any]) -> designs.DesignPoint:
    """The design point the options choose (the mitigation one with --mitigated, or for a
    ladder given none)."""
    rows, cols = parse_size(given["tile_text"], "tile") if given["tile_text"] else (None, None)
    chosen = designs.DesignPoint(rows, cols, given["rows_per_read"], given["g_min"],
                                 given["g_max"], None, given["slices"], given["copies"])
    if given["mitigated"] or (given["ladder"] and chosen == designs.BASELINE):
        return designs.MITIGATED
    return chosen


def _settings(table: TileTable, seed: int, given: dict[str, Any]) -> acc.Nonideality:
    """The crossbar's non-idealities: the tables' (or none with --ideal), then the options."""
    # Nonideality's fields by name, each of its own type: Any, as Nonideality.of takes them.
    chosen: dict[str, Any] = {name: given[name] for name in (
        "adc_bits", "dac_bits", "weight_bits", "variation", "read_noise", "ir_drop",
        "variation_model") if given[name] is not None} | {
        name: given[name] for name in ("adc_range", "calibrate", "ir_aware")}
    if given["ideal"]:
        return dataclasses.replace(acc.Nonideality.ideal(seed), **chosen)
    return pipeline.device_settings(table, seed=seed, **chosen)


def _tuning(given: dict[str, Any], seed: int) -> FinetuneSettings | None:
    if not (given["finetune"] or given["ladder"]):
        return None
    from spicecim.analog.finetune import FinetuneSettings  # loads JAX: only when tuning

    steps = given["finetune_steps"]
    return FinetuneSettings(seed=seed) if steps is None else FinetuneSettings(steps, seed=seed)


def _report(result: pipeline.NerfResult, out: Path) -> None:
    raise_if_stopped()  # a stop Python dropped in the last step: nothing written
    renders = (result.crossbar, *result.sweep, *result.ladder, *result.design_sweep)
    refuse_failed({"float MLP PSNR": result.float_psnr_db,
                   **{f"{r.label} PSNR vs {vs} ({r.settings.describe()})":
                      getattr(r, f"psnr_{vs}_db") for r in renders for vs in ("float", "scene")}},
                  "the render")
    click.echo(outputs.format_report(result, outputs.write_outputs(result, out)))
