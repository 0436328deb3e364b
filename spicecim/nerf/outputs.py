"""What ``spicecim nerf`` prints and writes: the report, the ladder and sweep tables, the
Pareto front of a design sweep, and the files (renders, difference images, CSVs, plots)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from spicecim.analog import accuracy as acc
from spicecim.cost import schedule as sched
from spicecim.models.mlp import batch_size
from spicecim.nerf.frame import CALIBRATION_VIEWS
from spicecim.nerf.pipeline import CrossbarRender, NerfResult, format_db
from spicecim.nerf.quality import ssim
from spicecim.units import format_si as si

# --- text and files ------------------------------------------------------------------------


def _setting(settings: acc.Nonideality, axis: str) -> str:
    value = getattr(settings, axis)
    return "ideal" if value is None else f"{value:g}"


def format_report(result: NerfResult, written: Sequence[Path] = ()) -> str:
    """The report ``spicecim nerf`` prints."""
    model, frame, x = result.crossbar_model, result.frame, result.crossbar
    tile = model.mapping.tile
    lines = [
        f"model {result.model} ({result.weights})",
        f"tile figures: {x.cost.table or model.table.source} ({tile.rows}x{tile.cols} tiles, "
        f"{tile.scheme} weights; {model.mapping.arrays} arrays)",
        f"frame: {frame.width_px}x{frame.height_px} px x {frame.samples_per_ray} samples per ray "
        f"= {frame.samples} samples, {100 * result.inside_fraction:.1f} % of them inside the "
        "scene's cube",
        f"crossbar: {x.settings.describe()}",
        f"design point: {x.design}" + (f"; MLP fine-tuned through the crossbars ({x.finetune})"
                                       if x.finetune else ""),
        *([f"IR-drop-aware programming: column-current error against the target on the "
           f"calibration samples (nominal conductances), median over tiles "
           f"{100 * x.ir_error[0]:.3g} % -> {100 * x.ir_error[1]:.3g} %, worst tile "
           f"{100 * x.ir_error[2]:.3g} %"] if x.ir_error else []),
        f"DAC input scales: each layer's largest input over {batch_size(model.calibration)} "
        f"samples in the cube from {CALIBRATION_VIEWS} other views (a quarter turn apart), "
        "none of the frame scored",
        f"calibration: {x.settings.describe_calibration(batch_size(model.calibration))}",
        "",
        f"{'render':<12}{'PSNR vs scene':>16}{'PSNR vs float':>16}{'SSIM vs scene':>15}"
        f"{'SSIM vs float':>15}",
        f"{'float MLP':<12}{format_db(result.float_psnr_db):>16}{'-':>16}"
        f"{ssim(result.float_image, result.scene_image):>15.4f}{'-':>15}",
        f"{'crossbar':<12}{format_db(x.psnr_scene_db):>16}{format_db(x.psnr_float_db):>16}"
        f"{x.ssim_scene:>15.4f}{x.ssim_float:>15.4f}",
        f"largest |crossbar - float| over pixels and channels: "
        f"{float(difference(x.image, result.float_image).max()):.3g} (diff.png's full scale)",
        "",
        f"{'schedule':<12}{'latency/sample':>16}{'energy/sample':>15}{'latency/frame':>15}"
        f"{'energy/frame':>14}",
    ]
    for name in sched.SCHEDULES:
        t = x.cost.total(name)
        lines.append(f"{name:<12}{si(t.sample_latency_s, 's'):>16}"
                     f"{si(t.sample_energy_j, 'J'):>15}{si(t.frame_latency_s, 's'):>15}"
                     f"{si(t.frame_energy_j, 'J'):>14}")
    if result.ladder:
        lines += ["", "mitigations added one at a time (every non-ideality on; latency/frame: "
                  "fully parallel schedule):", *ladder_table(result.ladder)]
    if result.design_sweep:
        lines += ["", f"design sweep over {', '.join(result.design_axes)} (latency/frame: fully "
                  "parallel; * Pareto-optimal in PSNR vs float against energy, + against "
                  "latency):", *sweep_table(result)]
    if result.sweep_axis:
        axis = result.sweep_axis
        lines += ["", f"sweep of {axis} (energy per frame: every schedule's):",
                  f"  {axis:>12}{'PSNR vs float':>16}{'PSNR vs scene':>16}{'energy/frame':>14}"]
        lines += [f"  {_setting(p.settings, axis):>12}{format_db(p.psnr_float_db):>16}"
                  f"{format_db(p.psnr_scene_db):>16}{si(p.frame_energy_j, 'J'):>14}"
                  for p in result.sweep]
    notes = ["SSIM: scikit-image structural_similarity (7x7 window, data range 1)",
             "latency/frame: one sample at a time through all layers, one copy of the arrays; "
             "energy/frame counts every sample, the renderer skips those outside the cube"]
    if model.table.failed:
        notes.append(f"{model.table.source}: columns {list(model.table.failed)} did not end "
                     "ok; figures of layers using them are missing")
    if any(p.settings.adc_bits not in (None, model.table.adc.bits)
           for p in (x, *result.sweep)):
        notes.append(f"ADC energy per conversion at other than the tables' {model.table.adc.bits} "
                     "bit: scaled as ISAAC/Saberi 2011 (4-10 bit, else missing); conversion "
                     "time and settling latency stay the tables'")
    lines += ["", "notes:", *(f"  - {n}" for n in notes)]
    if written:
        lines += ["", f"wrote {', '.join(str(p) for p in written)}"]
    return "\n".join(line.rstrip() for line in lines)


def ladder_table(lines: Sequence[CrossbarRender]) -> list[str]:
    """The mitigation ladder as text rows (also the README's table)."""
    out = [f"  {'mitigation':<30}{'PSNR/SSIM vs float':>22}{'PSNR/SSIM vs scene':>22}"
           f"{'latency/frame':>15}{'energy/frame':>14}"]
    for p in lines:
        out.append(f"  {p.label:<30}{format_db(p.psnr_float_db) + f' / {p.ssim_float:.3f}':>22}"
                   f"{format_db(p.psnr_scene_db) + f' / {p.ssim_scene:.3f}':>22}"
                   f"{si(p.frame_latency_s, 's'):>15}{si(p.frame_energy_j, 'J'):>14}")
        out.append(f"    {p.design}; figures: {p.figures}")
    return out


def pareto(renders: Sequence[CrossbarRender], cost: str) -> list[bool]:
    """Which renders no other beats in both PSNR vs float (higher) and ``cost``
    (``frame_energy_j`` or ``frame_latency_s``, lower)."""
    values = [(r.psnr_float_db, getattr(r, cost)) for r in renders]
    return [not any(q >= p and c <= e and (q > p or c < e) for q, c in values)
            for p, e in values]


def sweep_table(result: NerfResult) -> list[str]:
    renders = result.design_sweep
    marks = zip(pareto(renders, "frame_energy_j"), pareto(renders, "frame_latency_s"),
                strict=True)
    out = [f"  {'design point':<34}{'PSNR vs float':>14}{'SSIM':>7}{'PSNR vs scene':>14}"
           f"{'latency/frame':>15}{'energy/frame':>14}"]
    for p, (e, t) in zip(renders, marks, strict=True):
        flag = ("*" if e else " ") + ("+" if t else " ")
        out.append(f"{flag}{p.label:<34}{format_db(p.psnr_float_db):>14}{p.ssim_float:>7.3f}"
                   f"{format_db(p.psnr_scene_db):>14}{si(p.frame_latency_s, 's'):>15}"
                   f"{si(p.frame_energy_j, 'J'):>14}")
    return out


def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pixel, the largest absolute difference over the colour channels."""
    return np.max(np.abs(np.asarray(a, float) - np.asarray(b, float)), axis=-1)


def output_names(sweep: bool, ladder: bool = False, design_sweep: bool = False) -> list[str]:
    """The files :func:`write_outputs` writes in its folder, with an accuracy sweep, a
    mitigation ladder and a design sweep or without."""
    return ["scene.png", "float.png", "crossbar.png", "diff.png",
            *(["sweep.csv", "sweep.png"] if sweep else []), *(["ladder.csv"] if ladder else []),
            *(["design_sweep.csv", "design_sweep.png"] if design_sweep else [])]


def write_outputs(result: NerfResult, out_dir: Path | str) -> list[Path]:
    """PNGs of the three renders and of |crossbar - float| (:func:`difference`, magma colour
    map from 0 to its largest value, which the report names), and with a sweep ``sweep.csv``
    and ``sweep.png``. Returns the paths written."""
    # matplotlib is imported when first used: every command that imports this module (the
    # tables and co-simulation ones through spicecim.cost.cosim) starts half a second sooner
    from matplotlib.image import imsave

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, image in (("scene", result.scene_image), ("float", result.float_image),
                        ("crossbar", result.crossbar.image)):
        written.append(out / f"{name}.png")
        imsave(written[-1], np.clip(image, 0.0, 1.0))
    diff = difference(result.crossbar.image, result.float_image)
    written.append(out / "diff.png")
    imsave(written[-1], diff, cmap="magma", vmin=0.0, vmax=max(float(diff.max()), 1e-6))
    if result.sweep_axis:
        written += [_write_sweep_csv(result, out / "sweep.csv"),
                    _plot_sweep(result, out / "sweep.png")]
    if result.ladder:
        written.append(_write_renders_csv(result.ladder, out / "ladder.csv"))
    if result.design_sweep:
        written += [_write_renders_csv(result.design_sweep, out / "design_sweep.csv"),
                    _plot_design_sweep(result, out / "design_sweep.png")]
    return written


def _write_renders_csv(renders: Sequence[CrossbarRender], path: Path) -> Path:
    names = sched.SCHEDULES
    energy, latency = pareto(renders, "frame_energy_j"), pareto(renders, "frame_latency_s")
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["label", "design", "figures", "ir_aware", "finetune", "psnr_vs_float_db",
                      "ssim_vs_float", "psnr_vs_scene_db", "ssim_vs_scene",
                      *(f"frame_latency_s_{s}" for s in names),
                      "frame_energy_j", "pareto_energy", "pareto_latency"])
        for k, p in enumerate(renders):
            totals = [p.cost.total(s) for s in names]
            out.writerow([p.label, p.design, p.figures, p.settings.ir_aware, p.finetune or "no",
                          p.psnr_float_db, p.ssim_float, p.psnr_scene_db, p.ssim_scene,
                          *(t.frame_latency_s for t in totals), p.frame_energy_j,
                          energy[k], latency[k]])
    return path


def _plot_design_sweep(result: NerfResult, path: Path) -> Path:
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    renders = result.design_sweep
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, cost, unit, title in ((axes[0], "frame_energy_j", "J", "energy per frame"),
                                  (axes[1], "frame_latency_s", "s", "latency per frame "
                                   "(fully parallel)")):
        best = pareto(renders, cost)
        x = [getattr(p, cost) for p in renders]
        y = [p.psnr_float_db for p in renders]
        ax.scatter(x, y, c=["tab:red" if b else "tab:grey" for b in best], zorder=3)
        front = sorted((xi, yi) for xi, yi, b in zip(x, y, best, strict=True) if b)
        if front:
            ax.plot(*zip(*front, strict=True), "r--", lw=1, label="Pareto front")
        for xi, yi, p in zip(x, y, renders, strict=True):
            ax.annotate(p.label, (xi, yi), textcoords="offset points", xytext=(4, 4),
                        fontsize=7)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(EngFormatter(unit=unit))
        ax.xaxis.set_minor_formatter(EngFormatter(unit=unit))  # a narrow range: minor ticks
        ax.tick_params(axis="x", which="minor", labelsize=7, labelrotation=30)
        ax.set(xlabel=title, ylabel="PSNR vs float render (dB)",
               title=f"PSNR against {title}")
        ax.legend(loc="lower right")
    fig.suptitle(f"design sweep over {', '.join(result.design_axes)}: {result.frame.width_px}x"
                 f"{result.frame.height_px} px x {result.frame.samples_per_ray} samples")
    fig.savefig(path, dpi=120)
    return path


def _write_sweep_csv(result: NerfResult, path: Path) -> Path:
    axis = result.sweep_axis or ""
    names = sched.SCHEDULES
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([axis, "psnr_vs_float_db", "psnr_vs_scene_db",
                      *(f"frame_latency_s_{s}" for s in names),
                      "frame_energy_j"])
        for p in result.sweep:
            totals = [p.cost.total(s) for s in names]
            out.writerow([_setting(p.settings, axis), p.psnr_float_db, p.psnr_scene_db,
                          *(t.frame_latency_s for t in totals), p.frame_energy_j])
    return path


def _plot_sweep(result: NerfResult, path: Path) -> Path:
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    axis = result.sweep_axis or ""
    labels = [_setting(p.settings, axis) for p in result.sweep]
    vs_float = [p.psnr_float_db for p in result.sweep]
    vs_scene = [p.psnr_scene_db for p in result.sweep]
    energy = [p.frame_energy_j for p in result.sweep]
    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.plot(labels, vs_float, "o-", label="crossbar vs float MLP")
    left.plot(labels, vs_scene, "s--", label="crossbar vs scene")
    left.axhline(result.float_psnr_db, color="grey", lw=0.8, label="float MLP vs scene")
    left.set(xlabel=axis, ylabel="PSNR (dB)", title="accuracy")
    left.legend()
    right.plot(energy, vs_float, "o-")
    for e, q, text in zip(energy, vs_float, labels, strict=True):
        if math.isfinite(e):  # a missing energy has no place on the axis
            right.annotate(text, (e, q), textcoords="offset points", xytext=(4, 4), fontsize=8)
    right.xaxis.set_major_formatter(EngFormatter(unit="J"))
    right.set(xlabel=f"energy per frame (points: {axis})", ylabel="PSNR vs float MLP (dB)",
              title=f"accuracy-energy trade-off, {result.frame.width_px}x"
                    f"{result.frame.height_px} px x {result.frame.samples_per_ray} samples")
    fig.savefig(path, dpi=120)
    return path
