"""``spicecim acam``: the 6T2M analog CAM's transfer curve, array searches and function maps."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path
from typing import TypedDict

import click

from spicecim.acam.converter import (
    FUNCTIONS,
    MAX_BITS,
    MAX_INPUT,
    function_map,
    program_function,
)
from spicecim.acam.netlist import DEVICES, T_EVAL_MAX_S, AcamArray, AcamCell, acam_cell
from spicecim.acam.search import (
    SEARCH_CASES,
    SENSE_TIMES_S,
    Programmer,
    SearchReport,
    check_intervals,
    shortest_sense_time,
    simulate_search,
    transfer_curve,
    write_search,
)
from spicecim.acam.transfer import (
    MAX_TRANSFER_POINTS,
    TRANSFER_POINTS,
    measure_transfer,
    reusable_transfer,
    save_transfer,
)
from spicecim.cli.limits import check_acam_search
from spicecim.cli.options import FINITE, Finite, check_output
from spicecim.cli.program import interrupted_exit
from spicecim.cost.duration import DURATION_LIMIT_S
from spicecim.cost.mapping import TileGeometry
from spicecim.errors import SpecError
from spicecim.models.presets import NERF_PRESETS, preset_mlp
from spicecim.netlist.spec import default_spec
from spicecim.netlist.weights import default_mapping
from spicecim.report.converters import compare_converters
from spicecim.sim.executors import local_executor, stopping
from spicecim.sim.ngspice import NgspiceSession
from spicecim.store.runs import beside


def _cell(device: str, t_eval: float | None) -> AcamCell:
    """The cell file's cell, sensed at ``t_eval`` (None: the file's) if it lies in the accepted
    range: from the precharge release edge's rise time to :data:`T_EVAL_MAX_S`."""
    cell = acam_cell(device=device)
    if t_eval is None:
        return cell
    if not cell.rise_s <= t_eval <= T_EVAL_MAX_S:
        raise SpecError(f"--t-eval {t_eval:g} is invalid: expected {cell.rise_s:g} to "
                        f"{T_EVAL_MAX_S:g} s (from the precharge release edge's rise time to "
                        "a microsecond), or 'auto' with acam simulate")
    return dataclasses.replace(cell, t_eval_s=t_eval)


class _FunctionRow(TypedDict):
    """One row of a function map, as ``function --json`` prints it."""

    x: list[float]
    code: int
    y: float
    dl_v: list[float]
    g_lo_s: float
    g_hi_s: float


def _seconds(text: str | None) -> float | None:
    try:
        return None if text is None else FINITE.convert(text, None, None)
    except click.BadParameter as exc:
        raise SpecError(f"--t-eval {text!r} is invalid: expected seconds up to "
                        f"{T_EVAL_MAX_S:g} or 'auto'") from exc


def _interval(text: str, vdd_v: float) -> tuple[float, float]:
    """A --check interval, within the data line's 0 to ``vdd_v`` (before any simulation)."""
    try:
        lo, hi = (FINITE.convert(part, None, None) for part in text.split(":"))
    except (ValueError, click.BadParameter) as exc:
        raise SpecError(f"--check {text!r} is invalid: expected LOW:HIGH in volts") from exc
    if not lo < hi:
        raise SpecError(f"interval [{lo}, {hi}] V is invalid: expected a non-empty interval with "
                        "low < high")
    if not 0 <= lo < hi <= vdd_v:
        raise SpecError(f"--check {text!r} is invalid: expected LOW:HIGH within the data line's "
                        f"0 to {vdd_v:g} V")
    return lo, hi


_COUNT = click.IntRange(min=1)
_INPUT = Finite(min=-MAX_INPUT, max=MAX_INPUT)
_device = click.option("--device", type=click.Choice(DEVICES), default="linear", show_default=True,
                       help="Memristors as linear resistors or as the HfOx memristor subcircuit.")
_t_eval = click.option("--t-eval", type=FINITE, default=None,
                       help="Sense time after precharge release (s); default from the cell file.")
_as_json = click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
_overwrite = click.option("--overwrite", is_flag=True, help="Replace an existing --out.")


@click.group()
def acam() -> None:
    """Analog CAM (6T2M): transfer curve, search latency/energy, ADC-free function maps."""


@acam.command()
@click.option("--cells", type=_COUNT, default=64, show_default=True,
              help="Cells per row (match line).")
@click.option("--rows", type=_COUNT, default=16, show_default=True, help="Rows (match lines).")
@_device
@click.option("--t-eval", default=None,
              help="Sense time after precharge release (s), default from the cell file; 'auto': "
                   "the shortest of 0.125..16 ns (octaves) at which the searches work.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("runs/acam.h5"), show_default=True, help="HDF5 result file.")
@click.option("--yes", is_flag=True, help="Run searches estimated to take over "
              f"{DURATION_LIMIT_S / 60:.0f} min (else refused with the estimate).")
@_overwrite
@_as_json
def simulate(cells: int, rows: int, device: str, t_eval: str | None, out: Path, yes: bool,
             overwrite: bool, as_json: bool) -> None:
    """Worst-case search latency and energy of an array, simulated in ngspice."""
    check_output(out, overwrite)
    auto = t_eval == "auto"
    check_acam_search(rows, cells, len(SEARCH_CASES), len(SENSE_TIMES_S) if auto else 1, yes)
    cell = _cell(device, None if auto else _seconds(t_eval))
    session = NgspiceSession()
    kept = beside(out, KEPT_SUFFIX)
    report = _search(AcamArray(rows=rows, cells=cells, cell=cell), auto, session, kept)
    array = report.array
    write_search(out, report, command=" ".join(sys.argv), ngspice_version=session.version())
    shutil.rmtree(kept, ignore_errors=True)  # in the run file now
    summary = {**report.summary(), "out": str(out)}
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(f"{rows} rows x {cells} cells ({device}), interval "
               f"[{report.interval_v[0]:.4f}, {report.interval_v[1]:.4f}] V, "
               f"sense at {array.cell.t_eval_s * 1e12:.0f} ps")
    for case, figures in summary["cases"].items():
        what = "every cell matching" if case == "match" else f"one cell mismatching ({case})"
        latency = "" if case == "match" else f"latency {figures['latency_s'] * 1e12:.1f} ps, "
        click.echo(f"  {what}: {latency}energy per search {figures['energy_j'] * 1e12:.3f} pJ")
    click.echo(f"wrote {out}" + ("" if report.ok else f" (WARNING: {report.problem})"))


KEPT_SUFFIX = ".searches"
"""``<out>.searches``: the folder where a stopped ``acam simulate`` keeps each finished netlist's
searches until the run file holds them (a rerun reads them back)."""


def _search(array: AcamArray, auto: bool, session: NgspiceSession, kept: Path) -> SearchReport:
    """The searches, their netlists simulated in a worker process: this one, waiting on it,
    stops within moments of a Ctrl-C or SIGTERM (one line, every finished netlist kept), where
    ngspice running here would hold the signal until its netlist ends, minutes on a large
    array."""
    try:
        with stopping(local_executor(1)) as pool:
            if auto:
                return shortest_sense_time(array, session=session, executor=pool, kept=kept)
            return simulate_search(array, session=session, executor=pool, kept=kept)
    except KeyboardInterrupt as exc:
        count = len(list(kept.glob("*.npz"))) if kept.is_dir() else 0
        click.echo(f"interrupted: {count} finished search netlist(s) kept in {kept}; rerun the "
                   "same command to resume", err=True)
        sys.exit(interrupted_exit(exc))


@acam.command()
@_device
@click.option("--cells", type=_COUNT, default=1, show_default=True,
              help="Cells per row: their match-line capacitance sets the trip current.")
@_t_eval
@click.option("--points", type=click.IntRange(8, MAX_TRANSFER_POINTS), default=TRANSFER_POINTS,
              show_default=True,
              help="Conductances in the sweep (log-spaced over the cell's range).")
@click.option("--check", "checks", multiple=True, metavar="LOW:HIGH",
              help="Program this interval (V) into a one-cell row, sweep it in ngspice and report "
                   "the bound errors.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also store the measured table (.npz); read back instead when it holds this "
                   "cell's table on this grid.")
@_overwrite
@_as_json
def transfer(device: str, cells: int, t_eval: float | None, points: int, checks: tuple[str, ...],
             out: Path | None, overwrite: bool, as_json: bool) -> None:
    """The cell's measured transfer curve: bounds against memristor conductance."""
    array = AcamArray(rows=1, cells=cells, cell=_cell(device, t_eval))
    intervals = [_interval(text, array.cell.vdd_v) for text in checks]
    reused = out is not None and out.is_file() and reusable_transfer(out, array.cell,
                                                                      points=points)
    if out is not None:
        check_output(out, overwrite or reused)
    session = NgspiceSession()
    # another table at --out (--overwrite) is measured anew and replaced, never read
    cache = out if reused or (out is not None and not out.exists()) else None
    table = measure_transfer(array.cell, points=points, session=session, cache=cache)
    if out is not None and cache is None:
        save_transfer(table, out)
    prog = Programmer(table, array)
    w = prog.window
    curve = transfer_curve(prog)
    results = check_intervals(prog, intervals, session=session)
    summary = {
        "device": device,
        "cells": cells,
        "i_trip_a": array.i_trip_a,
        "window_v": {"lower": [w.lo_min_v, w.lo_max_v], "upper": [w.hi_min_v, w.hi_max_v]},
        "curve": curve,
        "checks": results,
    }
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(f"transfer of the 6T2M cell ({device}), trip current {array.i_trip_a:.3g} A "
               f"({cells} cells per row): lower bound {w.lo_min_v:.4f}..{w.lo_max_v:.4f} V, "
               f"upper bound {w.hi_min_v:.4f}..{w.hi_max_v:.4f} V")
    click.echo("      G (uS)   lower (V)   upper (V)")
    for row in curve:
        click.echo(f"  {row['g_s'] * 1e6:10.2f}  {row['lower_v']:10.4f}  {row['upper_v']:10.4f}")
    for c in results:
        click.echo(f"  [{c['interval_v'][0]}, {c['interval_v'][1]}] V: bound errors "
                   f"{c['error_mv'][0]:+.4f} / {c['error_mv'][1]:+.4f} mV, match inside "
                   f"{c['match_inside']}, mismatch outside {c['mismatch_outside']}")


@acam.command("versus")
@click.option("--model", type=click.Choice(NERF_PRESETS), default="nerf-4x256", show_default=True,
              help="The model whose conversions per sample are counted.")
@_as_json
def versus(model: str, as_json: bool) -> None:
    """The ACAM converter against the default tile's ADC: energy and latency per conversion,
    per sample of MODEL, and which wins (the 8-bit ACAM takes minutes in ngspice)."""
    spec = default_spec(256, 256)
    geometry = TileGeometry(spec.rows, spec.cols, default_mapping(spec).scheme)
    c = compare_converters(preset_mlp(model), geometry, spec.readout.adc)
    if as_json:
        click.echo(json.dumps({**dataclasses.asdict(c), "answer": c.answer()}))
        return
    click.echo(f"{c.bits}-bit conversion, {model} on 256x256 tiles: {c.conversions} "
               "conversions per sample")
    for name, e, t in (("ACAM 6T2M (ngspice)", c.acam_energy_j, c.acam_latency_s),
                       ("ADC + reference", c.adc_energy_j, c.adc_latency_s)):
        click.echo(f"  {name:<20}{e * 1e12:>9.4g} pJ {t * 1e9:>8.4g} ns  per sample "
                   f"{e * c.conversions * 1e9:.4g} nJ")
    click.echo(c.answer())


@acam.command("function")
@click.option("--name", type=click.Choice(tuple(FUNCTIONS)), default="sigmoid", show_default=True)
@click.option("--bits", type=click.IntRange(1, MAX_BITS), default=4, show_default=True,
              help="Output code bits.")
@click.option("--x-min", type=_INPUT, default=-4.0, show_default=True, help="Input range start.")
@click.option("--x-max", type=_INPUT, default=4.0, show_default=True, help="Input range end.")
@_device
@_as_json
def function_(name: str, bits: int, x_min: float, x_max: float, device: str, as_json: bool) -> None:
    """Rows (input interval -> output code) of a quantised function and their conductances."""
    program = program_function(function_map(name, bits, x_min, x_max), _cell(device, None))
    f = program.fmap
    rows: list[_FunctionRow] = [
        {"x": [float(f.x_lo[k]), float(f.x_hi[k])], "code": int(f.code[k]),
         "y": float(f.value(f.code[k])),
         "dl_v": [float(program.v_lo_v[k]), float(program.v_hi_v[k])],
         "g_lo_s": float(program.g_lo_s[k]), "g_hi_s": float(program.g_hi_s[k])}
        for k in range(f.rows)]
    if as_json:
        click.echo(json.dumps({"function": name, "bits": bits, "v_range": [program.v_min_v,
                                                                          program.v_max_v],
                               "rows": rows}))
        return
    click.echo(f"{name} on [{x_min}, {x_max}], {bits} bits: {f.rows} rows, data line "
               f"{program.v_min_v:.4f}..{program.v_max_v:.4f} V")
    for r in rows:
        click.echo(f"  x [{r['x'][0]:+.4f}, {r['x'][1]:+.4f}] -> code {r['code']:3d} "
                   f"(y {r['y']:.4g})  G_lo {r['g_lo_s'] * 1e6:7.2f} uS  "
                   f"G_hi {r['g_hi_s'] * 1e6:7.2f} uS")
