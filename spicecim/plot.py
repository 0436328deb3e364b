"""Figures of a run file: functions from an open :class:`~spicecim.store.hdf5.Run` to matplotlib
:class:`~matplotlib.figure.Figure` objects, shared by ``spicecim plot`` and the notebooks.

Figures are made on an Agg canvas without pyplot, so no GUI backend is touched and pyplot's
global figure list never keeps one alive: a figure is freed with its last reference. Values are
read in SI units and scaled only where they are drawn (:func:`display_unit`); the markers
follow the definitions of :mod:`spicecim.measure`.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from spicecim import units
from spicecim.errors import ResultFileError, check
from spicecim.measure import edge_time
from spicecim.netlist.crossbar import SOURCE_GROUPS
from spicecim.store import schema
from spicecim.store.hdf5 import Run

# Energy columns of the column table by source group, the ADC included.
_ENERGY = {f.name.removeprefix("energy_").removesuffix("_j"): f.name
           for f in schema.COLUMN_FIELDS if f.name.startswith("energy_")}
_EDGE, _SETTLE, _THRESHOLD, _BAND = "tab:gray", "tab:red", "tab:green", "tab:orange"


def display_unit(magnitude: float, unit: str) -> tuple[float, str]:
    """Axis scaling with the micro sign, femto at the smallest (see :mod:`spicecim.units`)."""
    return units.display_unit(magnitude, unit, micro="µ", smallest=1e-15)


def format_si(value: float, unit: str) -> str:
    """Figure text for an SI value, with the micro sign; ``missing`` for NaN."""
    return units.format_si(value, unit, micro="µ", smallest=1e-15)


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _peak(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def check_tile(run: Run, tile: str) -> None:
    tiles = run.tiles()
    check(tile in tiles, "tile", tile, f"one of {', '.join(tiles) or '(none: the run is empty)'}")


def check_columns(run: Run, tile: str, columns: list[int]) -> None:
    """Refuse columns outside the tile or without stored waveforms, naming what is valid."""
    check_tile(run, tile)
    table = run.columns(tile)
    n = len(table)
    for j in columns:
        check(0 <= j < n, "column", j, f"a column of {tile} from 0 to {n - 1}")
    stored = set(run.waveform_columns(tile))
    if not stored:
        raise ResultFileError(f"{run.path} stores no waveforms: rerun 'spicecim simulate' with "
                              "--waveforms to plot columns")
    for j in columns:
        if j not in stored:
            raise ResultFileError(f"{run.path} has no waveform of {tile} column {j} (status "
                                  f"{table['status'][j]!r}): pick a column that simulated ok")


def default_columns(run: Run, tile: str) -> list[int]:
    """The first, middle and last column with a stored waveform (fewer if fewer are stored)."""
    check_tile(run, tile)
    stored = run.waveform_columns(tile)
    return sorted({stored[0], stored[len(stored) // 2], stored[-1]}) if stored else []


def waveform_figure(run: Run, tile: str, column: int) -> Figure:
    """One column's activation: the input with its 50 % edge, the readout with the
    ``v_final +- LSB/2`` band, threshold crossing and settle point, and the readout's distance
    from its final value in LSB, where the band decides the settle point."""
    check_columns(run, tile, [column])
    wave, table = run.waveform(tile, column), run.columns(tile)
    t, v_in, v_out = wave["time_s"], wave["v_in_v"], wave["v_out_v"]
    attrs = run.tile_attrs(tile)
    lsb, fraction = attrs.adc_lsb_v, attrs.threshold_fraction
    v_final, settle = float(table["v_final_v"][column]), float(table["settle_s"][column])
    latency, threshold = float(table["latency_s"][column]), float(table["threshold_s"][column])
    edge = edge_time(t, v_in)
    # threshold_s counts from the input edge; the time axis counts from 0.
    crossing = edge + threshold
    ts, t_unit = display_unit(float(t[-1]), "s")
    vs_in, in_unit = display_unit(_peak(v_in), "V")
    vs, v_unit = display_unit(_peak(v_out), "V")

    fig = _figure(8.5, 8.0)
    ax_in, ax_out, ax_err = fig.subplots(3, 1, sharex=True, height_ratios=[1.0, 2.0, 1.5])
    fig.suptitle(f"{run.path.name}: {tile} column {column} ({table['status'][column]}), "
                 f"latency {format_si(latency, 's')}, threshold {format_si(threshold, 's')}")

    ax_in.plot(t / ts, v_in / vs_in, ".-", color="tab:blue", ms=3, label="input (row DAC)")
    ax_in.axhline(0.5 * v_in[-1] / vs_in, color=_EDGE, ls=":", lw=1, label="50 % of final")
    ax_in.set_ylabel(f"input ({in_unit})")

    ax_out.axhspan((v_final - lsb / 2) / vs, (v_final + lsb / 2) / vs, color=_BAND, alpha=0.35,
                   label=f"final ± ½ LSB ({format_si(lsb / 2, 'V')})")
    ax_out.plot(t / ts, v_out / vs, ".-", color="tab:blue", ms=3, label="readout")
    ax_out.axhline(fraction * v_final / vs, color=_THRESHOLD, ls=":", lw=1)
    if math.isfinite(crossing):
        ax_out.plot(crossing / ts, fraction * v_final / vs, "o", color=_THRESHOLD, ms=7,
                    label=f"threshold ({fraction * 100:g} % of final) at +"
                          f"{format_si(crossing - edge, 's')}")
    ax_out.set_ylabel(f"readout ({v_unit})")

    err = (v_out - v_final) / lsb
    ax_err.axhspan(-0.5, 0.5, color=_BAND, alpha=0.35, label="± ½ LSB")
    ax_err.plot(t / ts, err, ".-", color="tab:blue", ms=3, label="readout − final")
    # Wide enough to show the approach, narrow enough that the band stays visible.
    reach = min(8.0, max(2.0, float(np.max(np.abs(err)))))
    ax_err.set_ylim(-1.1 * reach, 1.1 * reach)
    ax_err.set_ylabel("readout − final (LSB)")
    ax_err.set_xlabel(f"time ({t_unit})")

    for ax in (ax_in, ax_out, ax_err):
        # One legend entry for the lines all three panels share, in the readout's panel.
        own = ax is ax_out
        ax.axvline(edge / ts, color=_EDGE, ls="--", lw=1.2,
                   label=f"input edge (50 %) at {format_si(edge, 's')}" if own else None)
        if math.isfinite(settle):
            ax.axvline(settle / ts, color=_SETTLE, ls="--", lw=1.2,
                       label=f"settled at {format_si(settle, 's')}" if own else None)
        ax.grid(alpha=0.3)
    if math.isfinite(settle):
        ax_out.plot(settle / ts, np.interp(settle, t, v_out) / vs, "D", color=_SETTLE, ms=7)
        ax_err.plot(settle / ts, np.interp(settle, t, err), "D", color=_SETTLE, ms=7)
        y = 0.5 * v_final / vs
        ax_out.annotate("", xy=(settle / ts, y), xytext=(edge / ts, y),
                        arrowprops={"arrowstyle": "<->", "color": _SETTLE})
        ax_out.text(0.5 * (edge + settle) / ts, y, f"latency {format_si(settle - edge, 's')}",
                    ha="center", va="bottom", color=_SETTLE)
    ax_in.legend(loc="lower right", fontsize="small")
    ax_out.legend(loc="lower right", fontsize="small")
    ax_err.legend(loc="lower right", fontsize="small")
    return fig


def latency_figure(run: Run, tile: str) -> Figure:
    """Latency over the columns of a tile: a heat strip and, below it, latency and threshold
    time per column; columns that did not end ``ok`` are grey in the strip and crossed."""
    check_tile(run, tile)
    table = run.columns(tile)
    columns, ok = table["column"], table["status"] == "ok"
    latency = np.where(ok, table["latency_s"], np.nan)
    threshold = np.where(ok, table["threshold_s"], np.nan)
    scale, unit = display_unit(_peak(latency), "s")

    fig = _figure(9.0, 4.8)
    heat, line = fig.subplots(2, 1, sharex=True, height_ratios=[1.0, 3.0])
    title = f"{run.path.name}: {tile}, latency of {int(ok.sum())}/{len(columns)} ok columns"
    if ok.any():
        title += (f" (median {format_si(float(np.nanmedian(latency)), 's')}, "
                  f"max {format_si(float(np.nanmax(latency)), 's')})")
    fig.suptitle(title)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="lightgrey")
    image = heat.imshow(np.ma.masked_invalid(latency / scale)[np.newaxis, :], aspect="auto",
                        cmap=cmap, interpolation="nearest",
                        extent=(-0.5, len(columns) - 0.5, 0.5, -0.5))
    heat.set_yticks([])
    fig.colorbar(image, ax=[heat, line], label=f"latency ({unit})")

    line.plot(columns, latency / scale, ".-", label="latency (edge to within ½ LSB)")
    line.plot(columns, threshold / scale, ".-", alpha=0.8, label="threshold time")
    if not ok.all():
        line.plot(columns[~ok], np.zeros(int((~ok).sum())), "x", color="tab:red", ms=8,
                  clip_on=False, label="not ok (failed, unsettled or pending)")
    line.set_ylim(bottom=min(0.0, line.get_ylim()[0]))
    line.set_xlabel("column")
    line.set_ylabel(f"time from input edge ({unit})")
    line.grid(alpha=0.3)
    line.legend(loc="lower right", fontsize="small")
    return fig


def energy_figure(run: Run, tile: str) -> Figure:
    """Energy by source: the circuit's sources per column (stacked), and the tile's totals per
    part with the sample-and-hold clocks and ADC conversions, on a log axis (the parts span
    decades)."""
    check_tile(run, tile)
    table = run.columns(tile)
    columns, ok = table["column"], table["status"] == "ok"
    per_source = {g: np.where(ok, table[_ENERGY[g]], 0.0) for g in SOURCE_GROUPS}
    scale, unit = display_unit(_peak(np.sum(list(per_source.values()), axis=0)), "J")

    fig = _figure(11.0, 4.5)
    stacked, totals = fig.subplots(1, 2, width_ratios=[2.0, 1.0])
    fig.suptitle(f"{run.path.name}: {tile}, energy by source over each activation window "
                 f"({int(ok.sum())}/{len(columns)} ok columns)")
    bottom = np.zeros(len(columns))
    for g, energy in per_source.items():
        stacked.bar(columns, energy / scale, bottom=bottom, width=0.85, label=g)
        bottom += energy / scale
    if not ok.all():
        stacked.plot(columns[~ok], np.zeros(int((~ok).sum())), "x", color="tab:red", ms=8,
                     clip_on=False, label="not ok (no energy)")
    stacked.set_xlabel("column")
    stacked.set_ylabel(f"energy ({unit})")
    stacked.set_title("circuit sources per column", fontsize="medium")
    stacked.legend(fontsize="small")
    stacked.grid(alpha=0.3, axis="y")

    names = [*SOURCE_GROUPS, *(g for g in _ENERGY if g not in SOURCE_GROUPS)]
    sums = np.array([float(np.sum(np.where(ok, table[_ENERGY[g]], 0.0))) for g in names])
    positive = sums > 0
    totals.barh(np.flatnonzero(positive), sums[positive], color="tab:purple")
    totals.set_xscale("log")
    totals.set_yticks(range(len(names)), names)
    totals.invert_yaxis()
    if positive.any():
        totals.set_xlim(sums[positive].min() / 10, sums[positive].max() * 1e3)
    for k, value in enumerate(sums):
        totals.annotate(format_si(value, "J") if value > 0 else "0 J", (1, k),
                        xycoords=("axes fraction", "data"), xytext=(-4, 0),
                        textcoords="offset points", ha="right", va="center")
    totals.set_xlabel("tile total (J, log scale)")
    totals.set_title("tile totals by source (ok columns)", fontsize="medium")
    totals.grid(alpha=0.3, axis="x")
    return fig


def schedule_figure(run: Run, layer: str) -> Figure:
    """A layer's schedules under each row policy: latency (log axis: serialized is ~columns
    conversions longer than fully parallel) beside the schedule table."""
    layers = run.layers()
    check(layer in layers, "layer", layer, f"one of {', '.join(layers) or '(none)'}")
    table = run.layer(layer)
    names = [f"{s} ({p})" for s, p in zip(table["schedule"], table["policy"], strict=True)]
    latency = table["latency_s"]

    fig = _figure(11.0, 3.6)
    bars, text = fig.subplots(1, 2, width_ratios=[1.0, 2.2])
    fig.suptitle(f"{run.path.name}: {layer} ({', '.join(run.layer_tiles(layer))}), schedules")
    finite = np.isfinite(latency)
    bars.set_xticks(range(len(names)), [n.replace("_", "\n").replace(" ", "\n") for n in names])
    bars.set_xlim(-0.6, len(names) - 0.4)
    if finite.any():
        bars.bar(np.flatnonzero(finite), latency[finite], color="tab:blue")
        bars.set_yscale("log")
        bars.set_ylim(latency[finite].min() / 3, latency[finite].max() * 5)
        for k in np.flatnonzero(finite):
            bars.annotate(format_si(float(latency[k]), "s"), (k, latency[k]), xytext=(0, 2),
                          textcoords="offset points", ha="center", va="bottom",
                          fontsize="small")
    else:
        bars.set_yticks([])
        bars.text(0.5, 0.5, "latency missing:\na column did not end ok", ha="center",
                  va="center", transform=bars.transAxes)
    bars.set_ylabel("layer latency (s, log scale)")
    bars.grid(alpha=0.3, axis="y")

    text.axis("off")
    header = ["schedule (rows)", "k", "rounds", "latency", "array", "front end", "ADC",
              "total energy"]
    array = table["energy_dac_j"] + table["energy_array_j"]
    frontend = table["energy_frontend_j"] + table["energy_sh_j"]
    cells = [[names[k], table["adc_share"][k], table["rounds"][k], format_si(latency[k], "s"),
              format_si(array[k], "J"), format_si(frontend[k], "J"),
              format_si(table["energy_adc_j"][k], "J"), format_si(table["energy_j"][k], "J")]
             for k in range(len(table))]
    grid = text.table(cellText=cells, colLabels=header, loc="center", cellLoc="center")
    grid.auto_set_font_size(False)
    grid.set_fontsize(9)
    grid.scale(1.0, 1.5)
    return fig


def run_figures(run: Run, tile: str, columns: list[int]) -> dict[str, Figure]:
    """Every figure of a tile by file stem: each column's waveforms, latency, energy and the
    schedules of every layer the tile belongs to."""
    check_columns(run, tile, columns)
    figures = {f"{tile}_column{j}_waveform": waveform_figure(run, tile, j) for j in columns}
    figures[f"{tile}_latency"] = latency_figure(run, tile)
    figures[f"{tile}_energy"] = energy_figure(run, tile)
    for layer in run.layers():
        if tile in run.layer_tiles(layer):
            figures[f"{layer}_schedules"] = schedule_figure(run, layer)
    return figures
