"""NeRF end to end: one view of the built-in scene through the float MLP and the crossbar model.

The MLP is fitted to :func:`spicecim.models.scene.default_scene` (weights cached, so a
second run does not fit again) and rendered three ways from the same camera and the same
deterministic sample depths: the analytic scene (the reference), the float MLP, and the MLP
with every layer's product on the crossbar model of :mod:`spicecim.analog.accuracy`, whose
DAC input scales, ADC ranges and column gains are set on samples of other views than the one
rendered (:func:`spicecim.nerf.frame.calibration_samples`). PSNR (peak 1.0) and SSIM
(:mod:`spicecim.nerf.quality`) compare the renders.

Mitigations (:func:`run_nerf`): a design point (:class:`~spicecim.cost.design.DesignPoint`:
tile size, row parallelism, conductance range, bits per device, bit slicing and copies), costed
from a co-simulation of its own tiles when the run given is a model's co-simulation
(:mod:`spicecim.nerf.points`), else from tables of its own configuration; IR-drop-aware
programming (``Nonideality.ir_aware``, :mod:`spicecim.analog.programming`); noise-aware
fine-tuning of the MLP (:mod:`spicecim.analog.finetune`). ``ladder=True`` renders them added
one at a time (none; + design point; + IR-drop-aware programming; + fine-tuning), and a
design sweep renders every point of a grid of design choices (:mod:`spicecim.cost.design`).

A frame's latency and energy: :mod:`spicecim.nerf.frame`; what is printed and written:
:mod:`spicecim.nerf.outputs`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spicecim import progress
from spicecim.analog import accuracy as acc
from spicecim.analog import scoring
from spicecim.cost import design as designs
from spicecim.cost import schedule as sched
from spicecim.cost.mapping import ModelMapping, map_model
from spicecim.errors import SpecError, check, raise_if_stopped
from spicecim.models.presets import NerfField, default_cache_dir
from spicecim.models.scene import Scene
from spicecim.nerf.analog_field import FRAME_POINTS, CrossbarField
from spicecim.nerf.frame import (
    Frame,
    calibration_samples,
    check_cosim_share,
    frame_cost,
    inside_samples,
    view,
)
from spicecim.nerf.programmed import programmed_layers, programming_settings
from spicecim.nerf.quality import ssim
from spicecim.nerf.render import Rays, psnr, render

if TYPE_CHECKING:  # finetune loads JAX: imported where fine-tuning runs
    from spicecim.analog.finetune import FinetuneSettings

# Each schedule activates and converts every column once (spicecim.measure.schedule_layer):
# energies are equal across schedules, so one of them stands for all in the energy columns.
_ENERGY_SCHEDULE = "fully_parallel"


def device_settings(table: sched.TileTable, **overrides: Any) -> acc.Nonideality:
    """The tables' bits, the default variation and read noise, IR drop on, then ``overrides``."""
    return acc.Nonideality.of(table.spec, table.weights, **overrides)


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


def render_crossbar(model: Crossbar, settings: acc.Nonideality, frame: Frame, rays: Rays,
                    near: float, far: float,
                    programmed: dict[acc.Nonideality, dict[str, acc.ProgrammedLayer]],
                    label: str = "render", cache_dir: Path | None = None) -> np.ndarray:
    """The frame with every layer on the crossbar model (:class:`CrossbarField`: the whole
    MLP compiled per batch of samples), under a bar of the samples read (``label``). Tiles
    programmed for settings that differ only in what happens at read time are reused from
    ``programmed``, so a sweep of the ADC (bits or range), the DAC, the read noise or the
    column calibration programs (and factorises) the tiles once; with ``cache_dir``, tiles
    programmed by an earlier run are read from it (:mod:`spicecim.nerf.programmed`)."""
    spec, weights = model.table.spec, model.table.weights
    key = programming_settings(settings)
    if key not in programmed:
        tiles = sum(layer.row_tiles * layer.col_tiles for layer in model.mapping.layers)
        with progress.counting(tiles, "tile", f"{label}: programming") as bar:
            programmed[key] = programmed_layers(model.nerf.mlp, model.mapping, spec, weights,
                                                settings, model.calibration, cache_dir,
                                                bar.update)
    inside = len(inside_samples(rays, frame, near, far, model.nerf.bound)[0])
    with progress.counting(inside, "sample", f"{label}: render") as bar:
        field_fn = CrossbarField(model.nerf, programmed[key], spec.driver.v_full_v, weights,
                                 settings, done=bar.update)
        return render(field_fn, rays, frame.samples_per_ray, near, far,
                      max_points=max(frame.samples_per_ray, FRAME_POINTS))


def format_db(value: float) -> str:
    """A PSNR as the reports print it."""
    return "inf dB" if math.isinf(value) else f"{value:.2f} dB"

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
    (``finetune``: its settings, cached under ``cache_dir``; None: none; the tiles programmed
    are kept there too, :mod:`spicecim.nerf.programmed`), the ladder of them
    added one at a time, and a design sweep (axes of :data:`~spicecim.cost.design.DESIGN_AXES`
    on top of ``design``)."""

    design: designs.DesignPoint = designs.BASELINE
    finetune: FinetuneSettings | None = None
    ladder: bool = False
    design_sweep: tuple[tuple[str, tuple[float, ...]], ...] = ()
    simulate_dir: Path | None = None
    cache_dir: Path | None = None
    workers: int | None = None
    engine: str | None = None  # of those simulations (None: the co-simulation's, or ngspice)
    yes: bool = False  # run co-simulations of design points estimated over the limit


def run_nerf(scene: Scene, nerf: NerfField, table: sched.TileTable, frame: Frame,
             settings: acc.Nonideality, sweep: tuple[str, Sequence[float]] | None = None, *,
             model: str = "nerf-4x256", weights: str = "", calibration_points: int = 8192,
             adc_share: int | None = None, mitigations: Mitigations = Mitigations(),
             progress: Callable[[str], None] | None = None,
             cosim_run: Path | None = None) -> NerfResult:
    """Render ``frame`` from the scene, the float ``nerf`` (fitted to it) and the crossbar model
    of ``table``'s tile with ``settings`` and ``mitigations``; with ``sweep`` (an axis of
    scoring.SWEEP_AXES and its values) once more per value on top of ``settings``.

    Each layer's DAC input scale, ADC range and column calibration come from up to
    ``calibration_points`` samples of other views than the one rendered
    (:func:`~spicecim.nerf.frame.calibration_samples`), so the PSNR is not that of a crossbar
    fitted to the frame it is scored on. ``model`` and ``weights``
    only describe the MLP in the report; ``progress`` is told of each render as it starts and
    ends (a render through the crossbars takes minutes at the demo's frame).

    ``cosim_run``: a co-simulation of this model (``spicecim simulate --model --scene``) whose
    tile ``table`` is; a render of its configuration takes each layer's latency and energy
    from it, any other design point from a co-simulation of that design point's own tiles
    driven by the same inputs (found or simulated under ``mitigations.simulate_dir``,
    :func:`spicecim.nerf.points.design_run`); without it, every design point is costed from
    a generic tile of its configuration. Each render says which."""
    tell = progress or (lambda _: None)
    check(calibration_points >= 1, "calibration_points", calibration_points, "an integer >= 1")
    rays, near, far = view(frame, scene.bound)
    points, dirs = inside_samples(rays, frame, near, far, scene.bound)
    check(len(points) > 0, "frame", frame, "a view with samples inside the scene's cube")
    calibration = nerf.encode(*calibration_samples(frame, scene.bound, calibration_points,
                                                   settings.seed))
    share = adc_share or table.adc_share
    mit = mitigations
    cosim_geometry = None if cosim_run is None else _check_cosimulation(cosim_run, nerf, share)

    if cosim_run is not None and mit.simulate_dir is not None:
        from spicecim.nerf.points import check_duration  # the simulator: only here

        wanted = [mit.design] + [designs.BASELINE] * mit.ladder + designs.sweep_points(
            mit.design, {name: list(values) for name, values in mit.design_sweep})
        check_duration(cosim_run, nerf, [d for d in wanted
                                         if not _cosimulated(d, table, cosim_geometry)],
                       mit.simulate_dir, engine=mit.engine, workers=mit.workers, yes=mit.yes)
    n = frame.samples_per_ray
    scene_image = render(scene.query, rays, n, near, far)
    float_image = render(nerf.field, rays, n, near, far)

    def crossbar_of(design: designs.DesignPoint) -> Crossbar:
        if cosim_run is not None:
            path, own = cosim_run, table
            if not _cosimulated(design, table, cosim_geometry):
                if mit.simulate_dir is None:
                    raise SpecError(f"no co-simulation of the design point "
                                    f"{design.label(table.spec, table.weights)}: give a folder "
                                    "to co-simulate it in")
                from spicecim.nerf.points import design_run  # the simulator: only here

                path = design_run(cosim_run, nerf, design, mit.simulate_dir,
                                  engine=mit.engine, workers=mit.workers, tell=tell)
                own = sched.cosim_tile_table(path)
            return dataclasses.replace(crossbar_model(nerf, own, design, calibration, share),
                                       cosim=path)
        found = designs.design_table(design, table, mit.simulate_dir, workers=mit.workers,
                                     seed=settings.seed, engine=mit.engine)
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
        image = render_crossbar(tuned, s, frame, rays, near, far, programmed, label,
                                mit.cache_dir)
        raise_if_stopped()  # a stop dropped after the render's last batch: not a result
        key = programming_settings(s)
        tell(f"{label}: PSNR {format_db(psnr(image, float_image))} against the float render "
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
                        through(main_model, s, f"{axis}", mit.finetune, main_programmed)
                        for s in scoring.sweep_settings(main.settings, {axis: values}))
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


def _cosimulated(design: designs.DesignPoint, table: sched.TileTable,
                 geometry: dict[str, object] | None) -> bool:
    """Whether ``design`` on ``table``'s tile is what the co-simulation of ``table`` simulated:
    its tile and conductances, its ``geometry`` (slices, copies, rows per read)."""
    from spicecim.cost import cosim

    return (table.matches(design.spec(table.spec), design.weights(table.weights))
            and cosim.geometry_of(design.geometry(table.spec, table.weights)) == geometry)


def _check_cosimulation(path: Path, nerf: NerfField, adc_share: int) -> dict[str, object]:
    """Refuse (one line) a co-simulation of another model or other weights, or with other
    columns per ADC than ``adc_share``, before any render; its tiles' geometry."""
    from spicecim import open_run
    from spicecim.cost import cosim

    check_cosim_share(path, adc_share)
    with open_run(path) as run:
        cosim.check_model(run, nerf.mlp)
        return cosim.run_geometry(run)


def _finetuned(xbar: Crossbar, scene: Scene, settings: acc.Nonideality, ft: FinetuneSettings,
               cache_dir: Path | None, programmed: dict) -> tuple[Crossbar, str]:
    """``xbar`` with its MLP fine-tuned through its crossbars (``programmed``: tiles already
    programmed from the float weights, reused)."""
    from spicecim.analog import finetune  # loads JAX: only when fine-tuning

    spec, weights = xbar.table.spec, xbar.table.weights
    key = programming_settings(settings)
    layers = programmed.get(key) or programmed_layers(xbar.nerf.mlp, xbar.mapping, spec,
                                                      weights, settings, xbar.calibration,
                                                      cache_dir)
    tuned, seconds = finetune.cached_finetune(cache_dir or default_cache_dir(), xbar.nerf, scene,
                                              layers, xbar.mapping, spec, weights, settings,
                                              xbar.calibration, ft)
    how = (f"{ft.steps} steps, {'cached' if seconds is None else f'{seconds:.0f} s'}")
    return dataclasses.replace(xbar, nerf=tuned), how
