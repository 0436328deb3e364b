"""``spicecim plot``: a run file's figures (column waveforms, latency, energy, schedules) as
PNG files."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from spicecim.cli.options import check_output
from spicecim.cli.paths import check_input_file
from spicecim.errors import SpecError
from spicecim.store import files
from spicecim.store.hdf5 import open_run


def parse_columns(text: str) -> list[int]:
    """'0,17,255' -> [0, 17, 255] (order kept, repeats dropped)."""
    try:
        columns = [int(part) for part in text.split(",")]
    except ValueError:
        raise SpecError(f"columns={text!r} is invalid: expected comma-separated column "
                        "indices, e.g. 0,17,255") from None
    return list(dict.fromkeys(columns))


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--columns", "columns_text", metavar="J,J,...",
              help="Columns whose waveforms to plot [default: the first, middle and last "
                   "stored].")
@click.option("--tile", help="Tile to plot [default: the run's first tile].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("plots"),
              show_default=True, help="Folder for the PNG files (created if missing).")
@click.option("--dpi", type=click.IntRange(50, 600), default=150, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace PNG files of the same names in --out.")
def plot(path: Path, columns_text: str | None, tile: str | None, out: Path, dpi: int,
         overwrite: bool) -> None:
    """Write the figures of a run file (from spicecim simulate --waveforms) as PNG files."""
    check_output(out, overwrite, inside=())
    check_input_file(path, "PATH")
    # matplotlib loads only for this command, not for every spicecim invocation.
    from spicecim.plot import default_columns, run_figures

    with open_run(path) as run:
        tile = tile if tile is not None else next(iter(run.tiles()), "")
        columns = (default_columns(run, tile) if columns_text is None
                   else parse_columns(columns_text))
        figures = run_figures(run, tile, columns)
    check_output(out, overwrite, inside=[f"{name}.png" for name in figures])
    for name, figure in figures.items():
        target = files.write_stream(out / f"{name}.png",
                                    functools.partial(figure.savefig, dpi=dpi, format="png"))
        click.echo(str(target))
