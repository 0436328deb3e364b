"""``spicecim tables``: print what a file is and its tables (:mod:`spicecim.report.text`)."""

from __future__ import annotations

from pathlib import Path

import click

from spicecim.cli.paths import check_input_file
from spicecim.report.text import file_text


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def tables(path: Path, as_json: bool) -> None:
    """Say what a file is and print its tables: a run's (or partial run's) per-layer schedules
    and failed columns, an ACAM search file's cases, an evaluation report's totals."""
    if path.exists():  # a partial run is its journal alone: identify finds it
        check_input_file(path, "PATH")  # before identify opens it: a FIFO would block it
    click.echo(file_text(path, as_json))
