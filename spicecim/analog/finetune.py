"""Noise-aware fine-tuning: the MLP trained through a differentiable model of its crossbars.

:func:`crossbar_forward` is a ``forward(params, inputs, key)`` for :func:`spicecim.models.fit.fit`
that runs every layer the way :mod:`spicecim.analog.accuracy` reads it, in JAX:

- inputs scaled by the layer's calibrated input scale into the DAC's [0, 1], in one or two
  phases, and rounded to ``2^dac_bits`` levels;
- weights mapped to device conductances by the tile's :class:`~spicecim.cost.slicing.WeightCode`
  (``w_max`` the layer's largest weight, as the programmer sets it), rounded to the device's
  levels;
- programming variation ``sigma_G(G) z`` and read noise drawn afresh every step (``key``);
- IR drop as a linearised correction: each cell's current scaled by the ratio of its transfer
  admittance to its conductance in the tiles programmed from the starting weights
  (:class:`~spicecim.analog.accuracy.ProgrammedTile`), held fixed while the weights move;
  with IR-drop-aware programming the pre-distortion cancels it and the factor is 1;
- each row group's column currents rounded by the ADC at its tile's calibrated full scale.

Every rounding passes its gradient straight through (the straight-through estimator); the
noise and the scales are constants to the gradient. The per-column gain calibration of the
accuracy pass is not modelled (it is fitted after programming). :func:`finetune` distils the
float model: the loss is :func:`spicecim.models.fit.scene_loss` against the float MLP's own
outputs on the fit's training points, so the crossbar is pulled towards the float render.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from spicecim.analog.accuracy import Nonideality, ProgrammedLayer
from spicecim.cost.mapping import ModelMapping
from spicecim.errors import SpecError, check
from spicecim.models import fit as fitting
from spicecim.models import jax_mlp
from spicecim.models.presets import NerfField
from spicecim.models.scene import Scene
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import (
    MILO_OFFSET_US,
    MILO_SLOPE,
    WAN2022_COEFFS_US,
    WAN2022_G_MAX_S,
    WeightMapping,
)

_FINETUNE_VERSION = 1


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
    groups: tuple[tuple[int, int], ...]  # row ranges of the layer's inputs
    ir_ratio: np.ndarray  # (fan_in, columns): transfer / conductance, 1 where unmodelled
    full_a: np.ndarray  # (groups, columns): ADC full scale of each group's columns


def _layer_constants(layer: ProgrammedLayer, fan_in: int, columns: int, per_output: int,
                     copies: int, linearise: bool) -> _Layer:
    groups = sorted({(t.rows.start, t.rows.stop) for t in layer.tiles})
    index = {g: k for k, g in enumerate(groups)}
    ratio = np.ones((fan_in, columns))
    full = np.ones((len(groups), columns))
    for t in layer.tiles:
        cols = slice(t.outputs.start * per_output, t.outputs.stop * per_output)
        full[index[(t.rows.start, t.rows.stop)], cols] = t.adc_full_a if t.adc_full_a > 0 \
            else t.sized_full_a
        if linearise:  # the copies' sum of g as sqrt(copies * sum of g^2): equal copies
            g = np.sqrt(copies * t.g_sq[:, :t.used_cols])
            ratio[t.rows, cols] = t.transfer[:, :t.used_cols] / g
    return _Layer(layer.input_scale, layer.phases, tuple(groups), ratio, full)


def _sigma(model: str, g: jax.Array, g_max_s: float) -> jax.Array:
    if model == "wan2022":
        x = g / g_max_s
        poly = sum(c * x**i for i, c in enumerate(WAN2022_COEFFS_US))
        return jnp.maximum(poly, 0.0) * 1e-6 * (g_max_s / WAN2022_G_MAX_S)
    return jnp.maximum(MILO_SLOPE * g * 1e6 + MILO_OFFSET_US, 0.0) * 1e-6


def _round_ste(x: jax.Array) -> jax.Array:
    return x + jax.lax.stop_gradient(jnp.round(x) - x)


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
    levels = 1 << bits
    q_max = float((1 << (bits * tile.slices)) - 1)
    step_s = (weights.g_max_s - weights.g_min_s) / (levels - 1)
    significance = jnp.asarray(levels ** np.arange(tile.slices - 1, -1, -1, dtype=float))
    linearise = s.ir_drop and not s.ir_aware
    consts = {layer.name: _layer_constants(layers[layer.name], layer.fan_in,
                                           layer.fan_out * per_output, per_output, copies,
                                           linearise)
              for layer in mlp.layers}
    v_full = spec.driver.v_full_v
    names = [layer.name for layer in mlp.layers]

    def conductances(w: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
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
        g = jnp.stack([pos, neg], axis=-1).reshape(w.shape[0], -1)
        # The copies' sum: copies * G plus independent errors, sqrt(copies) sigma in all.
        g = copies * g
        if s.variation > 0:
            sigma = jax.lax.stop_gradient(_sigma(s.variation_model, g / copies,
                                                 weights.g_max_s))
            g = g + s.variation * np.sqrt(copies) * sigma * jax.random.normal(key, g.shape)
        return g, w_max

    def combine(current: jax.Array, w_max: jax.Array) -> jax.Array:
        shape = (*current.shape[:-1], current.shape[-1] // per_output, tile.slices, 2)
        pairs = current.reshape(shape)
        diff = pairs[..., 0] - pairs[..., 1]
        return diff @ significance * (w_max / (copies * step_s * q_max)) / v_full

    def read(c: _Layer, v: jax.Array, g: jax.Array, key: jax.Array) -> jax.Array:
        g_eff = g * c.ir_ratio
        total = jnp.asarray(0.0)  # weakly typed, as the Python 0.0: current's dtype wins
        for k, (a, b) in enumerate(c.groups):
            vg = v[:, a:b]
            current = vg @ g_eff[a:b]
            if s.read_noise > 0:
                g_sq = g[a:b] ** 2 / copies  # the copies' sum of squares (equal copies)
                sigma = jax.lax.stop_gradient(s.read_noise * jnp.sqrt((vg * vg) @ g_sq))
                current = current + sigma * jax.random.normal(jax.random.fold_in(key, k),
                                                              current.shape)
            if s.adc_bits is not None:
                lsb = c.full_a[k] / (1 << s.adc_bits)
                code = jnp.clip(_round_ste(current / lsb), 0, (1 << s.adc_bits) - 1)
                current = code * lsb
            total = total + current
        return total

    def forward(params: jax_mlp.Params, inputs, key: jax.Array) -> dict[str, jax.Array]:  # noqa: ANN001
        keys = dict(zip(names, jax.random.split(key, len(names)), strict=True))

        def matmul(name: str, x: jax.Array, w: jax.Array) -> jax.Array:
            c = consts[name]
            k_prog, k_read = jax.random.split(keys[name])
            g, w_max = conductances(w, k_prog)
            u = x / c.scale
            out = jnp.asarray(0.0)
            for phase, sign in enumerate((1.0, -1.0)[:c.phases]):
                up = jnp.clip(sign * u, 0.0, 1.0)
                if s.dac_bits is not None:
                    dac = (1 << s.dac_bits) - 1
                    up = _round_ste(up * dac) / dac
                current = read(c, up * v_full, g, jax.random.fold_in(k_read, phase))
                out = out + sign * combine(current, w_max)
            return c.scale * out

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
