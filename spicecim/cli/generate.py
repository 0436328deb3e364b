"""``spicecim generate``: write the full-array and per-column netlists of one tile."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from spicecim import progress as progress_
from spicecim.cli import limits
from spicecim.cli.options import (
    FINITE,
    build_tile,
    check_output,
    pop_tile_options,
    tile_options,
)
from spicecim.netlist.crossbar import Transient, holds_netlists_of, netlists_in, write_netlists


@click.command()
@tile_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("netlists/xbar"), show_default=True, help="Folder for the netlists.")
@click.option("--stop", type=FINITE, default=20e-9, show_default=True,
              help="Transient stop time (s).")
@click.option("--step", type=FINITE, default=10e-12, show_default=True,
              help="Transient print step (s).")
@click.option("--overwrite", is_flag=True,
              help="Replace the netlists of another tile in --out (the same tile's are "
                   "rewritten byte for byte without it).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr [default: when stderr is a terminal].")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def generate(out_dir: Path, stop: float, step: float, overwrite: bool, progress: bool | None,
             as_json: bool, **kwargs: Any) -> None:
    """Write netlists/<out>/array.cir and one colNNNN.cir per column."""
    analysis = Transient(stop_s=stop, step_s=step)
    tile = build_tile(pop_tile_options(kwargs))  # refused first if it cannot fit in memory
    same = holds_netlists_of(out_dir, tile, analysis)
    check_output(out_dir, overwrite, inside=[] if same else netlists_in(out_dir))
    limits.check_netlist_disk(out_dir, tile.spec.rows, tile.spec.cols)
    start = time.perf_counter()
    progress_.show(progress)
    with progress_.bar(tile.spec.cols + 1, "file", "netlists") as bar:
        paths = write_netlists(tile, out_dir, analysis, on_file=lambda _: bar.update())
    elapsed = time.perf_counter() - start
    summary = {
        "rows": tile.spec.rows,
        "cols": tile.spec.cols,
        "out": str(out_dir),
        "files": len(paths),
        "array_netlist": str(paths[0]),
        "spec_hash": tile.spec.digest(),
        "data_hash": tile.digest(),
        "seconds": round(elapsed, 3),
    }
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"wrote {len(paths)} netlists ({tile.spec.rows}x{tile.spec.cols}) to {out_dir} "
                   f"in {elapsed:.2f} s")
