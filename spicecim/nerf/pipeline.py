"""NeRF end to end: one view of the built-in scene through the float MLP and the crossbar model.

The MLP is fitted to :func:`spicecim.nerf.scene.default_scene` (weights cached, so a
second run does not fit again) and rendered three ways from the same camera and the same
deterministic sample depths: the analytic scene (the reference), the float MLP, and the MLP
with every layer's product on the crossbar model of :mod:`spicecim.analog.accuracy`, whose
DAC input scales, ADC ranges and column gains are set on samples of other views than the one
rendered (:func:`calibration_samples`). PSNR (peak 1.0) and SSIM
(:mod:`spicecim.nerf.quality`) compare the renders.

Mitigations (:func:`run_nerf`): a design point (:class:`~spicecim.cost.design.DesignPoint`:
tile size, row parallelism, conductance range, bits per device, bit slicing and copies), costed
with tables of its own configuration; IR-drop-aware programming (``Nonideality.ir_aware``,
:mod:`spicecim.analog.programming`); noise-aware fine-tuning of the MLP
(:mod:`spicecim.analog.finetune`). ``ladder=True`` renders them added one at a time (none;
+ design point; + IR-drop-aware programming; + fine-tuning), and a design sweep renders every
point of a grid of design choices (:mod:`spicecim.cost.design`).

Latency and energy of a frame are the tables' (:mod:`spicecim.cost.schedule`): a frame is
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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spicecim.analog import accuracy as acc
from spicecim.cost import design as designs
from spicecim.cost import schedule as sched
from spicecim.cost.mapping import ModelMapping, map_model
from spicecim.errors import ResultFileError, SpecError, check
from spicecim.models.mlp import batch_size
from spicecim.models.presets import NerfField, default_cache_dir
from spicecim.nerf.quality import ssim
from spicecim.nerf.render import DEFAULT_AZIMUTH, Rays, default_view, psnr, render, sample_depths
from spicecim.nerf.scene import Scene
from spicecim.units import format_si as si

if TYPE_CHECKING:  # finetune loads JAX: imported where fine-tuning runs
    from spicecim.analog.finetune import FinetuneSettings

# Each schedule activates and converts every column once (spicecim.measure.schedule_layer):
# energies are equal across schedules, so one of them stands for all in the energy columns.
_ENERGY_SCHEDULE = "fully_parallel"


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
    """The first tile of a run file from ``spicecim simulate`` (of a model's co-simulation:
    its configuration, :func:`~spicecim.cost.schedule.cosim_tile_table`)."""
    if is_cosimulation(path):
        return sched.cosim_tile_table(path)
    tables = sched.read_tables(path)
    if not tables:
        raise ResultFileError(f"{path} holds no tile of the configuration its /config "
                              "describes: expected a run written by this version of 'spicecim "
                              "simulate' (rerun it)")
    return tables[0]


def device_settings(table: sched.TileTable, **overrides: Any) -> acc.Nonideality:
    """The tables' bits, the default variation and read noise, IR drop on, then ``overrides``."""
    return acc.Nonideality.of(table.spec, table.weights, **overrides)


def frame_cost(mapping: ModelMapping, table: sched.TileTable, frame: Frame, adc_share: int,
               adc_bits: int | None = None, cosim_run: Path | None = None) -> sched.ModelCost:
    """The frame's figures from the tables (or, given ``cosim_run``, from the model's
    co-simulation there: every layer its own), their ADC scaled to ``adc_bits`` (None: as it
    is); every figure missing where the scaling has no cited figure."""
    adc = table.adc if adc_bits is None else sched.scaled_adc(table.adc, adc_bits)
    if cosim_run is not None and adc is not None:
        from spicecim.cost import cosim  # imports the simulator: only for a co-simulation
        from spicecim.store.hdf5 import open_run

        with open_run(cosim_run) as run:
            layers = cosim.layer_costs(run, mapping, sched.DigitalAdder(), adc_share=adc_share,
                                       adc=None if adc_bits is None else adc)
            return sched.model_cost(mapping, None, frame.workload, adc_share, layers=layers,
                                    source=cosim.describe(run))
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
    design: designs.DesignPoint = designs.BASELINE
    cosim: Path | None = None  # the model's co-simulation its costs come from (None: the table's)

    def __post_init__(self) -> None:
        check(self.adc_share >= 1, "adc_share", self.adc_share, "an integer >= 1")

    def describe(self) -> str:
        return self.design.describe(self.table.spec, self.table.weights)


def crossbar_model(nerf: NerfField, table: sched.TileTable, design: designs.DesignPoint,
                   calibration: dict[str, np.ndarray], adc_share: int) -> Crossbar:
    """``nerf`` mapped onto ``table``'s tiles as ``design`` chooses (its table: ``table``)."""
    geometry = design.geometry(table.spec, table.weights)
    check(geometry.rows == table.spec.rows and geometry.cols == table.spec.cols, "design tile",
          f"{geometry.rows}x{geometry.cols}", f"the table's {table.spec.rows}x{table.spec.cols}")
    return Crossbar(nerf, table, map_model(nerf.mlp, geometry), calibration, adc_share, design)


@dataclass(frozen=True, slots=True)
class CrossbarRender:
    """One render through the crossbar model, compared with the float and the scene renders."""

    settings: acc.Nonideality
    image: np.ndarray = field(repr=False)
    psnr_float_db: float
    psnr_scene_db: float
    cost: sched.ModelCost = field(repr=False)
    label: str = "crossbar"
    ssim_float: float = math.nan
    ssim_scene: float = math.nan
    design: str = ""
    ir_error: tuple[float, float, float] | None = None  # median raw, median and worst after
    finetune: str = ""  # how the MLP was fine-tuned ("" : not)
    figures: str = "generic tile"  # where latency and energy came from, or "co-simulated"

    @property
    def frame_energy_j(self) -> float:
        return self.cost.total(_ENERGY_SCHEDULE).frame_energy_j

    @property
    def frame_latency_s(self) -> float:
        return self.cost.total(_ENERGY_SCHEDULE).frame_latency_s


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
    ladder: tuple[CrossbarRender, ...] = ()
    design_axes: tuple[str, ...] = ()
    design_sweep: tuple[CrossbarRender, ...] = ()
    design_points: tuple[designs.DesignPoint, ...] = ()

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


CALIBRATION_VIEWS = 3
"""Orbit views, a quarter turn apart from the rendered one and from each other, whose samples
calibrate the crossbar: the same scene seen from elsewhere, never the frame scored."""


def calibration_samples(frame: Frame, bound: float, points: int, seed: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``points`` samples (positions and directions) inside the cube from
    :data:`CALIBRATION_VIEWS` other orbit views of ``frame``'s size, drawn with ``seed``."""
    rng = np.random.default_rng([seed, 3])
    found_p, found_d = [], []
    for k in range(1, CALIBRATION_VIEWS + 1):
        (origins, dirs), near, far = default_view(
            frame.height_px, frame.width_px, bound=bound,
            azimuth=DEFAULT_AZIMUTH + 2 * math.pi * k / (CALIBRATION_VIEWS + 1))
        origins, dirs = origins.reshape(-1, 3), dirs.reshape(-1, 3)
        # a ray gives many samples: as many rays as points per view is plenty, and keeps a
        # large frame's other views from costing a frame each
        rays = np.sort(rng.choice(len(origins), min(len(origins), points), replace=False))
        p, d = inside_samples((origins[rays], dirs[rays]), frame, near, far, bound)
        found_p.append(p)
        found_d.append(d)
    p, d = np.concatenate(found_p), np.concatenate(found_d)
    check(len(p) > 0, "frame", frame, "views with samples inside the scene's cube")
    pick = np.sort(rng.choice(len(p), min(len(p), points), replace=False))
    return p[pick], d[pick]


def _programmed_key(settings: acc.Nonideality) -> acc.Nonideality:
    """The settings that decide how tiles are programmed (not what happens at read time)."""
    return dataclasses.replace(settings, adc_bits=None, dac_bits=None, read_noise=0.0,
                               adc_range="calibrated", calibrate=True)


def render_crossbar(model: Crossbar, settings: acc.Nonideality, frame: Frame, rays: Rays,
                    near: float, far: float,
                    programmed: dict[acc.Nonideality, dict[str, acc.ProgrammedLayer]]
                    ) -> np.ndarray:
    """The frame with every layer on the crossbar model. Tiles programmed for settings that
    differ only in what happens at read time are reused from ``programmed``, so a sweep of
    the ADC (bits or range), the DAC, the read noise or the column calibration programs (and
    factorises) the tiles once."""
    spec, weights = model.table.spec, model.table.weights
    key = _programmed_key(settings)
    if key not in programmed:
        programmed[key] = acc.program(model.nerf.mlp, model.mapping, spec, weights, settings,
                                      model.calibration)
    hook = acc.analog_matmul(programmed[key], spec, weights, settings)
    return render(functools.partial(model.nerf.field, matmul=hook), rays, frame.samples_per_ray,
                  near, far)


def _ir_error(layers: dict[str, acc.ProgrammedLayer]) -> tuple[float, float, float] | None:
    tiles = [t for layer in layers.values() for t in layer.tiles if math.isfinite(t.ir_error)]
    if not tiles:
        return None
    return (float(np.median([t.ir_error_raw for t in tiles])),
            float(np.median([t.ir_error for t in tiles])), max(t.ir_error for t in tiles))


@dataclass(frozen=True, slots=True)
class Mitigations:
    """What :func:`run_nerf` adds on top of ``settings`` and the table: a design point
    (``design``, its tables found or simulated under ``simulate_dir``), fine-tuning
    (``finetune``: its settings, cached under ``cache_dir``; None: none), the ladder of them
    added one at a time, and a design sweep (axes of :data:`~spicecim.cost.design.DESIGN_AXES`
    on top of ``design``)."""

    design: designs.DesignPoint = designs.BASELINE
    finetune: FinetuneSettings | None = None
    ladder: bool = False
    design_sweep: tuple[tuple[str, tuple[float, ...]], ...] = ()
    simulate_dir: Path | None = None
    cache_dir: Path | None = None
    workers: int | None = None


def run_nerf(scene: Scene, nerf: NerfField, table: sched.TileTable, frame: Frame,
             settings: acc.Nonideality, sweep: tuple[str, Sequence[float]] | None = None, *,
             model: str = "nerf-4x256", weights: str = "", calibration_points: int = 8192,
             adc_share: int | None = None, mitigations: Mitigations = Mitigations(),
             progress: Callable[[str], None] | None = None,
             cosim_run: Path | None = None) -> NerfResult:
    """Render ``frame`` from the scene, the float ``nerf`` (fitted to it) and the crossbar model
    of ``table``'s tile with ``settings`` and ``mitigations``; with ``sweep`` (an axis of
    accuracy.SWEEP_AXES and its values) once more per value on top of ``settings``.

    Each layer's DAC input scale, ADC range and column calibration come from up to
    ``calibration_points`` samples of other views than the one rendered
    (:func:`calibration_samples`), so the PSNR is not that of a crossbar fitted to the frame it
    is scored on. ``model`` and ``weights``
    only describe the MLP in the report; ``progress`` is told of each render as it starts and
    ends (a render through the crossbars takes minutes at the demo's frame).

    ``cosim_run``: a co-simulation of this model (``spicecim simulate --model --scene``) whose
    tile ``table`` is; a render of its configuration (its tile, one device per weight, every
    row at once) takes each layer's latency and energy from it, any other design point from a
    generic tile of its own configuration (found or simulated as ever), and each says which."""
    tell = progress or (lambda _: None)
    check(calibration_points >= 1, "calibration_points", calibration_points, "an integer >= 1")
    rays, near, far = view(frame, scene.bound)
    points, dirs = inside_samples(rays, frame, near, far, scene.bound)
    check(len(points) > 0, "frame", frame, "a view with samples inside the scene's cube")
    calibration = nerf.encode(*calibration_samples(frame, scene.bound, calibration_points,
                                                   settings.seed))
    share = adc_share or table.adc_share
    mit = mitigations
    if cosim_run is not None:
        _check_cosimulation(cosim_run, nerf, share)

    n = frame.samples_per_ray
    scene_image = render(scene.query, rays, n, near, far)
    float_image = render(nerf.field, rays, n, near, far)

    def crossbar_of(design: designs.DesignPoint) -> Crossbar:
        if cosim_run is not None and _cosimulated(design, table):
            return dataclasses.replace(crossbar_model(nerf, table, design, calibration, share),
                                       cosim=cosim_run)
        found = designs.design_table(design, table, mit.simulate_dir, workers=mit.workers,
                                     seed=settings.seed)
        if found is None:
            label = design.label(table.spec, table.weights)
            raise SpecError(f"no tables of the design point {label}: give a folder to "
                            "simulate them in")
        return crossbar_model(nerf, found, design, calibration, share)

    def through(xbar: Crossbar, s: acc.Nonideality, label: str,
                finetune: FinetuneSettings | None, programmed: dict) -> CrossbarRender:
        tuned, how = xbar, ""
        started = time.perf_counter()
        tell(f"{label}: {xbar.describe()} ...")
        if finetune is not None:
            tuned, how = _finetuned(xbar, scene, s, finetune, mit.cache_dir, programmed)
            programmed = {}
        image = render_crossbar(tuned, s, frame, rays, near, far, programmed)
        key = next(iter(programmed))
        tell(f"{label}: PSNR {_db(psnr(image, float_image))} against the float render "
             f"({time.perf_counter() - started:.0f} s)")
        return CrossbarRender(
            s, image, psnr(image, float_image), psnr(image, scene_image),
            frame_cost(xbar.mapping, xbar.table, frame, xbar.adc_share, s.adc_bits, xbar.cosim),
            label, ssim(image, float_image), ssim(image, scene_image), xbar.describe(),
            _ir_error(programmed[key]), how,
            "generic tile" if xbar.cosim is None else "co-simulated")

    main_model = crossbar_of(mit.design)
    main_programmed: dict = {}
    ladder: tuple[CrossbarRender, ...] = ()
    if mit.ladder:
        plain = dataclasses.replace(settings, ir_aware=False)
        aware = dataclasses.replace(settings, ir_aware=True)
        base = crossbar_of(designs.BASELINE)
        lines = [through(base, plain, "none", None, {}),
                 through(main_model, plain, "+ design point", None, {}),
                 through(main_model, aware, "+ IR-drop-aware programming", None,
                         main_programmed)]
        if mit.finetune is not None:
            lines.append(through(main_model, aware, "+ fine-tuning", mit.finetune,
                                 dict(main_programmed)))
        ladder = tuple(lines)
        main = ladder[-1]
    else:
        main = through(main_model, settings, "crossbar", mit.finetune, main_programmed)

    renders: tuple[CrossbarRender, ...] = ()
    if sweep is not None:
        axis, values = sweep
        renders = tuple(main if s == main.settings else
                        through(main_model, s, f"{axis}", mit.finetune, {})
                        for s in acc.sweep_settings(main.settings, {axis: values}))
    points_d: list[designs.DesignPoint] = []
    swept: tuple[CrossbarRender, ...] = ()
    if mit.design_sweep:
        axes = {name: list(values) for name, values in mit.design_sweep}
        points_d = designs.sweep_points(mit.design, axes)
        swept = tuple(through(crossbar_of(p), main.settings,
                              p.label(table.spec, table.weights), mit.finetune, {})
                      for p in points_d)
    return NerfResult(model, weights, main_model, frame, len(points) / frame.samples,
                      scene_image, float_image, psnr(float_image, scene_image), main,
                      None if sweep is None else sweep[0], renders, ladder,
                      tuple(name for name, _ in mit.design_sweep), swept, tuple(points_d))


def _cosimulated(design: designs.DesignPoint, table: sched.TileTable) -> bool:
    """Whether ``design`` on ``table``'s tile is what a co-simulation simulates: its tile, one
    device per weight, every row read at once."""
    geometry = design.geometry(table.spec, table.weights)
    return (table.matches(design.spec(table.spec), design.weights(table.weights))
            and geometry.devices_per_weight == 1 and geometry.rows_per_read is None)


def is_cosimulation(path: Path | str) -> bool:
    """Whether the run file at ``path`` holds a model's co-simulation (``simulate --model``)."""
    from spicecim.store.hdf5 import open_run

    with open_run(path) as run:
        return run.model is not None


def check_cosim_share(path: Path | str, adc_share: int | None) -> None:
    """Refuse (one line) other columns per ADC than the co-simulation in ``path`` formed its
    schedules with (None: its own)."""
    from spicecim.store.hdf5 import open_run

    with open_run(path) as run:
        own = int(run.simulation["adc_share"])
    if adc_share is not None and adc_share != own:
        raise SpecError(f"adc_share={adc_share} is invalid with the co-simulation in {path}: "
                        f"expected its {own} columns per ADC (drop --adc-share)")


def _check_cosimulation(path: Path, nerf: NerfField, adc_share: int) -> None:
    """Refuse (one line) a co-simulation of another model or other weights, or with other
    columns per ADC than ``adc_share``, before any render."""
    from spicecim.cost import cosim
    from spicecim.store.hdf5 import open_run

    check_cosim_share(path, adc_share)
    with open_run(path) as run:
        cosim.check_model(run, nerf.mlp)


def _finetuned(xbar: Crossbar, scene: Scene, settings: acc.Nonideality, ft: FinetuneSettings,
               cache_dir: Path | None, programmed: dict) -> tuple[Crossbar, str]:
    """``xbar`` with its MLP fine-tuned through its crossbars (``programmed``: tiles already
    programmed from the float weights, reused)."""
    from spicecim.analog import finetune  # loads JAX: only when fine-tuning

    spec, weights = xbar.table.spec, xbar.table.weights
    key = _programmed_key(settings)
    layers = programmed.get(key) or acc.program(xbar.nerf.mlp, xbar.mapping, spec, weights,
                                                settings, xbar.calibration)
    tuned, seconds = finetune.cached_finetune(cache_dir or default_cache_dir(), xbar.nerf, scene,
                                              layers, xbar.mapping, spec, weights, settings,
                                              xbar.calibration, ft)
    how = (f"{ft.steps} steps, {'cached' if seconds is None else f'{seconds:.0f} s'}")
    return dataclasses.replace(xbar, nerf=tuned), how


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
        f"{'float MLP':<12}{_db(result.float_psnr_db):>16}{'-':>16}"
        f"{ssim(result.float_image, result.scene_image):>15.4f}{'-':>15}",
        f"{'crossbar':<12}{_db(x.psnr_scene_db):>16}{_db(x.psnr_float_db):>16}"
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
        lines += [f"  {_setting(p.settings, axis):>12}{_db(p.psnr_float_db):>16}"
                  f"{_db(p.psnr_scene_db):>16}{si(p.frame_energy_j, 'J'):>14}"
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
        out.append(f"  {p.label:<30}{_db(p.psnr_float_db) + f' / {p.ssim_float:.3f}':>22}"
                   f"{_db(p.psnr_scene_db) + f' / {p.ssim_scene:.3f}':>22}"
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
        out.append(f"{flag}{p.label:<34}{_db(p.psnr_float_db):>14}{p.ssim_float:>7.3f}"
                   f"{_db(p.psnr_scene_db):>14}{si(p.frame_latency_s, 's'):>15}"
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
