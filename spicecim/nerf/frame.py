"""A frame of the built-in view and its figures: the pixels and samples per ray
(:class:`Frame`), the default orbit camera's rays, the samples the renderer puts to the MLP
(those inside the scene's cube), and the frame's latency and energy from the tables.

Latency and energy of a frame are the tables' (:mod:`spicecim.cost.schedule`): a frame is
``width x height x samples_per_ray`` samples, each through every layer, whether or not it lies
inside the scene's cube (the renderer itself skips those outside, where the density is 0 by
definition; the report gives their share). The one figure not read from the tables is the
ADC's energy per conversion at a resolution other than the tables': it is scaled by the
ISAAC/Saberi curve (:func:`spicecim.cost.schedule.scaled_adc`), so a sweep of ``adc_bits``
trades accuracy against energy; its conversion time stays the tables'.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spicecim.cost import schedule as sched
from spicecim.cost.mapping import ModelMapping
from spicecim.errors import ResultFileError, SpecError, check
from spicecim.nerf.render import DEFAULT_AZIMUTH, Rays, default_view, sample_depths


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


def frame_cost(mapping: ModelMapping, table: sched.TileTable, frame: Frame, adc_share: int,
               adc_bits: int | None = None, cosim_run: Path | None = None) -> sched.ModelCost:
    """The frame's figures from the tables (or, given ``cosim_run``, from the model's
    co-simulation there: every layer its own), their ADC scaled to ``adc_bits`` (None: as it
    is); every figure missing where the scaling has no cited figure."""
    adc = table.adc if adc_bits is None else sched.scaled_adc(table.adc, adc_bits)
    if cosim_run is not None and adc is not None:
        from spicecim import open_run
        from spicecim.cost import cosim  # imports the simulator: only for a co-simulation

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


def is_cosimulation(path: Path | str) -> bool:
    """Whether the run file at ``path`` holds a model's co-simulation (``simulate --model``)."""
    from spicecim import open_run

    with open_run(path) as run:
        return run.model is not None


def check_cosim_share(path: Path | str, adc_share: int | None) -> None:
    """Refuse (one line) other columns per ADC than the co-simulation in ``path`` formed its
    schedules with (None: its own)."""
    from spicecim import open_run

    with open_run(path) as run:
        own = int(run.simulation["adc_share"])
    if adc_share is not None and adc_share != own:
        raise SpecError(f"adc_share={adc_share} is invalid with the co-simulation in {path}: "
                        f"expected its {own} columns per ADC (drop --adc-share)")
