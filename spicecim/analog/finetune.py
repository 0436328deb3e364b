"""Noise-aware fine-tuning: the MLP trained through a differentiable model of its crossbars.

:func:`crossbar_forward` is a ``forward(params, inputs, key)`` for :func:`spicecim.models.fit.fit`
that reads every layer through the accuracy pass's own forward
(:func:`spicecim.analog.forward.read_layer`: DAC, read noise, converter at its tile's full
scale, the weight code's readout), with conductances that follow the weights being trained:

- weights mapped to device conductances by the tile's :class:`~spicecim.cost.slicing.WeightCode`
  (``w_max`` the layer's largest weight, as the programmer sets it), rounded to the device's
  levels, the most significant slice carrying the gradient;
- programming variation drawn afresh every step (``key``) on every copy by
  :func:`spicecim.analog.forward.vary`, its sigma
  :func:`~spicecim.netlist.weights.programming_sigma_s` at each device's level;
- IR drop as a linearised correction: each cell's current scaled by the ratio of its transfer
  admittance to its conductance in the tiles programmed from the starting weights
  (:class:`~spicecim.analog.accuracy.ProgrammedTile`), held fixed while the weights move;
  with IR-drop-aware programming the pre-distortion cancels it and the factor is 1.

Every rounding passes its gradient straight through (the straight-through estimator); the
noise and the scales are constants to the gradient. The per-column gain calibration of the
accuracy pass is not modelled (it is fitted after programming). :func:`finetune` distils the
float model: the loss is :func:`spicecim.models.fit.scene_loss` against the float MLP's own
outputs on the fit's training points, so the crossbar is pulled towards the float render.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from spicecim.analog import forward as fwd
from spicecim.analog.accuracy import Nonideality, ProgrammedLayer
from spicecim.cost.mapping import ModelMapping
from spicecim.cost.slicing import WeightCode
from spicecim.errors import SpecError, check
from spicecim.models import fit as fitting
from spicecim.models import jax_mlp
from spicecim.models.presets import NerfField
from spicecim.models.scene import Scene
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import WeightMapping, programming_sigma_s

_FINETUNE_VERSION = 2  # 2: through the accuracy pass's forward (issue 23)


@dataclass(frozen=True, slots=True)
class FinetuneSettings:
    """Adam steps from the float weights, batch, starting rate and its final fraction, seed."""

    steps: int = 800
    batch_size: int = 512
    learning_rate: float = 5e-4
    final_rate: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        check(isinstance(self.steps, int) and self.steps > 0, "finetune steps", self.steps,
              "an int > 0")
        check(isinstance(self.batch_size, int) and self.batch_size > 0, "batch_size",
              self.batch_size, "an int > 0")
        check(self.learning_rate > 0, "learning_rate", self.learning_rate, "a rate > 0")
        check(0 < self.final_rate <= 1, "final_rate", self.final_rate, "a fraction in (0, 1]")

    def fit_settings(self) -> fitting.FitSettings:
        return fitting.FitSettings(self.steps, self.batch_size, self.learning_rate,
                                   self.final_rate, self.seed)


@dataclass(frozen=True, slots=True)
class _Layer:
    """What the JAX forward needs of one programmed layer (constants)."""

    scale: float
    phases: int
    shapes: tuple[fwd.GroupShape, ...]  # the row groups, each reading every column
    ir_ratio: np.ndarray  # (fan_in, columns): transfer / conductance, 1 where unmodelled
    full_a: np.ndarray  # (groups, columns): converter full scale of each group's columns


def _layer_constants(layer: ProgrammedLayer, fan_in: int, columns: int, per_output: int,
                     copies: int, linearise: bool, calibrated: bool) -> _Layer:
    groups = sorted({(t.rows.start, t.rows.stop) for t in layer.tiles})
    index = {g: k for k, g in enumerate(groups)}
    ratio = np.ones((fan_in, columns))
    full = np.ones((len(groups), columns))
    for t in layer.tiles:
        cols = slice(t.outputs.start * per_output, t.outputs.stop * per_output)
        full[index[(t.rows.start, t.rows.stop)], cols] = fwd.full_scale_a(t, calibrated)
        if linearise:  # the copies' sum of g as sqrt(copies * sum of g^2): equal copies
            g = np.sqrt(copies * t.g_sq[:, :t.used_cols])
            ratio[t.rows, cols] = t.transfer[:, :t.used_cols] / g
    shapes = tuple(fwd.GroupShape(a, b, 0, per_output) for a, b in groups)
    return _Layer(layer.input_scale, layer.phases, shapes, ratio, full)


def crossbar_forward(field_or_mlp, layers: Mapping[str, ProgrammedLayer],  # noqa: ANN001
                     mapping: ModelMapping, spec: specs.CrossbarSpec, weights: WeightMapping,
                     settings: Nonideality) -> fitting.Forward:
    """A :data:`spicecim.models.fit.Forward` through the crossbar model (module docstring)
    of the tiles ``layers`` (programmed from the starting weights by
    :func:`spicecim.analog.accuracy.program`)."""
    mlp = getattr(field_or_mlp, "mlp", field_or_mlp)
    tile = mapping.tile
    s = settings
    bits = s.weight_bits
    if bits is None:
        raise SpecError("weight_bits=None is invalid: expected an integer: fine-tuning learns "
                        "the device levels")
    per_output = 2 * tile.slices if weights.scheme == "differential" else 0
    copies = tile.copies
    check(per_output > 0, "weights_scheme", weights.scheme, "'differential' for fine-tuning")
    code = WeightCode(weights, bits, tile.slices, copies)
    levels = 1 << bits
    q_max = float((1 << (bits * tile.slices)) - 1)
    step_s = (weights.g_max_s - weights.g_min_s) / (levels - 1)
    level_s = weights.g_min_s + step_s * np.arange(levels)
    sigma_s = jnp.asarray(programming_sigma_s(level_s, weights.g_max_s, s.variation_model))
    mem = spec.cell.memristor
    significance = jnp.asarray(levels ** np.arange(tile.slices - 1, -1, -1, dtype=float))
    linearise = s.ir_drop and not s.ir_aware
    calibrated = s.adc_range == "calibrated"
    consts = {layer.name: _layer_constants(layers[layer.name], layer.fan_in,
                                           layer.fan_out * per_output, per_output, copies,
                                           linearise, calibrated)
              for layer in mlp.layers}
    readouts = {layer.name: fwd.compact(fwd.readout_matrix(code, layer.fan_out * per_output), 0)
                for layer in mlp.layers}
    # the column calibration is fitted after programming: not a part of what is trained
    config = fwd.ReadConfig.of(dataclasses.replace(s, calibrate=False))
    numbers = fwd.ReadNumbers.of(s)
    v_full = spec.driver.v_full_v
    names = [layer.name for layer in mlp.layers]

    def conductances(w: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """The rows' conductances (copies summed), their squares summed, and ``w_max``."""
        w_max = jax.lax.stop_gradient(jnp.max(jnp.abs(w)))
        u = jnp.clip(w / w_max, -1.0, 1.0)
        q = jnp.round(jax.lax.stop_gradient(jnp.abs(u)) * q_max)
        digits = jnp.floor(q[..., None] / significance) % levels  # (in, out, slices)
        value = weights.g_min_s + digits * step_s
        pos = jnp.where(u[..., None] > 0, value, weights.g_min_s)
        neg = jnp.where(u[..., None] < 0, value, weights.g_min_s)
        # The gradient path: the most significant slice moves by the whole weight.
        lin = step_s * q_max / significance[0]
        path = jnp.zeros(tile.slices).at[0].set(1.0)
        pos = pos + path * (lin * jax.nn.relu(u) - jax.lax.stop_gradient(lin * jax.nn.relu(u)))[
            ..., None]
        neg = neg + path * (lin * jax.nn.relu(-u)
                            - jax.lax.stop_gradient(lin * jax.nn.relu(-u)))[..., None]
        g = jnp.repeat(jnp.stack([pos, neg], axis=-1).reshape(w.shape[0], -1), copies, axis=0)
        if s.variation > 0:
            level = jnp.stack([jnp.where(u[..., None] > 0, digits, 0),
                               jnp.where(u[..., None] < 0, digits, 0)], axis=-1)
            sigma = jnp.repeat(sigma_s[level.astype(jnp.int32).reshape(w.shape[0], -1)],
                               copies, axis=0)
            g = fwd.vary(g, sigma, jax.random.normal(key, g.shape), s.variation, mem.g_off_s,
                         mem.g_on_s)
        per_input = (w.shape[0], copies, g.shape[1])
        return g.reshape(per_input).sum(1), (g * g).reshape(per_input).sum(1), w_max

    def forward(params: jax_mlp.Params, inputs, key: jax.Array) -> dict[str, jax.Array]:  # noqa: ANN001
        keys = dict(zip(names, jax.random.split(key, len(names)), strict=True))

        def matmul(name: str, x: jax.Array, w: jax.Array) -> jax.Array:
            c, readout = consts[name], readouts[name]
            assert readout is not None  # the differential scheme's readout is per column
            k_prog, k_read = jax.random.split(keys[name])
            g, g_sq, w_max = conductances(w, k_prog)
            g_eff = g * c.ir_ratio
            ones = jnp.ones(g.shape[1])
            groups = [fwd.ReadGroup(g_eff[sh.start:sh.stop], g_sq[sh.start:sh.stop], c.full_a[k],
                                    ones, 0 * ones, jnp.asarray(readout[1]))
                      for k, sh in enumerate(c.shapes)]
            z = jax.random.normal(k_read, (x.shape[0], fwd.noise_columns(groups, c.phases)))
            return fwd.read_layer(x, groups, c.shapes, z, config, numbers, c.scale,
                                  w_max, v_full, c.phases, w.shape[1])

        return jax_mlp.forward(mlp, params, inputs, matmul)

    return forward


def distillation_batches(scene: Scene, float_field: NerfField, batch_size: int):  # noqa: ANN201
    """Training batches on the fit's points, targets the float MLP's own outputs."""

    def batches(rng: np.random.Generator):  # noqa: ANN202
        inputs, scene_targets = fitting._training_batch(scene, float_field, batch_size, rng)
        out = float_field.mlp.forward(inputs)
        sigma = np.asarray(out["sigma"][:, 0], np.float32)
        occupancy = np.minimum(sigma / scene.sigma_max, 1.0).astype(np.float32)
        del scene_targets
        return inputs, {"sigma": sigma, "rgb": np.asarray(out["rgb"], np.float32),
                        "occupancy": occupancy}

    return batches


def finetune(field: NerfField, scene: Scene, layers: Mapping[str, ProgrammedLayer],
             mapping: ModelMapping, spec: specs.CrossbarSpec, weights: WeightMapping,
             settings: Nonideality, ft: FinetuneSettings = FinetuneSettings()
             ) -> tuple[NerfField, fitting.FitResult]:
    """``field`` fine-tuned through its crossbars (``layers``: the tiles programmed from it)."""
    forward = crossbar_forward(field, layers, mapping, spec, weights, settings)
    result = fitting.fit(field.mlp, distillation_batches(scene, field, ft.batch_size),
                         fitting.scene_loss, ft.fit_settings(), forward=forward)
    return NerfField(result.mlp, field.bound, field.pos_levels, field.dir_levels), result


def cache_key(field: NerfField, mapping: ModelMapping, spec: specs.CrossbarSpec,
              weights: WeightMapping, settings: Nonideality, ft: FinetuneSettings,
              calibration: Mapping[str, np.ndarray]) -> str:
    """What a fine-tuned model depends on: the starting weights, the tile, the settings, the
    calibration batch, the recipe and the JAX/optax versions."""
    h = hashlib.sha256()
    for layer in field.mlp.layers:
        h.update(np.ascontiguousarray(layer.weight).tobytes())
        h.update(np.ascontiguousarray(layer.bias).tobytes())
    for name in sorted(calibration):
        h.update(np.ascontiguousarray(calibration[name]).tobytes())
    import optax

    h.update(repr((_FINETUNE_VERSION, jax.__version__, optax.__version__, mapping.tile,
                   spec.digest(), weights, settings, ft)).encode())
    return h.hexdigest()[:16]


def cached_finetune(cache_dir: str | os.PathLike, field: NerfField, scene: Scene,
                    layers: Mapping[str, ProgrammedLayer], mapping: ModelMapping,
                    spec: specs.CrossbarSpec, weights: WeightMapping, settings: Nonideality,
                    calibration: Mapping[str, np.ndarray],
                    ft: FinetuneSettings = FinetuneSettings()) -> tuple[NerfField, float | None]:
    """:func:`finetune`, reusing a model saved under ``cache_dir`` for the same
    :func:`cache_key`; returns the model and the fine-tuning's wall time (None: cached)."""
    key = cache_key(field, mapping, spec, weights, settings, ft, calibration)
    path = Path(cache_dir) / f"finetuned-{key}.npz"
    if path.exists():
        return NerfField.load(path), None
    tuned, result = finetune(field, scene, layers, mapping, spec, weights, settings, ft)
    path.parent.mkdir(parents=True, exist_ok=True)
    tuned.save(path)
    return tuned, result.seconds
