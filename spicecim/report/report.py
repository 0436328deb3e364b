"""The evaluation report: one dataclass, and its text, JSON and HDF5 forms.

HDF5 layout (``--out report.h5``; every dataset has a ``units`` attribute)::

    /                 attrs: format, spicecim_version, created_utc, command_line, model
    /report           the JSON form (units "json")
    /layers/<sched>/  name, source (co-simulated or generic tile), latency_s, energy_j,
                      energy_array_j, energy_adc_j, energy_digital_j, conversions: one row
                      per layer
    /totals/          schedule and the Totals fields: one row per schedule
    /accuracy/        output, rel_rms, mean_abs, max_abs, rmse, psnr_db, agreement: one row
                      per model output (psnr_db and agreement NaN where not defined)
    /sweep/           the swept settings and, per output <o>, <o>_rel_rms, <o>_rmse, and
                      <o>_psnr_db / <o>_agreement where defined (label_accuracy with labels,
                      target_rmse with targets):
                      one row per setting
    /baselines/       label, flag, per_sample_s, throughput_per_s, speedup_<sched>
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

import spicecim
from spicecim.analog.scoring import AccuracyResult
from spicecim.cost.schedule import ModelCost, Totals
from spicecim.models.baseline import Baseline, compare_to
from spicecim.store import files, schema
from spicecim.units import format_si as si

REPORT_FORMAT = schema.REPORT_FORMAT
_TOTAL_UNITS = {"sample_latency_s": "s", "sample_energy_j": "J", "ray_latency_s": "s",
                "ray_energy_j": "J", "frame_latency_s": "s", "frame_energy_j": "J",
                "throughput_per_s": "1/s", "pipelined_per_s": "1/s"}


@dataclass(frozen=True, slots=True)
class Report:
    """Everything ``spicecim evaluate`` found. ``schedules`` are the ones shown."""

    model: str
    weights: str
    cost: ModelCost
    table: str | None
    missing: str
    schedules: tuple[str, ...]
    accuracy: AccuracyResult | None
    sweep: tuple[AccuracyResult, ...]
    sweep_axes: tuple[str, ...]
    baselines: tuple[Baseline, ...]
    notes: tuple[str, ...] = ()
    frames: bool = True
    """Whether samples make rays and frames (a NeRF field): the per-ray and per-frame rows."""
    scored_on: str = ""
    """The inputs the accuracy pass scored: a user's file and its rows, or what was drawn."""
    calibrated_on: str = ""
    """The inputs that set the DAC scales, ADC ranges and column gains (never the scored
    rows of a user's file)."""

    def __str__(self) -> str:
        return render(self)

    def totals(self) -> dict[str, Totals]:
        return {s: self.cost.total(s) for s in self.schedules}

    def speedups(self, baseline: Baseline) -> dict[str, float]:
        totals = self.totals()
        return {s: compare_to(baseline, s, totals[s].sample_latency_s,
                              self.cost.workload.replicas).speedup for s in self.schedules}


def render(report: Report) -> str:
    """The report as the text table ``spicecim evaluate`` prints."""
    cost, m = report.cost, report.cost.mapping
    tile = m.tile
    lines = [f"model {report.model} ({report.weights}) on {tile.rows}x{tile.cols} tiles, "
             f"{tile.scheme} weights",
             f"tile figures: {report.table or 'missing: ' + report.missing}",
             f"readout: {cost.readout}",
             f"mapping: {m.arrays} arrays, {m.devices} devices, utilisation "
             f"{100 * m.utilisation:.1f} %; ADCs: " + ", ".join(
                 f"{s} {n}" for s, n in m.adcs(cost.adc_share).items()
                 if s in report.schedules) + f" (adc_shared: {cost.adc_share} columns per ADC)",
             ""]
    errors = dict(report.accuracy.layers) if report.accuracy else {}
    head = f"{'layer':<12}{'in':>5}{'out':>5}{'arrays':>7}{'reads':>6}"
    for s in report.schedules:
        head += f"{s + ' latency':>24}{'energy':>12}"
    lines.append(head + (f"{'error':>9}" if errors else "") + "  figures")
    for lm, costs in zip(m.layers, cost.layers, strict=True):
        row = f"{lm.name:<12}{lm.fan_in:>5}{lm.fan_out:>5}{lm.arrays:>7}{lm.input_phases:>6}"
        for s in report.schedules:
            row += f"{si(costs[s].latency_s, 's'):>24}{si(costs[s].energy_j, 'J'):>12}"
        source = costs[report.schedules[0]].source
        lines.append(row + (f"{errors[lm.name]:>9.2%}" if errors else "") + f"  {source}")
    totals = report.totals()
    w = cost.workload
    rows = [("per sample", "sample_latency_s", "sample_energy_j")]
    if report.frames:
        rows += [(f"per ray ({w.samples_per_ray} samples)", "ray_latency_s", "ray_energy_j"),
                 (f"per frame ({w.width_px}x{w.height_px} px)", "frame_latency_s",
                  "frame_energy_j")]
    for label, lat, energy in rows:
        row = f"{label:<35}"
        for s in report.schedules:
            t = totals[s]
            row += f"{si(getattr(t, lat), 's'):>24}{si(getattr(t, energy), 'J'):>12}"
        lines.append(row)
    row = f"{f'samples/s ({w.replicas} replica(s))':<35}"
    for s in report.schedules:
        row += f"{si(totals[s].throughput_per_s, '/s'):>24}{'':>12}"
    lines.append(row)
    row = f"{'samples/s, layers pipelined':<35}"
    for s in report.schedules:
        row += f"{si(totals[s].pipelined_per_s, '/s'):>24}{'':>12}"
    lines.append(row)
    if report.accuracy:
        a = report.accuracy
        lines += ["", f"accuracy vs the ideal float64 pass, {a.points} points: "
                      f"{a.settings.describe()}",
                  f"calibration: {a.settings.describe_calibration(a.calibration_points)}",
                  "ADC range use per layer (the range the accuracy pass quantises with over "
                  "the worst-case full scale): "
                  + ", ".join(f"{name} {use:.1%}" for name, use in a.range_use),
                  f"scored on: {report.scored_on}",
                  f"calibrated on: {report.calibrated_on}",
                  f"  {'output':<12}{'rel. RMS':>10}{'mean |err|':>12}{'max |err|':>11}"
                  f"{'RMSE':>11}{'PSNR':>10}{'top-1':>9}"]
        lines += [f"  {o.name:<12}{o.rel_rms:>10.3%}{o.mean_abs:>12.4g}{o.max_abs:>11.4g}"
                  f"{o.rmse:>11.4g}{_maybe(o.psnr_db, '{:.1f} dB'):>10}"
                  f"{_maybe(o.agreement, '{:.2%}'):>9}" for o in a.outputs]
        if not math.isnan(a.label_accuracy):
            lines.append(f"  classification accuracy on the labels: crossbar "
                         f"{a.label_accuracy:.2%}, float {a.ideal_label_accuracy:.2%}")
        if not math.isnan(a.target_rmse):
            lines.append(f"  RMSE against the targets ({a.outputs[0].name}): crossbar "
                         f"{a.target_rmse:.4g}, float {a.ideal_target_rmse:.4g}")
        lines.append("  PSNR: sigmoid outputs (peak 1); top-1: logits outputs, agreement with "
                     "the float pass; 'error' above: each layer's pre-activation, errors "
                     "accumulated from the input")
    if report.sweep:
        columns = _sweep_columns(report.sweep[0])
        lines += ["", "sweep:", "  " + "".join(f"{n:>12}" for n in report.sweep_axes)
                  + "".join(f"{label:>14}" for label, *_ in columns)]
        for r in report.sweep:
            lines.append("  " + "".join(f"{_setting(r, n):>12}" for n in report.sweep_axes)
                         + "".join(f"{_maybe(get(r), fmt):>14}" for _, _, get, fmt in columns))
    if report.baselines:
        lines += ["", "digital baselines; speed-up of the analog model per schedule (against "
                      "batch 1: latency ratio; batched: throughput ratio):",
                  f"  {'baseline':<58}{'per sample':>12}{'samples/s':>12}"
                  + "".join(f"{'x ' + s:>14}" for s in report.schedules)]
        for b in report.baselines:
            ups = report.speedups(b)
            lines.append(f"  {b.label:<58}{si(b.per_sample_s, 's'):>12}"
                         f"{si(b.throughput_per_s, ''):>12}"
                         + "".join(f"{ups[s]:>14.3g}" for s in report.schedules)
                         + (f"  {b.flag}" if b.flag else "") + f"  [{b.source}]")
    if report.notes:
        lines += ["", "notes:"] + [f"  - {n}" for n in report.notes]
    return "\n".join(line.rstrip() for line in lines)


def _maybe(value: float, fmt: str) -> str:
    return "-" if math.isnan(value) else fmt.format(value)


def _sweep_columns(first: AccuracyResult) -> list[tuple[str, str, Callable, str]]:
    """(text label, HDF5 name, getter, text format) of the sweep's figures: each output's
    relative RMS error and RMSE, its PSNR or top-1 agreement where defined, and the label
    accuracy when there were labels."""
    columns: list[tuple[str, str, Callable, str]] = []
    for i, o in enumerate(first.outputs):
        columns += [(f"{o.name} rel.", f"{o.name}_rel_rms",
                     lambda r, i=i: r.outputs[i].rel_rms, "{:.3%}"),
                    (f"{o.name} RMSE", f"{o.name}_rmse", lambda r, i=i: r.outputs[i].rmse,
                     "{:.4g}")]
        if not math.isnan(o.psnr_db):
            columns.append((f"{o.name} PSNR", f"{o.name}_psnr_db",
                            lambda r, i=i: r.outputs[i].psnr_db, "{:.1f}dB"))
        if not math.isnan(o.agreement):
            columns.append((f"{o.name} top-1", f"{o.name}_agreement",
                            lambda r, i=i: r.outputs[i].agreement, "{:.2%}"))
    if not math.isnan(first.label_accuracy):
        columns.append(("accuracy", "label_accuracy", lambda r: r.label_accuracy, "{:.2%}"))
    if not math.isnan(first.target_rmse):
        columns.append(("target RMSE", "target_rmse", lambda r: r.target_rmse, "{:.4g}"))
    return columns


def _setting(r: AccuracyResult, name: str) -> str:
    value = getattr(r.settings, name)
    return "ideal" if value is None else f"{value:g}"


def _plain(value: object) -> object:
    """JSON-safe: NaN and infinities become None, tuples lists, dataclasses dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def to_dict(report: Report) -> dict:
    """The report as plain data (``--json``)."""
    cost, m = report.cost, report.cost.mapping
    return _plain({
        "model": report.model, "weights": report.weights,
        "tile": m.tile, "table": report.table, "missing": report.missing or None,
        "adc_share": cost.adc_share, "workload": cost.workload, "readout": cost.readout,
        "mapping": {"arrays": m.arrays, "devices": m.devices, "utilisation": m.utilisation,
                    "adcs": m.adcs(cost.adc_share),
                    "layers": [{"name": lm.name, "fan_in": lm.fan_in, "fan_out": lm.fan_out,
                                "row_tiles": lm.row_tiles, "col_tiles": lm.col_tiles,
                                "arrays": lm.arrays, "devices": lm.devices,
                                "input_phases": lm.input_phases,
                                "utilisation": lm.utilisation} for lm in m.layers]},
        "layers": {s: [dataclasses.asdict(c[s]) | {"energy_j": c[s].energy_j}
                       for c in cost.layers] for s in report.schedules},
        "totals": report.totals(),
        "accuracy": report.accuracy,
        "scored_on": report.scored_on, "calibrated_on": report.calibrated_on,
        "sweep": {"axes": report.sweep_axes, "results": report.sweep},
        "baselines": [{"label": b.label, "flag": b.flag, "kind": b.kind,
                       "per_sample_s": b.per_sample_s, "throughput_per_s": b.throughput_per_s,
                       "speedup": report.speedups(b), **dataclasses.asdict(b)}
                      for b in report.baselines],
        "notes": report.notes,
    })  # type: ignore[return-value]


def _table(group: h5py.Group, columns: dict[str, tuple[list, str]]) -> None:
    for name, (values, units) in columns.items():
        data = np.array(values, dtype=object if units == "text" else float)
        ds = group.create_dataset(name, data=data, dtype=h5py.string_dtype()
                                  if units == "text" else "f8")
        ds.attrs["units"] = units


def write_h5(report: Report, path: Path | str, command_line: str = "") -> Path:
    """Write the report (module docstring) atomically (:mod:`spicecim.store.files`)."""
    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            f.attrs.update({"format": REPORT_FORMAT, "spicecim_version": spicecim.__version__,
                            "created_utc": datetime.datetime.now(datetime.UTC).isoformat(
                                timespec="seconds"),
                            "command_line": command_line, "model": report.model})
            ds = f.create_dataset("report", data=json.dumps(to_dict(report)),
                                  dtype=h5py.string_dtype())
            ds.attrs["units"] = "json"
            for s in report.schedules:
                costs = [c[s] for c in report.cost.layers]
                _table(f.create_group(f"layers/{s}"), {
                    "name": ([c.name for c in costs], "text"),
                    "source": ([c.source for c in costs], "text"),
                    **{k: ([getattr(c, k) for c in costs], "J" if k.startswith("energy") else "s")
                       for k in ("latency_s", "energy_j", "energy_array_j", "energy_adc_j",
                                 "energy_digital_j")},
                    "conversions": ([c.conversions for c in costs], "1")})
            totals = list(report.totals().values())
            _table(f.create_group("totals"), {
                "schedule": ([t.schedule for t in totals], "text"),
                **{k: ([getattr(t, k) for t in totals], u) for k, u in _TOTAL_UNITS.items()}})
            if report.accuracy:
                outs = report.accuracy.outputs
                _table(f.create_group("accuracy"), {
                    "output": ([o.name for o in outs], "text"),
                    **{k: ([getattr(o, k) for o in outs], "dB" if k == "psnr_db" else "1")
                       for k in ("rel_rms", "mean_abs", "max_abs", "rmse", "psnr_db",
                                 "agreement")}})
            if report.sweep:
                _table(f.create_group("sweep"), {
                    **{n: ([_number(getattr(r.settings, n)) for r in report.sweep], "1")
                       for n in report.sweep_axes},
                    **{name: ([get(r) for r in report.sweep],
                              "dB" if name.endswith("_db") else "1")
                       for _, name, get, _ in _sweep_columns(report.sweep[0])}})
            if report.baselines:
                bs = report.baselines
                _table(f.create_group("baselines"), {
                    "label": ([b.label for b in bs], "text"),
                    "flag": ([b.flag for b in bs], "text"),
                    "per_sample_s": ([b.per_sample_s for b in bs], "s"),
                    "throughput_per_s": ([b.throughput_per_s for b in bs], "1/s"),
                    **{f"speedup_{s}": ([report.speedups(b)[s] for b in bs], "1")
                       for s in report.schedules}})

    return files.atomic_write(path, write)


def _number(value: object) -> float:
    """A setting as a number; ``None`` (ideal, no quantisation) as NaN."""
    return math.nan if value is None else float(value)  # type: ignore[arg-type]
