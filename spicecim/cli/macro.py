"""``spicecim macro NAME|FILE``: a published macro rebuilt, simulated, and reported as its
paper does (access time and TOPS/W at its precision, energy by part, against the measured)."""

from __future__ import annotations

from pathlib import Path

import click

from spicecim.cli.paths import check_input_file
from spicecim.macros import load
from spicecim.macros.reproduce import SIM_COLUMNS, reproduce


@click.command("macro")
@click.argument("macro")
@click.option("--columns", type=click.IntRange(1, 64), default=SIM_COLUMNS, show_default=True,
              help="Columns of one read to simulate (each stands for the read's others).")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the conductances and inputs drawn over the macro's ranges.")
def macro(macro: str, columns: int, seed: int) -> None:
    """Reproduce a published macro: a shipped NAME or a description FILE (.toml).

    Shipped: hung2021, hung2023, wan2022 (see docs/validation.md)."""
    if Path(macro).suffix == ".toml" or Path(macro).exists():  # a FIFO would block the read
        check_input_file(Path(macro), "MACRO")
    desc = load(macro)
    result = reproduce(desc, columns=columns, seed=seed)
    click.echo(f"{desc.title}\n  {desc.reference}")
    click.echo(f"  read: {desc.rows_per_read.value} rows x {desc.cols_per_read.value} columns, "
               f"{desc.input_cycles.value} read(s) per input, {desc.columns_per_weight.value} "
               f"column(s) per weight; precision {desc.measured_precision.value}")
    click.echo(f"  {'':<22}{'predicted':>12}{'measured':>12}{'ratio':>8}")
    click.echo(f"  {'access time (ns)':<22}{result.access_time_s * 1e9:>12.4g}"
               f"{desc.measured_access_time_s.number * 1e9:>12.4g}"
               f"{result.access_ratio:>8.2f}")
    click.echo(f"  {'TOPS/W':<22}{result.tops_per_w:>12.4g}"
               f"{desc.measured_tops_per_w.number:>12.4g}{result.tops_ratio:>8.2f}")
    click.echo(f"  energy of one operation at its precision ({result.ops} ops): "
               f"{result.total_energy_j * 1e12:.4g} pJ")
    for part, e in result.energy_j.items():
        click.echo(f"    {part:<14}{e * 1e12:>10.4g} pJ {e / result.total_energy_j:>6.1%}")
    if not result.within:
        click.echo(f"  outside +-30 %: not modelled: {desc.unmodelled}")
    click.echo(f"  assumed (no stored source): {', '.join(desc.assumed) or 'none'}")



