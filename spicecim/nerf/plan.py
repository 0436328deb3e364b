"""Co-simulation plans of a NeRF on the built-in scene: the model's inputs are a frame's own
samples (:func:`scene_plan`); :func:`make_plan` is the plan ``spicecim simulate --model`` runs
(public as ``spicecim.cosim_plan``): the scene's frame with ``scene``, else a file of inputs
(:func:`spicecim.cost.inputs.make_plan`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from spicecim import CrossbarSpec, WeightMapping
from spicecim.cost import inputs
from spicecim.cost.cosim import Plan
from spicecim.cost.design import BASELINE, DesignPoint
from spicecim.errors import SpecError, check
from spicecim.models.presets import NerfField, as_field, choose_model
from spicecim.nerf.frame import Frame, inside_samples, view
from spicecim.store.runs import Run

CALIBRATION_SAMPLES = 8192
"""Frame samples that set each layer's DAC scale: as ``spicecim nerf`` sets them."""


def scene_plan(nerf: NerfField, spec: CrossbarSpec, mapping: WeightMapping, frame: Frame,
               samples: int, *, model: str, weights: str, seed: int = 0,
               variation: float = 0.0, design: DesignPoint = BASELINE) -> Plan:
    """A NeRF field's plan on a frame of the built-in view: ``samples`` of the frame's own
    points in the scene's cube (the renderer's), and up to :data:`CALIBRATION_SAMPLES` of them
    for the DAC scales; the tiles programmed and read as ``design`` says (its slices, copies
    and rows per read; its tile and conductances are ``spec``'s and ``mapping``'s). The
    frame is recorded (``origin``), so another design point draws the very same inputs
    (:func:`design_plan`)."""
    rays, near, far = view(frame, nerf.bound)
    points, dirs = inside_samples(rays, frame, near, far, nerf.bound)
    check(len(points) > 0, "frame", frame, "a view with samples inside the scene's cube")
    check(1 <= samples <= len(points), "inputs", samples,
          f"1 to {len(points)} (the frame's samples inside the cube)")
    rng = np.random.default_rng([seed, 5])
    pick = np.sort(rng.choice(len(points), samples, replace=False))
    cal = np.sort(rng.choice(len(points), min(len(points), CALIBRATION_SAMPLES), replace=False))
    return Plan(nerf.mlp, spec, mapping, nerf.encode(points[pick], dirs[pick]),
                nerf.encode(points[cal], dirs[cal]), model=model, weights=weights,
                description=(f"{samples} of the {len(points)} samples in the cube of the "
                             f"{frame.width_px}x{frame.height_px} px x {frame.samples_per_ray} "
                             f"frame (seed {seed}); DAC scales from {len(cal)}"),
                variation=variation, seed=seed, slices=design.slices, copies=design.copies,
                rows_per_read=design.rows_per_read,
                origin={"scene_frame": [frame.width_px, frame.height_px, frame.samples_per_ray]})


def design_plan(run: Run, nerf: NerfField, design: DesignPoint) -> Plan:
    """The plan of ``design`` on top of the co-simulation in ``run`` (of ``nerf`` on the
    scene's frame): the same inputs, DAC scales, variation and seed, ``design``'s tiles."""
    model, weights = run.model, run.mapping
    frame = (model or {}).get("origin", {}).get("scene_frame")
    if model is None or frame is None or weights is None:
        raise SpecError(f"{run.path} holds no co-simulation of the scene's frame: expected one "
                        "made by this version of 'spicecim simulate --model NAME --scene' to "
                        "co-simulate another design point")
    return scene_plan(nerf, design.spec(run.spec), design.weights(weights), Frame(*frame),
                      int(model["samples"]), model=str(model["name"]),
                      weights=str(model["weights"]), seed=int(model["seed"]),
                      variation=float(model["variation"]), design=design)


def make_plan(model: str, spec: CrossbarSpec, mapping: WeightMapping, samples: int, *,
              weights_path: Path | None = None, scene: bool = False, frame: Frame | None = None,
              inputs_path: Path | None = None, cache_dir: Path | None = None,
              fit_steps: int = 3000, seed: int = 0, variation: float = 0.0,
              layers: tuple[str, ...] = (), max_tiles: int | None = None, slices: int = 1,
              copies: int = 1, rows_per_read: int | None = None) -> Plan:
    """The plan ``spicecim simulate --model`` runs. ``scene``: a NeRF preset's inputs are the
    built-in scene's ``frame`` (default 64x64 px x 32 samples), its weights fitted to the scene
    (cached, :func:`~spicecim.models.fit.cached_fit`) unless ``weights_path`` gives them;
    else the inputs come from ``inputs_path``. ``layers`` and ``max_tiles``: co-simulate a
    part of the model; ``slices``, ``copies`` and ``rows_per_read``: the tiles' design
    choices (:class:`~spicecim.cost.cosim.Plan`)."""
    plan = _whole_plan(model, spec, mapping, samples, weights_path=weights_path, scene=scene,
                       frame=frame, inputs_path=inputs_path, cache_dir=cache_dir,
                       fit_steps=fit_steps, seed=seed, variation=variation)
    return dataclasses.replace(plan, layers=layers, max_tiles=max_tiles, slices=slices,
                               copies=copies, rows_per_read=rows_per_read)


def _whole_plan(model: str, spec: CrossbarSpec, mapping: WeightMapping, samples: int, *,
                weights_path: Path | None, scene: bool, frame: Frame | None,
                inputs_path: Path | None, cache_dir: Path | None, fit_steps: int, seed: int,
                variation: float) -> Plan:
    if scene:
        if inputs_path is not None:
            raise SpecError("--scene and --inputs-file are invalid together: expected the "
                            "scene's frame or a file of inputs")
        if weights_path is None:
            from spicecim.models.fit import scene_model  # loads JAX: only for a fit

            field_, weights = scene_model(model, fit_steps=fit_steps, seed=seed,
                                          cache_dir=cache_dir)
        else:
            choice = choose_model(model, weights_path, seed=seed)
            nerf = as_field(choice.mlp)
            if nerf is None:
                raise SpecError(f"model {choice.name!r} is not a NeRF field (inputs pos/dir, "
                                "outputs sigma/rgb): expected one for --scene")
            field_, weights = nerf, choice.weights
        return scene_plan(field_, spec, mapping, frame or Frame(64, 64, 32), samples,
                          model=model, weights=weights, seed=seed, variation=variation)
    if inputs_path is None:
        raise SpecError("a co-simulation needs the model's inputs: expected --scene (a NeRF on "
                        "the built-in scene) or --inputs-file X.npy/.npz")
    return inputs.make_plan(model, spec, mapping, samples, inputs_path,
                           weights_path=weights_path, seed=seed, variation=variation)
