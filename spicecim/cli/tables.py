"""``spicecim tables``: print a run's per-layer schedules and its failed columns."""

from __future__ import annotations

import json
from pathlib import Path

import click

from spicecim.montecarlo import missing_replicas
from spicecim.store.hdf5 import Run, open_run
from spicecim.units import format_si


def si(value: float, unit: str) -> str:
    """Table text in SI units, femto at the smallest."""
    return format_si(value, unit, smallest=1e-15)


def describe(run: Run) -> dict:
    """Everything ``tables`` prints, as plain data."""
    layers = {name: run.layer(name).rows() for name in run.layers()}
    failures = {tile: run.failures(tile) for tile in run.tiles()}
    return {
        "path": str(run.path),
        "complete": run.complete and not missing_replicas(run),
        "provenance": run.provenance,
        "layers": layers,
        "failures": {t: [{"column": j, "status": s, "message": m} for j, s, m in f]
                     for t, f in failures.items()},
        "pending": {t: run.pending(t) for t in run.tiles()},
    }


def render(run: Run) -> str:
    """The per-layer table (schedules x latency, energy) and any failures, as text."""
    lines = [] if run.complete else [f"{run.path}: partial run (interrupted; rerun to resume)"]
    missing = missing_replicas(run)
    if run.complete and missing:
        lines.append(f"{run.path}: incomplete: {missing} of the Monte Carlo replicas its "
                     "configuration records are missing (rerun the same simulate command to "
                     "add them)")
    for name in run.layers():
        tiles = run.layer_tiles(name)
        # A Monte Carlo layer is made of every replica: name the range, not hundreds of tiles.
        shown = (", ".join(tiles) if len(tiles) <= 4
                 else f"{tiles[0]} .. {tiles[-1]}, {len(tiles)} tiles")
        lines.append(f"{name} ({shown}):")
        lines.append(f"  {'schedule':<15}{'k':>6}{'rounds':>8}{'latency':>14}{'energy':>14}"
                     f"{'array':>14}{'ADC':>14}")
        for row in run.layer(name).rows():
            lines.append(f"  {row['schedule']:<15}{row['adc_share']:>6}{row['rounds']:>8}"
                         f"{si(row['latency_s'], 's'):>14}{si(row['energy_j'], 'J'):>14}"
                         f"{si(row['energy_array_j'], 'J'):>14}{si(row['energy_adc_j'], 'J'):>14}")
    for tile in run.tiles():
        pending = run.pending(tile)
        if pending:
            lines.append(f"{tile}: {len(pending)} column(s) not simulated yet")
        failed = run.failures(tile)
        if failed:
            lines.append(f"{tile}: {len(failed)} column(s) not ok:")
            lines += [f"  column {j}: {s}: {m}" for j, s, m in failed]
    return "\n".join(lines)


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def tables(path: Path, as_json: bool) -> None:
    """Print the per-layer schedules of a run file and its failed columns."""
    with open_run(path) as run:
        click.echo(json.dumps(describe(run)) if as_json else render(run))
