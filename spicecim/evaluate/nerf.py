"""NeRF end to end: one view of the built-in scene through the float MLP and the crossbar model.

The MLP is fitted to :func:`spicecim.evaluate.scene.default_scene` (weights cached, so a
second run does not fit again) and rendered three ways from the same camera and the same
deterministic sample depths: the analytic scene (the reference), the float MLP, and the MLP
with every layer's product on the crossbar model of :mod:`spicecim.evaluate.accuracy`, whose
DAC input scales are set on the frame's own samples. PSNR (peak 1.0) compares the renders;
SSIM is not computed (no maintained SSIM library is a dependency).

Latency and energy of a frame are the tables' (:mod:`spicecim.evaluate.schedule`): a frame is
``width x height x samples_per_ray`` samples, each through every layer, whether or not it lies
inside the scene's cube (the renderer itself skips those outside, where the density is 0 by
definition; the report gives their share). The one figure not read from the tables is the
ADC's energy per conversion at a resolution other than the tables': it is scaled by the
ISAAC/Saberi curve below, so a sweep of ``adc_bits`` trades accuracy against energy; its
conversion time stays the tables'.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.image import imsave
from matplotlib.ticker import EngFormatter

from spicecim.errors import ResultFileError, check
from spicecim.evaluate import accuracy as acc
from spicecim.evaluate import schedule as sched
from spicecim.evaluate.mapping import ModelMapping, TileGeometry, map_model
from spicecim.evaluate.model import batch_size
from spicecim.evaluate.presets import NerfField
from spicecim.evaluate.render import Rays, default_view, psnr, render, sample_depths
from spicecim.evaluate.scene import Scene
from spicecim.units import format_si as si

CACHE_ENV = "SPICECIM_CACHE"
# Each schedule activates and converts every column once (spicecim.measure.schedule_layer):
# energies are equal across schedules, so one of them stands for all in the energy columns.
_ENERGY_SCHEDULE = "fully_parallel"


def default_cache_dir() -> Path:
    """Where fitted weights are kept: ``$SPICECIM_CACHE``, else ``~/.cache/spicecim``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "spicecim")


@dataclass(frozen=True, slots=True)
class Frame:
    """The rendered view: pixels and samples per ray (stratified midpoints, no fine pass)."""

    width_px: int
    height_px: int
    samples_per_ray: int

    def __post_init__(self) -> None:
        for name in ("width_px", "height_px", "samples_per_ray"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 1, name, value, "an integer >= 1")

    @property
    def samples(self) -> int:
        return self.width_px * self.height_px * self.samples_per_ray

    @property
    def workload(self) -> sched.Workload:
        return sched.Workload(self.samples_per_ray, self.width_px, self.height_px)


def load_table(path: Path | str) -> sched.TileTable:
    """The first tile of a run file from ``spicecim simulate``."""
    tables = sched.read_tables(path)
    if not tables:
        raise ResultFileError(f"{path} holds no tile of the configuration its /config "
                              "describes: expected a run written by this version of 'spicecim "
                              "simulate' (rerun it)")
    return tables[0]


def device_settings(table: sched.TileTable, **overrides: object) -> acc.Nonideality:
    """The tables' bits, the default variation and read noise, IR drop on, then ``overrides``."""
    return acc.Nonideality.of(table.spec, table.weights, **overrides)


def frame_cost(mapping: ModelMapping, table: sched.TileTable, frame: Frame, adc_share: int,
               adc_bits: int | None = None) -> sched.ModelCost:
    """The frame's figures from the tables, their ADC scaled to ``adc_bits`` (None: as it is);
    every figure missing where the scaling has no cited figure."""
    adc = table.adc if adc_bits is None else sched.scaled_adc(table.adc, adc_bits)
    scaled: sched.TileTable | None = None
    if adc is not None:
        readout = dataclasses.replace(table.spec.readout, adc=adc)
        scaled = dataclasses.replace(table, spec=dataclasses.replace(table.spec,
                                                                     readout=readout))
    return sched.model_cost(mapping, scaled, frame.workload, adc_share)


@dataclass(frozen=True, slots=True)
class Crossbar:
    """The fitted model mapped onto the tiles of one table, with the batch whose largest input
    to each layer sets that layer's DAC input scale: what every crossbar render of a run shares."""

    nerf: NerfField
    table: sched.TileTable
    mapping: ModelMapping
    calibration: dict[str, np.ndarray]
    adc_share: int

    def __post_init__(self) -> None:
        check(self.adc_share >= 1, "adc_share", self.adc_share, "an integer >= 1")


@dataclass(frozen=True, slots=True)
class CrossbarRender:
    """One render through the crossbar model, compared with the float and the scene renders."""

    settings: acc.Nonideality
    image: np.ndarray = field(repr=False)
    psnr_float_db: float
    psnr_scene_db: float
    cost: sched.ModelCost = field(repr=False)

    @property
    def frame_energy_j(self) -> float:
        return self.cost.total(_ENERGY_SCHEDULE).frame_energy_j


@dataclass(frozen=True, slots=True)
class NerfResult:
    """Everything ``spicecim nerf`` shows and writes."""

    model: str
    weights: str
    crossbar_model: Crossbar = field(repr=False)
    frame: Frame
    inside_fraction: float
    scene_image: np.ndarray = field(repr=False)
    float_image: np.ndarray = field(repr=False)
    float_psnr_db: float
    crossbar: CrossbarRender
    sweep_axis: str | None = None
    sweep: tuple[CrossbarRender, ...] = ()

    def __post_init__(self) -> None:
        check((self.sweep_axis is None) == (not self.sweep), "sweep_axis", self.sweep_axis,
              "an axis name exactly when there are sweep renders")


def view(frame: Frame, bound: float) -> tuple[Rays, float, float]:
    """The default orbit camera's rays, near and far (m) for ``frame``."""
    return default_view(frame.height_px, frame.width_px, bound=bound)


def inside_samples(rays: Rays, frame: Frame, near: float, far: float,
                   bound: float) -> tuple[np.ndarray, np.ndarray]:
    """The frame's samples inside the cube [-bound, bound]^3, the only ones the renderer puts
    to the MLP: points (N, 3) in m and their rays' directions, float32 as NerfField.field has
    them."""
    origins, dirs = (np.asarray(a, dtype=np.float32).reshape(-1, 3) for a in rays)
    t = sample_depths(1, frame.samples_per_ray, near, far, None)[0].astype(np.float32)
    points, directions = [], []
    chunk = max(1, (1 << 16) // frame.samples_per_ray)
    for start in range(0, len(origins), chunk):
        o, d = origins[start:start + chunk], dirs[start:start + chunk]
        p = o[:, None, :] + t[:, None] * d[:, None, :]
        inside = np.all(np.abs(p) <= bound, axis=-1)
        points.append(p[inside])
        directions.append(np.broadcast_to(d[:, None, :], p.shape)[inside])
    return np.concatenate(points), np.concatenate(directions)


def render_crossbar(model: Crossbar, settings: acc.Nonideality, frame: Frame, rays: Rays,
                    near: float, far: float,
                    programmed: dict[acc.Nonideality, dict[str, acc.ProgrammedLayer]]
                    ) -> np.ndarray:
    """The frame with every layer on the crossbar model. Tiles programmed for settings that
    differ only in what happens at read time are reused from ``programmed``, so a sweep of
    the ADC (bits or range), the DAC, the read noise or the column calibration programs (and
    factorises) the tiles once."""
    spec, weights = model.table.spec, model.table.weights
    key = dataclasses.replace(settings, adc_bits=None, dac_bits=None, read_noise=0.0,
                              adc_range="calibrated", calibrate=True)
    if key not in programmed:
        programmed[key] = acc.program(model.nerf.mlp, model.mapping, spec, weights, settings,
                                      model.calibration)
    hook = acc.analog_matmul(programmed[key], spec, weights, settings)
    return render(functools.partial(model.nerf.field, matmul=hook), rays, frame.samples_per_ray,
                  near, far)


def run_nerf(scene: Scene, nerf: NerfField, table: sched.TileTable, frame: Frame,
             settings: acc.Nonideality, sweep: tuple[str, Sequence[float]] | None = None, *,
             model: str = "nerf-4x256", weights: str = "", calibration_points: int = 8192,
             adc_share: int | None = None) -> NerfResult:
    """Render ``frame`` from the scene, the float ``nerf`` (fitted to it) and the crossbar model
    of ``table``'s tile with ``settings``; with ``sweep`` (an axis of accuracy.SWEEP_AXES and
    its values) once more per value on top of ``settings``.

    Each layer's DAC input scale is its largest input over up to ``calibration_points`` of the
    frame's own samples (drawn with ``settings.seed``): a scale set on the workload, so a frame
    of at most that many samples in the cube never saturates a DAC. ``model`` and ``weights``
    only describe the MLP in the report."""
    check(calibration_points >= 1, "calibration_points", calibration_points, "an integer >= 1")
    rays, near, far = view(frame, scene.bound)
    points, dirs = inside_samples(rays, frame, near, far, scene.bound)
    check(len(points) > 0, "frame", frame, "a view with samples inside the scene's cube")
    rng = np.random.default_rng([settings.seed, 3])
    pick = np.sort(rng.choice(len(points), min(len(points), calibration_points), replace=False))
    calibration = nerf.encode(points[pick], dirs[pick])
    geometry = TileGeometry(table.spec.rows, table.spec.cols, table.weights.scheme)
    crossbar = Crossbar(nerf, table, map_model(nerf.mlp, geometry), calibration,
                        adc_share or table.adc_share)

    n = frame.samples_per_ray
    scene_image = render(scene.query, rays, n, near, far)
    float_image = render(nerf.field, rays, n, near, far)
    programmed: dict[acc.Nonideality, dict[str, acc.ProgrammedLayer]] = {}

    def through(s: acc.Nonideality) -> CrossbarRender:
        image = render_crossbar(crossbar, s, frame, rays, near, far, programmed)
        return CrossbarRender(s, image, psnr(image, float_image), psnr(image, scene_image),
                              frame_cost(crossbar.mapping, table, frame, crossbar.adc_share,
                                         s.adc_bits))

    main = through(settings)
    renders: tuple[CrossbarRender, ...] = ()
    if sweep is not None:
        axis, values = sweep
        renders = tuple(main if s == settings else through(s)
                        for s in acc.sweep_settings(settings, {axis: values}))
    return NerfResult(model, weights, crossbar, frame, len(points) / frame.samples, scene_image,
                      float_image, psnr(float_image, scene_image), main,
                      None if sweep is None else sweep[0], renders)


# --- text and files ------------------------------------------------------------------------


def _db(value: float) -> str:
    return "inf dB" if math.isinf(value) else f"{value:.2f} dB"


def _setting(settings: acc.Nonideality, axis: str) -> str:
    value = getattr(settings, axis)
    return "ideal" if value is None else f"{value:g}"


def format_report(result: NerfResult, written: Sequence[Path] = ()) -> str:
    """The report ``spicecim nerf`` prints."""
    model, frame, x = result.crossbar_model, result.frame, result.crossbar
    tile = model.mapping.tile
    lines = [
        f"model {result.model} ({result.weights})",
        f"tile figures: {model.table.source} ({tile.rows}x{tile.cols} tiles, {tile.scheme} "
        f"weights; {model.mapping.arrays} arrays)",
        f"frame: {frame.width_px}x{frame.height_px} px x {frame.samples_per_ray} samples per ray "
        f"= {frame.samples} samples, {100 * result.inside_fraction:.1f} % of them inside the "
        "scene's cube",
        f"crossbar: {x.settings.describe()}",
        f"DAC input scales: each layer's largest input over {batch_size(model.calibration)} of "
        "the frame's samples in the cube",
        f"calibration: {x.settings.describe_calibration(batch_size(model.calibration))}",
        "",
        f"{'render':<12}{'PSNR vs scene':>16}{'PSNR vs float':>16}",
        f"{'float MLP':<12}{_db(result.float_psnr_db):>16}{'-':>16}",
        f"{'crossbar':<12}{_db(x.psnr_scene_db):>16}{_db(x.psnr_float_db):>16}",
        f"largest |crossbar - float| over pixels and channels: "
        f"{float(difference(x.image, result.float_image).max()):.3g} (diff.png's full scale)",
        "",
        f"{'schedule':<12}{'latency/sample':>16}{'energy/sample':>15}{'latency/frame':>15}"
        f"{'energy/frame':>14}",
    ]
    for name, label in sched.SCHEDULE_LABELS.items():
        t = x.cost.total(name)
        lines.append(f"{label:<12}{si(t.sample_latency_s, 's'):>16}"
                     f"{si(t.sample_energy_j, 'J'):>15}{si(t.frame_latency_s, 's'):>15}"
                     f"{si(t.frame_energy_j, 'J'):>14}")
    if result.sweep_axis:
        axis = result.sweep_axis
        lines += ["", f"sweep of {axis} (energy per frame: every schedule's):",
                  f"  {axis:>12}{'PSNR vs float':>16}{'PSNR vs scene':>16}{'energy/frame':>14}"]
        lines += [f"  {_setting(p.settings, axis):>12}{_db(p.psnr_float_db):>16}"
                  f"{_db(p.psnr_scene_db):>16}{si(p.frame_energy_j, 'J'):>14}"
                  for p in result.sweep]
    notes = ["PSNR only: no maintained SSIM library is installed",
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


def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pixel, the largest absolute difference over the colour channels."""
    return np.max(np.abs(np.asarray(a, float) - np.asarray(b, float)), axis=-1)


def output_names(sweep: bool) -> list[str]:
    """The files :func:`write_outputs` writes in its folder, with a sweep or without."""
    return ["scene.png", "float.png", "crossbar.png", "diff.png",
            *(["sweep.csv", "sweep.png"] if sweep else [])]


def write_outputs(result: NerfResult, out_dir: Path | str) -> list[Path]:
    """PNGs of the three renders and of |crossbar - float| (:func:`difference`, magma colour
    map from 0 to its largest value, which the report names), and with a sweep ``sweep.csv``
    and ``sweep.png``. Returns the paths written."""
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
    return written


def _write_sweep_csv(result: NerfResult, path: Path) -> Path:
    axis = result.sweep_axis or ""
    names = list(sched.SCHEDULE_LABELS)
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([axis, "psnr_vs_float_db", "psnr_vs_scene_db",
                      *(f"frame_latency_s_{sched.SCHEDULE_LABELS[s]}" for s in names),
                      "frame_energy_j"])
        for p in result.sweep:
            totals = [p.cost.total(s) for s in names]
            out.writerow([_setting(p.settings, axis), p.psnr_float_db, p.psnr_scene_db,
                          *(t.frame_latency_s for t in totals), p.frame_energy_j])
    return path


def _plot_sweep(result: NerfResult, path: Path) -> Path:
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
