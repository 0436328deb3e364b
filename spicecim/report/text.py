"""The text and JSON that ``spicecim tables`` prints of a file: a run's (or partial run's)
per-layer schedules, its readout and failures, a co-simulation's per-layer model table, an ACAM
search file's cases, an evaluation report's totals, a nodal solve's shapes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np

from spicecim.cost import cosim
from spicecim.cost.schedule import DEFAULT_POLICY, stored_float
from spicecim.devices.ranging import bits_given_up
from spicecim.devices.readout import bias_cause
from spicecim.measure import TIME_CONSTANTS, latency_breakdown, tops_per_w
from spicecim.store import kinds, runs, schema
from spicecim.store.hdf5 import Run, open_run
from spicecim.store.lock import writer
from spicecim.units import format_si


def si(value: float, unit: str, digits: int = 4) -> str:
    """Table text in SI units, femto at the smallest."""
    return format_si(value, unit, smallest=1e-15, digits=digits)


_LAYER_FIGURES: dict[str, tuple[str | tuple[str, ...], str]] = {
    "latency": ("latency_s", "s"), "energy": ("energy_j", "J"),
    "DAC": ("energy_dac_j", "J"), "row bias": ("energy_rowbias_j", "J"),
    "array": ("energy_array_j", "J"), "word line": ("energy_wordline_j", "J"),
    "front end": (("energy_frontend_j", "energy_sh_j"), "J"),
    "ADC": ("energy_adc_j", "J"), "ADC ref": ("energy_adcref_j", "J")}
"""The layer table's figures: column title -> (the field, or the fields added up; unit)."""


def _figure(row: dict, key: str | tuple[str, ...]) -> float:
    return row[key] if isinstance(key, str) else sum(row[k] for k in key)


def layer_digits(layers: list[list[dict]], most: int = 12) -> dict[str, int]:
    """Per figure of the layer table, the significant digits (4 at least) that print distinct
    values distinct across ``layers`` (each a list of schedule rows, the same schedules in the
    same order): a Monte Carlo spread narrower than four digits still shows p5 < p50 < p95."""
    digits = {}
    for name, (key, unit) in _LAYER_FIGURES.items():
        columns = [[_figure(rows[i], key) for rows in layers] for i in range(len(layers[0]))]
        d = 4
        while d < most and any(len({si(v, unit, d) for v in c}) < len(set(c)) for c in columns):
            d += 1
        digits[name] = d
    return digits


def column_counts(run: Run) -> tuple[int, int]:
    """(columns done, columns in all) over every tile of ``run``."""
    total = sum(len(run.columns(t)) for t in run.tiles())
    return total - sum(len(run.pending(t)) for t in run.tiles()), total


def _partial_line(run: Run) -> str:
    done, total = column_counts(run)
    holder = writer(run.output)
    state = ("interrupted; rerun the same command to resume" if holder is None
             else f"running: being written by {holder}")
    return f"{run.path}: partial run, {done} of {total} columns done ({state})"


def _efficiency_titles(attrs: schema.TileAttrs | None) -> str:
    return f"{'TOPS/W':>9}{'ADC/array':>11}" if attrs is not None and attrs.ops else ""


def _efficiency(attrs: schema.TileAttrs | None, row: dict) -> str:
    """A schedule's operations per joule (TOPS/W) and its ADCs' area over the array's (none
    for a layer of several tiles, or a run that did not store its operations)."""
    if attrs is None or not attrs.ops:
        return ""
    tops_w = tops_per_w(attrs.ops, float(row["energy_j"]))
    adcs = -(-int(row["conversions"]) // int(row["rounds"]))
    adc_area = attrs.adc_area_m2
    ratio = adcs * adc_area / attrs.array_area_m2
    return f"{tops_w:>9.3g}" + (f"{ratio:>10.3g}x" if adc_area > 0 else f"{'?':>11}")


def describe(run: Run) -> dict:
    """Everything ``tables`` prints, as plain data."""
    layers = {name: run.layer(name).rows() for name in run.layers()}
    failures = {tile: run.failures(tile) for tile in run.tiles()}
    done, total = column_counts(run)
    return {
        "path": str(run.path),
        "complete": run.complete,
        "columns_done": done,
        "columns_total": total,
        "provenance": run.provenance,
        "tiles": {t: run.tile_attrs(t).to_dict() for t in run.tiles()},
        "layers": layers,
        "failures": {t: [{"column": j, "status": s, "message": m} for j, s, m in f]
                     for t, f in failures.items()},
        "pending": {t: run.pending(t) for t in run.tiles()},
    }


def column_breakdown(run: Run, tile: str) -> dict:
    """Each column's latency and the time constants that set it, and the layer's summary."""
    t = run.columns(tile)
    taus = {n: t[f"tau_{n}_s"] for n in TIME_CONSTANTS}
    summary = latency_breakdown(t["latency_s"], taus)
    columns = [{"column": int(t["column"][k]), "status": str(t["status"][k]),
                "latency_s": float(t["latency_s"][k]), "set_by": summary["set_by"][k],
                **{f"tau_{n}_s": float(taus[n][k]) for n in TIME_CONSTANTS}}
               for k in range(len(t))]
    return {"columns": columns,
            "layer": {k: v for k, v in summary.items() if k != "set_by"}}


def _readout_line(run: Run, tile: str) -> str:
    a = run.tile_attrs(tile)
    if not a.front_end:
        return ""
    lines = [f"{tile}: {a.front_end} front end; inputs (sized from the tile, not measured): "
             f"ADC {a.adc_bits} bit over {si(a.adc_full_scale_v, 'V')} (LSB "
             f"{si(a.adc_lsb_v, 'V')}), sampling capacitor {si(a.c_s_f, 'F')} (kT/C "
             f"{si(a.noise_ktc_v, 'V')} rms)" if not math.isnan(a.noise_ktc_v) else
             f"{tile}: {a.front_end} front end, ADC {a.adc_bits} bit over "
             f"{si(a.adc_full_scale_v, 'V')} (LSB {si(a.adc_lsb_v, 'V')}), sampling "
             f"capacitor {si(a.c_s_f, 'F')}, kT/C noise {si(a.noise_v, 'V')} rms"]
    if not math.isnan(a.adc_range_a):
        kind = ("the accuracy pass's: calibrated on the workload, raised to the front end's "
                "noise floor where it would not settle"
                if a.adc_range_a < a.i_fs_a else "the worst-case column current")
        lines.append(f"{tile}: ADC range sized for {si(a.adc_range_a, 'A')} of column current "
                     f"({kind}); the worst case, every input at full scale, is "
                     f"{a.i_fs_a / a.adc_range_a:.3g}x it")
    if not math.isnan(a.enob):
        lines.append(f"{tile}: sampled noise of the front end {si(a.noise_v, 'V')} rms "
                     f"(amplifier, feedback, cells, switch): SNR {a.snr_db:.1f} dB, "
                     f"{a.enob:.2f} effective bits")
    if math.isfinite(a.amp_i_q_a):
        cause = bias_cause(a.amp_i_out_a, a.adc_range_a, a.amp_settle_s, a.amp_settle_window_s)
        lines.append(f"{tile}: amplifier sized for its load and a {si(a.amp_settle_window_s, 's')}"
                     f" settling window: a full-scale step settles to half an LSB in "
                     f"{si(a.amp_settle_s, 's')} (closed form); bias set by the {cause}")
        lines.append(f"{tile}: amplifier: bias {si(a.amp_i_q_a, 'A')} per "
                     f"column (output stage {si(a.amp_i_out_a, 'A')}), GBW "
                     f"{si(a.amp_gbw_hz, 'Hz')}, phase margin "
                     f"{a.amp_phase_margin_deg:.1f} deg, output resistance "
                     f"{si(a.amp_r_out_ohm, 'ohm')}, slew {si(a.amp_slew_v_per_s, 'V/s')}, "
                     f"gain error {a.amp_gain_error_lsb:.2f} LSB")
    if not math.isnan(a.row_bias_w):
        lines.append(f"{tile}: periphery (sized from the tile, not simulated): row buffer bias "
                     f"{si(a.row_buffer_i_q_a, 'A')} ({si(a.row_bias_w, 'W')} at the rows' "
                     f"rail) per driven row, word line {si(a.wordline_e_j, 'J')} per row and "
                     f"read, DAC {si(a.dac_e_conv_j, 'J')} and ADC reference "
                     f"{si(a.adc_ref_e_conv_j, 'J')} per conversion")
    return "\n".join(lines)


_MODEL_FIGURES = (("mean", "latency_mean_s", "s"), ("max", "latency_max_s", "s"),
                  ("p95", "latency_p95_s", "s"), ("energy", "energy_mean_j", "J"),
                  ("DAC", "energy_dac_mean_j", "J"), ("row bias", "energy_rowbias_mean_j", "J"),
                  ("array", "energy_array_mean_j", "J"),
                  ("word line", "energy_wordline_mean_j", "J"),
                  ("front end", "energy_frontend_mean_j", "J"), ("ADC", "energy_adc_mean_j", "J"),
                  ("ADC ref", "energy_adcref_mean_j", "J"))
"""The model table's figures after its layer and schedule: (column title, field, unit)."""


def render_model(run: Run, model: dict) -> str:
    """A co-simulation's per-layer table of the model, and any failed columns."""
    if not run.complete:  # the layer tables are computed once every column is in
        return (f"{_partial_line(run)}\nmodel {model['name']} ({model['weights']}): its "
                "per-layer tables appear when the co-simulation completes")
    lines = [f"model {model['name']} ({model['weights']}), co-simulated on "
             f"{model['inputs']}; rows and front ends biased until the last conversion "
             f"({DEFAULT_POLICY}: the sample-and-hold is not simulated); latency over the "
             "samples, energy their mean:"]
    lines.append(f"  {'layer':<12}{'schedule':<15}"
                 + "".join(f"{title:>11}" for title, _, _ in _MODEL_FIGURES))
    for r in cosim.model_table(run, DEFAULT_POLICY):
        where = f"{run.path}: layer {r['layer']!r}"
        cells = [si(stored_float(r, key, where), unit) for _, key, unit in _MODEL_FIGURES]
        lines.append(f"  {r['layer']:<12}{r['schedule']:<15}" + "".join(f"{c:>11}" for c in cells))
    lines += _range_lines(run)
    failed = [(tile, j, s) for tile in run.tiles() for j, s, _ in run.failures(tile)]
    if failed:
        lines.append(f"{len(failed)} column(s) not ok: "
                     + ", ".join(f"{tile}:{j} ({s})" for tile, j, s in failed[:20])
                     + (" ..." if len(failed) > 20 else ""))
    return "\n".join(lines)


def _range_lines(run: Run) -> list[str]:
    """Per co-simulated layer, the range its tiles' ADCs are sized for over their worst case
    (the range's use) and what that range asks of the amplifier."""
    by_layer: dict[str, list[schema.TileAttrs]] = {}
    for tile in run.tiles():
        by_layer.setdefault(tile.split(".")[0], []).append(run.tile_attrs(tile))
    ranges = (run.model or {}).get(cosim.RANGES, {})
    lines = ["ADC range per layer (each tile's front end sized for the range the accuracy pass "
             "uses on it: the workload's calibrated range, raised to the noise floor where the "
             "front end would not settle in its window; use = range over the tile's worst case):"]
    for layer, attrs in by_layer.items():
        def span(values: list[float], unit: str) -> str:
            lo, hi = min(values), max(values)
            return si(lo, unit) if lo == hi else f"{si(lo, unit)}-{si(hi, unit)}"

        use = [a.adc_range_a / a.i_fs_a for a in attrs]
        causes = sorted({bias_cause(a.amp_i_out_a, a.adc_range_a, a.amp_settle_s,
                                    a.amp_settle_window_s) for a in attrs})
        lines.append(f"  {layer:<12} use {min(use):.1%}-{max(use):.1%}"
                     f"{_floor_words(layer, ranges)}; amplifier bias "
                     f"{span([a.amp_i_q_a for a in attrs], 'A')} per column, settles in "
                     f"{span([a.amp_settle_s for a in attrs], 's')} (window "
                     f"{span([a.amp_settle_window_s for a in attrs], 's')}); "
                     f"bias set by {', '.join(causes)}")
    return lines


def _floor_words(layer: str, ranges: dict) -> str:
    """What set a layer's ranges, from the co-simulation's record (:data:`cosim.RANGES`,
    ``{tile group: [calibrated, range]}``): the tiles the noise floor raised and the bits of the
    ADC it leaves unused over the workload's range ('' for a run without the record)."""
    pairs = [v for g, v in ranges.items() if g.split(".")[0] == layer]
    if not pairs:
        return ""
    lost = [bits_given_up(i_range, i_cal) for i_cal, i_range in pairs]
    return (f"; noise floor on {sum(1 for b in lost if b > 0)} of {len(pairs)} tiles, "
            f"{max(lost):.2f} bits of the ADC above the workload's range at most")


def render(run: Run) -> str:
    """The per-layer table (schedules x latency, energy by part) and any failures, as text."""
    model = run.model
    if model is not None:
        return render_model(run, model)
    lines = [] if run.complete else [_partial_line(run)]
    tiles = run.tiles()
    if tiles:
        lines.append(_readout_line(run, tiles[0]))
        if "tau_frontend_s" in run.columns(tiles[0]).data and not run.pending(tiles[0]):
            layer = column_breakdown(run, tiles[0])["layer"]
            shares = ", ".join(f"{n} {100 * s:.0f} %" for n, s in layer["set_by_share"].items()
                               if s > 0)
            lines.append(f"{tiles[0]}: column latency median {si(layer['latency_median_s'], 's')},"
                         f" max {si(layer['latency_max_s'], 's')}; set by (largest time "
                         f"constant, an estimate; --latency-causes K measures it): {shares}")
    tables = {name: run.layer(name).rows() for name in run.layers()}
    same = {len(rows) for rows in tables.values()} == {len(next(iter(tables.values()), []))}
    digits = (layer_digits(list(tables.values())) if tables and same
              else dict.fromkeys(_LAYER_FIGURES, 4))
    width = {n: max(12, d + 8) for n, d in digits.items()}
    for name, rows in tables.items():
        layer_tiles = run.layer_tiles(name)
        # A Monte Carlo layer is made of every replica: name the range, not hundreds of tiles.
        shown = (", ".join(layer_tiles) if len(layer_tiles) <= 4
                 else f"{layer_tiles[0]} .. {layer_tiles[-1]}, {len(layer_tiles)} tiles")
        lines.append(f"{name} ({shown}):")
        attrs = run.tile_attrs(layer_tiles[0]) if len(layer_tiles) == 1 else None
        extra = _efficiency_titles(attrs)
        lines.append(f"  {'schedule':<15}{'rows':<8}{'k':>5}{'rounds':>8}"
                     + "".join(f"{n:>{width[n]}}" for n in _LAYER_FIGURES) + extra)
        for row in rows:
            lines.append(f"  {row['schedule']:<15}{row['policy']:<8}{row['adc_share']:>5}"
                         f"{row['rounds']:>8}"
                         + "".join(f"{si(_figure(row, key), unit, digits[n]):>{width[n]}}"
                                   for n, (key, unit) in _LAYER_FIGURES.items())
                         + _efficiency(attrs, row))
        if attrs is not None and extra:
            lines.append(f"  TOPS/W at the tile's precision ({attrs.precision}); ADC/array: "
                         "the ADCs' area over the array's (> 1: they do not fit under it)")
    if not run.layers():
        lines.append(f"{run.path}: no layer schedules stored (they are made once every column "
                     "of a tile has been simulated)")
    else:
        lines.append("  rows: hold = rows and front ends off once every sample is held (an ideal "
                     "sample-and-hold: its droop, charge injection and charge sharing into a "
                     "shared ADC are not simulated); driven = rows and front ends biased until "
                     "the last conversion, the default for models and macros")
        lines.append("  energy at each part's rail: DAC = the driven rows' conversions; row "
                     "bias = their buffers' quiescent current over the time the rows are on; "
                     "array = what the rows draw from their rail; word line = the driven rows' "
                     "word lines charged once; front end = amplifiers and sample-and-hold "
                     "clocks; ADC ref = the reference buffers")
    for tile in tiles:
        warning = run.tile_attrs(tile).noise_warning
        if warning:
            lines.append(f"{tile}: WARNING: {warning}")
        pending = run.pending(tile)
        if pending:
            lines.append(f"{tile}: {len(pending)} column(s) not simulated yet")
        failed = run.failures(tile)
        if failed:
            lines.append(f"{tile}: {len(failed)} column(s) not ok:")
            lines += [f"  column {j}: {s}: {m}" for j, s, m in failed]
    return "\n".join(line for line in lines if line)


def _group_rows(group: h5py.Group) -> tuple[list[str], list[list[str]], dict[str, list]]:
    """A group's equal-length datasets, each with its unit, as table text and plain data."""
    names = [n for n in group if isinstance(group[n], h5py.Dataset) and group[n].ndim == 1]
    # Read as any run table is (every dataset must carry its unit); kind and fill go unused.
    table = runs.read_table(group, [schema.Field(n, "", "", None) for n in names])
    data = {n: table[n].tolist() for n in names}
    rows = [[_value(data[n][k], table.units[n]) for n in names] for k in range(len(table))]
    return names, rows, data


def _value(value: object, unit: str) -> str:
    if unit == "text":
        return str(value)
    if unit == "1":
        return f"{float(value):.4g}"  # type: ignore[arg-type]
    return si(float(value), unit[1:] if unit.startswith("1/") else unit)  # type: ignore[arg-type]


def _text_table(title: str, names: list[str], rows: list[list[str]]) -> list[str]:
    width = [max([len(n), *(len(r[i]) for r in rows)]) + 2 for i, n in enumerate(names)]
    return [title, "  " + "".join(f"{n:>{w}}" for n, w in zip(names, width, strict=True)),
            *("  " + "".join(f"{v:>{w}}" for v, w in zip(r, width, strict=True)) for r in rows)]


def _other_file(path: Path, kind: str, as_json: bool) -> str:
    """An ACAM search file, an evaluation report or a nodal solve: what it is and its table."""
    with h5py.File(path, "r") as f:
        attrs = {k: v.item() if isinstance(v, np.generic) else v for k, v in f.attrs.items()}
        command = attrs.get(schema.ATTR_COMMAND) or attrs.get("command_line") or ""
        if kind == kinds.SOLVE:
            shapes = {s.name: list(f[s.name].shape) for s in schema.SOLVE_FIELDS}
            info = {"kind": kind, "path": str(path), "spec_hash": attrs[schema.ATTR_SPEC_HASH],
                    "shapes": shapes}
            text = [f"{path}: {kind} ('spicecim solve'), tile spec {info['spec_hash']}: "
                    + ", ".join(f"{n} {tuple(s)}" for n, s in shapes.items())]
        else:
            group = f[schema.ACAM_SEARCH if kind == kinds.ACAM else _REPORT_TOTALS]
            names, rows, data = _group_rows(group)
            info = {"kind": kind, "path": str(path), "attrs": attrs, "table": data}
            what = ("'spicecim acam simulate'" if kind == kinds.ACAM
                    else f"'spicecim evaluate --out' of model {attrs.get('model')!r}")
            text = [f"{path}: {kind} ({what}){f', by: {command}' if command else ''}",
                    *_text_table(f"{group.name.strip('/')}:", names, rows)]
    return json.dumps(info, default=str) if as_json else "\n".join(text)


_REPORT_TOTALS = "/totals"  # spicecim.report.report's table of each schedule's totals


def file_text(path: Path, as_json: bool) -> str:
    """What ``path`` is and its tables (``as_json``: a machine-readable summary)."""
    kind = kinds.identify(path)
    if kind not in (kinds.RUN, kinds.PARTIAL):
        return _other_file(path, kind, as_json)
    with open_run(path) as run:
        return json.dumps({"kind": kind, **describe(run)}) if as_json else render(run)
