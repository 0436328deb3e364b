"""``spicecim simulate``: every column of a tile through ngspice into one HDF5 run file."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from spicecim import driver
from spicecim.cli import interrupted_exit
from spicecim.cli.options import build_tile, pop_tile_options, tile_options
from spicecim.cli.tables import column_breakdown, describe, render
from spicecim.driver import RunOptions
from spicecim.errors import ResultFileError
from spicecim.sim.executors import ADDRESS_FORMAT, SCHEDULER_ENV, Cluster
from spicecim.sim.sweep import DRIVES
from spicecim.store.hdf5 import open_run

FAILED_EXIT = 1


@click.command()
@tile_options
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
              help="Also simulate N replicas with programming variation (Milo et al. 2021, "
                   "drawn from --seed) and store the p5/p50/p95 of each schedule.")
@click.option("--waveforms", is_flag=True, help="Store each column's waveforms (compressed).")
@click.option("--drive", type=click.Choice(DRIVES), default="coupled", show_default=True,
              help="Rows as each column sees them: full-array DC row voltages behind the row's "
                   "common-mode resistance (coupled) or the column's own (solver), or each DAC "
                   "alone (isolated).")
@click.option("--adc-share", type=click.IntRange(min=1), default=8, show_default=True,
              help="Columns per ADC in the ADC-shared schedule.")
@click.option("--overwrite", is_flag=True, help="Start anew instead of resuming <out>.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr [default: when stderr is a terminal].")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def simulate(out: Path, workers: int | None, scheduler: str | None, dask_local: int | None,
             mc: int | None, waveforms: bool, drive: str, adc_share: int, overwrite: bool,
             progress: bool | None, as_json: bool, **kwargs: Any) -> None:
    """Simulate every column of a tile (resuming <out> if it exists) and print its schedules."""
    opts = pop_tile_options(kwargs)
    cluster = Cluster.from_options(scheduler, dask_local, workers, os.environ)
    tile = build_tile(opts)
    options = RunOptions(drive=drive, adc_share=adc_share, waveforms=waveforms,
                         monte_carlo=mc or 0, seed=opts["seed"])
    try:
        summary = driver.simulate(tile, out, options=options, parameters={"seed": opts["seed"]},
                                  cluster=cluster, overwrite=overwrite, progress=progress,
                                  command_line=_command_line(click.get_current_context()))
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: every finished column is kept
        click.echo(_interrupted(out, tile.spec.cols * (1 + (mc or 0))), err=True)
        sys.exit(interrupted_exit(exc))
    with open_run(summary.path) as run:
        if as_json:
            info = describe(run)
            info.update(simulated=summary.simulated, kept=summary.kept,
                        latency=column_breakdown(run, driver.TILE))
            click.echo(json.dumps(info))
        else:
            click.echo(f"{summary.path}: {summary.simulated} columns simulated, "
                       f"{summary.kept} kept from an earlier run"
                       + (f" ({mc} Monte Carlo replicas)" if mc else ""))
            click.echo(render(run))
    if summary.failures:
        failed = [str(j) if t == driver.TILE else f"{t}:{j}" for t, j, _, _ in summary.failures]
        click.echo(f"Error: {len(failed)} column(s) failed: {', '.join(failed)}", err=True)
        sys.exit(FAILED_EXIT)


def _interrupted(out: Path, total: int) -> str:
    """The one line a stopped run prints: what it kept, where, and how to go on."""
    try:
        with open_run(out) as run:
            done = sum(len(run.columns(t)) - len(run.pending(t)) for t in run.tiles())
            where = run.path
    except ResultFileError:
        return "interrupted before any column finished; rerun the same command to start again"
    return (f"interrupted: {done} of {total} columns kept in {where}; rerun the same command "
            "to resume")


def _command_line(ctx: click.Context) -> str:
    """The command with every option spelled out (defaults included), so it reproduces the run
    whatever the defaults become."""
    words = ["spicecim", ctx.info_name or "simulate"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if value is None or not isinstance(param, click.Option):
            continue
        if param.is_flag:
            flag = param.opts[0] if value else (param.secondary_opts or [None])[0]
            words += [flag] if flag else []
        else:
            words += [param.opts[0], str(value)]
    return shlex.join(words)
