"""``spicecim simulate``: every column of a tile through ngspice into one HDF5 run file."""

from __future__ import annotations

import functools
import json
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from spicecim.cli import interrupted_exit, limits
from spicecim.cli.options import (
    VARIATION,
    build_spec,
    build_tile,
    check_output,
    parse_size,
    pop_tile_options,
    tile_options,
    weight_mapping,
)
from spicecim.cli.paths import check_input_files, check_not_input
from spicecim.cost import cosim, duration
from spicecim.errors import ResultFileError, SpecError
from spicecim.models.presets import default_cache_dir
from spicecim.nerf.frame import Frame
from spicecim.nerf.plan import make_plan
from spicecim.netlist.weights import DEFAULT_VARIATION_MODEL, VARIATION_SOURCES
from spicecim.report.text import column_breakdown, describe, render
from spicecim.sim import driver
from spicecim.sim.check import DEFAULT_CHECK_COLUMNS, EngineDisagreementError
from spicecim.sim.driver import RunOptions
from spicecim.sim.executors import ADDRESS_FORMAT, SCHEDULER_ENV, Cluster
from spicecim.sim.sweep import DEFAULT_ENGINE, DRIVES, ENGINES
from spicecim.store.hdf5 import open_run

FAILED_EXIT = 1


@click.command()
@tile_options(encodings=("amplitude",))  # the measurement reads amplitude-encoded inputs only
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Run file (HDF5), written once the run completes; until then every finished "
                   "column is kept in <out>.journal, and a rerun resumes from it.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: every core).")
@click.option("--scheduler", metavar="ADDRESS",
              help=f"Run on the Dask cluster of this scheduler, {ADDRESS_FORMAT} [default: "
                   f"${SCHEDULER_ENV} when no --workers/--dask-local is given].")
@click.option("--dask-local", type=click.IntRange(min=1), metavar="N",
              help="Run on a Dask LocalCluster of N worker processes started for this run.")
@click.option("--mc", type=click.IntRange(min=1), metavar="N",
              help="Also simulate N replicas with programming variation "
                   f"({VARIATION_SOURCES[DEFAULT_VARIATION_MODEL]}, drawn from --seed) and "
                   "store the p5/p50/p95 of each schedule.")
@click.option("--waveforms", is_flag=True, help="Store each column's waveforms (compressed).")
@click.option("--drive", type=click.Choice(DRIVES), default=None,
              help="The whole tile as one circuit (array; batched engine only), or each column "
                   "alone with its rows as: full-array DC row voltages behind the row's "
                   "common-mode resistance (coupled) or the column's own (solver), or each DAC "
                   "alone (isolated).  [default: array on the batched engine, coupled on "
                   "ngspice]")
@click.option("--engine", type=click.Choice(ENGINES), default=DEFAULT_ENGINE, show_default=True,
              help="The simulator: ngspice (the reference), or the batched engine (every column "
                   "of a task solved together in JAX; a sample of them checked in ngspice).")
@click.option("--check-columns", type=click.IntRange(min=0), default=DEFAULT_CHECK_COLUMNS,
              show_default=True,
              help="With --engine batched: columns per tile simulated again in ngspice (the "
                   "slowest, the fastest, then drawn at random); a disagreement over the "
                   "tolerance fails the run (exit 1). 0: no check.")
@click.option("--adc-share", type=click.IntRange(min=1), default=RunOptions().adc_share,
              show_default=True,
              help="Columns per ADC in the ADC-shared schedule.")
@click.option("--model", help="Co-simulate this model instead of one tile: a preset "
              "(nerf, nerf-4x256, mlp:IN-H1-...-OUT), every tile of its mapping with its own "
              "conductances and activations.")
@click.option("--weights", "model_weights", type=click.Path(dir_okay=False, path_type=Path),
              help="The model's weights (.npz, .pt/.pth, or .onnx with its graph) [default: "
                   "fitted to the scene with --scene, else a seeded initialisation]; a tile's own "
                   "weights are --tile-weights.")
@click.option("--scene", is_flag=True,
              help="Drive the model with the built-in NeRF scene's frame (its own samples).")
@click.option("--fit-steps", type=click.IntRange(min=1), default=3000, show_default=True,
              help="Adam steps of the --scene fit (cached).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where --scene fits are kept [default: $SPICECIM_CACHE or ~/.cache/spicecim].")
@click.option("--inputs-file", "model_inputs", type=click.Path(dir_okay=False, path_type=Path),
              help="The model's inputs (.npy for one input, .npz by input name), without "
                   "--scene.")
@click.option("--inputs", "samples", type=click.IntRange(1, 1024), default=4, show_default=True,
              help="Input vectors per tile in a co-simulation (samples of the model's inputs).")
@click.option("--resolution", default="64x64", show_default=True,
              help="The --scene frame, WIDTHxHEIGHT.")
@click.option("--samples-per-ray", type=click.IntRange(min=1), default=32, show_default=True,
              help="The --scene frame's samples per ray.")
@click.option("--variation", type=VARIATION, default=0.0, show_default=True,
              help="Programming variation of the co-simulated tiles (scale of sigma_G, "
                   f"{VARIATION_SOURCES[DEFAULT_VARIATION_MODEL]}, drawn from --seed).")
@click.option("--slices", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Devices per weight of different significance (bit slicing), each on its "
                   "own column pair.")
@click.option("--copies", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Rows per input (devices per weight summed in the column).")
@click.option("--rows-per-read", type=click.IntRange(min=1),
              help="Rows activated per read, one transient per group of rows [default: all].")
@click.option("--layers", "layer_names", metavar="NAME,...",
              help="Co-simulate only these layers of the model, to check a part first (the run "
                   "says it is partial; evaluate and nerf refuse it).")
@click.option("--max-tiles", type=click.IntRange(min=1), metavar="N",
              help="Co-simulate only the first N tiles (of --layers, else of the model, in "
                   "order; a partial run as with --layers).")
@click.option("--yes", is_flag=True,
              help=f"Run a co-simulation estimated to take over "
                   f"{duration.DURATION_LIMIT_S / 60:.0f} min (else refused with the estimate).")
@click.option("--overwrite", is_flag=True, help="Start anew instead of resuming <out>.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr [default: when stderr is a terminal].")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def simulate(out: Path, model: str | None, overwrite: bool, progress: bool | None,
             as_json: bool, **given: Any) -> None:
    """Simulate every column of a tile, or of every tile of a model (--model), resuming <out>
    if it exists; print its schedules."""
    ctx = click.get_current_context()
    _check_mode(ctx, model is not None)
    inputs = [("--weights", given["model_weights"]), ("--inputs-file", given["model_inputs"]),
              ("--tile-weights", given["weights_file"]), ("--tile-inputs", given["inputs_file"])]
    check_not_input([out], inputs)
    check_input_files(inputs)  # a FIFO, a device or a folder refused without reading it
    check_output(out, True)  # an existing run is resumed (or, with --overwrite, replaced)
    if given["scene"]:
        check_output(given["cache_dir"] or default_cache_dir(), True, "--cache-dir", inside=())
    opts = pop_tile_options(given)
    limits.check_adc_share(given["adc_share"], opts["cols"], "tile")
    if given["mc"]:
        limits.check_replicas(given["mc"], opts["rows"], opts["cols"])
    for option in ("workers", "dask_local"):
        if given[option]:
            limits.check_processes(given[option], f"--{option.replace('_', '-')}")
    cluster = Cluster.from_options(given["scheduler"], given["dask_local"], given["workers"],
                                   os.environ)
    options = RunOptions(drive=given["drive"], adc_share=given["adc_share"],
                         waveforms=given["waveforms"], monte_carlo=given["mc"] or 0,
                         seed=opts["seed"], engine=given["engine"],
                         check_columns=given["check_columns"])
    common: dict[str, Any] = {"options": options, "cluster": cluster, "overwrite": overwrite,
              "progress": progress, "command_line": _command_line(ctx)}
    if model is not None:
        plan = _plan(model, opts, given)
        seconds = duration.check_duration(plan, options.engine, _workers(cluster), yes=given["yes"])
        click.echo(_estimate_line(plan, options.engine, seconds), err=True)
        run = functools.partial(cosim.cosimulate, plan, out, **common)
    else:
        run = functools.partial(driver.simulate, build_tile(opts), out,
                                parameters={"seed": opts["seed"]}, **common)
    _report(_run(run, out), as_json, given["mc"])


def _plan(model: str, opts: dict[str, Any], given: dict[str, Any]) -> cosim.Plan:
    """The co-simulation plan the options ask for (the frame's size checked first)."""
    spec = build_spec(opts)
    width, height = parse_size(given["resolution"], "resolution")
    if given["scene"]:
        limits.check_frame(width, height, given["samples_per_ray"])
        limits.check_fit_steps(given["fit_steps"], given["yes"])
    names = given["layer_names"]
    return make_plan(model, spec, weight_mapping(opts, spec.cell.memristor), given["samples"],
                     weights_path=given["model_weights"], scene=given["scene"],
                     frame=Frame(width, height, given["samples_per_ray"]),
                     inputs_path=given["model_inputs"], cache_dir=given["cache_dir"],
                     fit_steps=given["fit_steps"], seed=opts["seed"],
                     variation=given["variation"],
                     layers=tuple(n.strip() for n in names.split(",")) if names else (),
                     max_tiles=given["max_tiles"], slices=given["slices"],
                     copies=given["copies"], rows_per_read=given["rows_per_read"])


def _workers(cluster: Cluster) -> int:
    """The processes a run gets: the pool's, else one per core this process may use."""
    return cluster.workers or cluster.dask_local or len(os.sched_getaffinity(0))


def _estimate_line(plan: cosim.Plan, engine: str, seconds: float) -> str:
    part = plan.partial()
    return (f"co-simulating {plan.columns()} column transients on {engine}"
            + (f", a part: {part}" if part else "")
            + f"; estimated {seconds / 60:.1f} min")


def _run(run: Callable[[], driver.RunSummary], out: Path) -> driver.RunSummary:
    """``run()``, a stop or a disagreement with the reference told in one line."""
    try:
        return run()
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: every finished column is kept
        click.echo(_interrupted(out), err=True)
        sys.exit(interrupted_exit(exc))
    except EngineDisagreementError as exc:  # a figure the reference contradicts: loudly
        click.echo(f"Error: {exc}", err=True)
        sys.exit(FAILED_EXIT)


_MODEL_ONLY = ("model_weights", "scene", "fit_steps", "cache_dir", "model_inputs", "samples",
               "resolution", "samples_per_ray", "variation", "layer_names", "max_tiles", "yes",
               "slices", "copies", "rows_per_read")
_TILE_ONLY = ("weights_file", "inputs_file", "mc")


def _check_mode(ctx: click.Context, cosimulating: bool) -> None:
    """Refuse an option of the other mode (a model's with a tile, a tile's data with a model)."""
    others = _TILE_ONLY if cosimulating else _MODEL_ONLY
    for param in ctx.command.params:
        if param.name in others and ctx.get_parameter_source(param.name) not in (
                ParameterSource.DEFAULT, None):
            flag = param.opts[0]
            if not cosimulating:
                why = "without --model: expected --model PRESET to co-simulate a model"
            elif param.name == "mc":
                why = ("with --model: expected --variation (the co-simulated tiles' own "
                       "programming variation)")
            else:
                why = ("with --model: expected the model's own weights and inputs (--weights, "
                       "--scene or --inputs-file)")
            raise SpecError(f"{flag} is invalid {why}")


def _report(summary: driver.RunSummary, as_json: bool, mc: int | None) -> None:
    with open_run(summary.path) as run:
        if as_json:
            info = describe(run)
            info.update(simulated=summary.simulated, kept=summary.kept)
            if summary.check is not None:
                info["engine_check"] = summary.check.worst()
            if driver.TILE in run.tiles():
                info["latency"] = column_breakdown(run, driver.TILE)
            click.echo(json.dumps(info))
        else:
            click.echo(f"{summary.path}: {summary.simulated} columns simulated, "
                       f"{summary.kept} kept from an earlier run"
                       + (f" ({mc} Monte Carlo replicas)" if mc else ""))
            click.echo(render(run))
            if summary.check is not None:
                click.echo(summary.check.summary())
    if summary.failures:
        failed = [str(j) if t == driver.TILE else f"{t}:{j}" for t, j, _, _ in summary.failures]
        click.echo(f"Error: {len(failed)} column(s) failed: {', '.join(failed)}", err=True)
        sys.exit(FAILED_EXIT)


def _interrupted(out: Path) -> str:
    """The one line a stopped run prints: what it kept, where, and how to go on."""
    try:
        with open_run(out) as run:
            total = sum(len(run.columns(t)) for t in run.tiles())
            done = total - sum(len(run.pending(t)) for t in run.tiles())
            where = run.path
    except ResultFileError:
        return "interrupted before any column finished; rerun the same command to start again"
    return (f"interrupted: {done} of {total} columns kept in {where}; rerun the same command "
            "to resume")


def _command_line(ctx: click.Context) -> str:
    """The command with every option spelled out (defaults included), so it reproduces the run
    whatever the defaults become; the other mode's options (a model's without --model, a
    tile's with it) left out, as the command refuses them given."""
    words = ["spicecim", ctx.info_name or "simulate"]
    other_mode = _TILE_ONLY if ctx.params.get("model") is not None else _MODEL_ONLY
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if value is None or not isinstance(param, click.Option) or param.name in other_mode:
            continue
        if param.is_flag:
            if value:
                flag: str | None = param.opts[0]
            else:
                flag = param.secondary_opts[0] if param.secondary_opts else None
            words += [flag] if flag else []
        else:
            words += [param.opts[0], str(value)]
    return shlex.join(words)
