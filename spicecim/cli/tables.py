"""``spicecim tables``: print what a file is and its tables (:mod:`spicecim.report.text`)."""

from __future__ import annotations

from pathlib import Path

import click

from spicecim.cli.paths import check_input_file
from spicecim.report.attribution import run_causes_text
from spicecim.report.text import file_text


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.option("--latency-causes", type=click.IntRange(1, 16), default=None, metavar="K",
              help="Rerun the K slowest columns of a seeded tile's run in ngspice with each "
                   "element ideal in turn (wires, driver, cells, amplifier, switch) and say "
                   "which removal shortens the latency most (about 1 s of ngspice per column).")
def tables(path: Path, as_json: bool, latency_causes: int | None) -> None:
    """Say what a file is and print its tables: a run's (or partial run's) per-layer schedules
    and failed columns, an ACAM search file's cases, an evaluation report's totals."""
    if path.exists():  # a partial run is its journal alone: identify finds it
        check_input_file(path, "PATH")  # before identify opens it: a FIFO would block it
    click.echo(file_text(path, as_json))
    if latency_causes is not None:
        click.echo(run_causes_text(path, latency_causes))
