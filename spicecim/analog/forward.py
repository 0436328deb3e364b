"""The crossbar's forward pass in JAX: the one place its accuracy physics is written.

:mod:`spicecim.analog.accuracy` programs the tiles (conductances quantised by the
:class:`~spicecim.cost.slicing.WeightCode`, pre-distorted for IR drop, varied by
:func:`vary`, reduced to transfer matrices by the fast solver, ADC ranges and column gains
calibrated); :func:`read_layer` reads a layer off them, in the order the hardware meets it (the
steps of :mod:`spicecim.analog.accuracy`'s docstring):

1. the layer's input divided by its calibrated scale into the DAC's [0, 1], in one phase or
   two (positive parts, then magnitudes of the negative ones), rounded to ``2^dac_bits`` levels;
2. per row group (a tile's rows read together), column currents ``v @ T`` through the group's
   transfer matrix (IR drop included);
3. read noise: every device's current varies by ``read_noise`` (relative sigma) independently,
   so a column's noise is the sum of independent Gaussians, one Gaussian of variance
   ``read_noise^2 (v^2 @ G^2)``: one more matrix product and one draw per column, exact in
   distribution (the noise's own IR drop neglected);
4. the column's converter (:mod:`spicecim.analog.converters`) at its tile's full scale;
5. the per-column gain calibration ``a I + b`` (when ``calibrate``);
6. the columns read back as weights by the readout of the weight code (pairs or reference
   column subtracted, slices weighted, copies averaged), groups and phases added digitally.

The same function serves the accuracy pass (:func:`analog_matmul`, jitted, float64), the
renders (the same, float32 as they always read) and fine-tuning
(:mod:`spicecim.analog.finetune`, ``jax.grad`` through it: every rounding passes its gradient
straight through; the noise and the scales are constants).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from spicecim.analog.converters import Converter, converter, round_ste
from spicecim.cost.slicing import WeightCode
from spicecim.netlist.weights import WeightMapping

if TYPE_CHECKING:
    from spicecim.analog.accuracy import Nonideality, ProgrammedLayer, ProgrammedTile


def vary(nominal_s: jax.typing.ArrayLike, sigma_s: jax.typing.ArrayLike,
         z: jax.typing.ArrayLike, variation: float, lo_s: float, hi_s: float) -> jax.Array:
    """Programming error: ``nominal + variation * sigma * z`` (``z`` standard normal) inside
    the device's range ``[lo, hi]``; the gradient passes to ``nominal`` unchanged."""
    nominal = jnp.asarray(nominal_s)
    programmed = jnp.clip(nominal + variation * jnp.asarray(sigma_s) * jnp.asarray(z), lo_s, hi_s)
    return nominal + jax.lax.stop_gradient(programmed - nominal)


def dac(u: jax.Array, bits: jax.Array | int) -> jax.Array:
    """Values in [0, 1] rounded to ``2^bits`` levels."""
    levels = 2.0 ** bits - 1  # bits may be traced
    return round_ste(u * levels) / levels


class ReadGroup(NamedTuple):
    """The arrays of one row group: its tiles' used columns side by side."""

    transfer: jax.Array  # (group inputs, columns): column current per volt on each input
    g_sq: jax.Array  # (group inputs, columns): the devices' conductances squared, copies summed
    full_a: jax.Array  # (columns,): the converter's full scale
    gain: jax.Array  # (columns,): calibration a ...
    offset: jax.Array  # (columns,): ... and b (A)
    readout: jax.Array  # (columns, outputs): weights per (A / V) at w_max = 1; or per column


@dataclasses.dataclass(frozen=True, slots=True)
class GroupShape:
    """Where a :class:`ReadGroup` sits in its layer: input rows ``[start, stop)``; and when its
    readout is per column (``per_output`` > 0: output ``first + c // per_output`` of column
    ``c``, ``readout`` one coefficient per column), else a dense matrix."""

    start: int
    stop: int
    first: int = 0
    per_output: int = 0


def readout_matrix(code: WeightCode, columns: int) -> np.ndarray:
    """(columns, outputs): the weights one A/V on each column stands for at ``w_max = 1``; the
    code's readout is linear, so its image of the identity is its matrix."""
    return np.asarray(code.to_weights(np.eye(columns), 1.0), float)


def compact(readout: np.ndarray, first: int) -> tuple[int, np.ndarray] | None:
    """``(per_output, coefficients)`` where each column feeds one output and the outputs take
    consecutive columns in equal runs (the differential scheme); None otherwise."""
    columns, outputs = readout.shape
    if outputs == 0 or columns % outputs:
        return None
    per_output = columns // outputs
    owner = np.arange(columns) // per_output
    coef = readout[np.arange(columns), owner]
    rest = readout.copy()
    rest[np.arange(columns), owner] = 0.0
    return (per_output, coef) if not rest.any() and first >= 0 else None


@dataclasses.dataclass(frozen=True, slots=True)
class ReadConfig:
    """What shapes a read (the compiled function depends on it): whether the DAC quantises,
    which kind of converter (None: none), whether read noise is drawn and whether the columns
    are gain-calibrated. The numbers (bits, edges, noise) are arguments of the read."""

    dac: bool
    converter: type | None
    noisy: bool
    calibrate: bool

    @classmethod
    def of(cls, settings: Nonideality) -> ReadConfig:
        conv = converter(settings.adc_bits, settings.acam_edges)
        return cls(settings.dac_bits is not None, None if conv is None else type(conv),
                   settings.read_noise > 0, settings.calibrate)


class ReadNumbers(NamedTuple):
    """The numbers a read uses (traced: changing them compiles nothing): DAC bits (0 where
    :class:`ReadConfig` has no DAC), the converter, the relative read noise."""

    dac_bits: jax.Array | int
    converter: Converter | None
    read_noise: jax.Array | float

    @classmethod
    def of(cls, settings: Nonideality) -> ReadNumbers:
        return cls(settings.dac_bits or 0, converter(settings.adc_bits, settings.acam_edges),
                   settings.read_noise)


def noise_columns(groups: Sequence[ReadGroup], phases: int) -> int:
    """How many standard normals per sample :func:`read_layer` reads: one per column, group
    and phase."""
    return phases * sum(group.transfer.shape[1] for group in groups)


def read_layer(x: jax.Array, groups: Sequence[ReadGroup], shapes: Sequence[GroupShape],
               z: jax.Array | None, config: ReadConfig, settings: ReadNumbers,
               scale: jax.Array | float, w_max: jax.Array | float, v_full: float,
               phases: int, fan_out: int) -> jax.Array:
    """The layer's pre-activation (without bias) of inputs ``x`` read off its row groups
    (module docstring) with the DAC, converter and relative read noise of ``settings``
    (``z``: standard normals, (samples, :func:`noise_columns`); None without noise), the input
    scale ``scale`` and the weight scale ``w_max``; rows driven at ``v_full`` (V)."""
    read_noise = settings.read_noise
    u = x / scale
    out = jnp.zeros((x.shape[0], fan_out), x.dtype)
    edges = np.cumsum([0] + [group.transfer.shape[1] for group in groups] * phases)
    for phase, sign in enumerate((1.0, -1.0)[:phases]):
        v = jnp.clip(sign * u, 0.0, 1.0)
        if config.dac:
            v = dac(v, settings.dac_bits)
        v = v * v_full
        for k, (group, shape) in enumerate(zip(groups, shapes, strict=True)):
            vg = v[:, shape.start:shape.stop]
            current = vg @ group.transfer
            if config.noisy and z is not None:
                sigma = jax.lax.stop_gradient(read_noise * jnp.sqrt((vg * vg) @ group.g_sq))
                n = phase * len(groups) + k
                current = current + sigma * z[:, edges[n]:edges[n + 1]]
            if config.converter is not None and settings.converter is not None:
                current = settings.converter.convert(current, group.full_a)
            if config.calibrate:
                current = current * group.gain + group.offset
            out = out + sign * _to_weights(current / v_full, group.readout, shape)
    return scale * w_max * out


def _to_weights(current: jax.Array, readout: jax.Array, shape: GroupShape) -> jax.Array:
    if shape.per_output == 0:
        return current @ readout
    weighted = (current * readout).reshape(current.shape[0], -1, shape.per_output).sum(-1)
    return jnp.pad(weighted, ((0, 0), (shape.first, 0)))


def full_scale_a(tile: ProgrammedTile, calibrated: bool) -> float:
    """The tile's converter full scale: calibrated on the workload where asked (and where a
    current was seen), else the readout's sizing."""
    return tile.adc_full_a if calibrated and tile.adc_full_a > 0 else tile.sized_full_a


def layer_groups(layer: ProgrammedLayer, weights: WeightMapping, calibrated: bool,
                 fan_out: int) -> tuple[tuple[ReadGroup, ...], tuple[GroupShape, ...]]:
    """``layer``'s tiles as row groups: the tiles that read the same inputs, side by side."""
    code = layer.code or WeightCode(weights, weights.bits)
    by_rows: dict[tuple[int, int], list[ProgrammedTile]] = {}
    for tile in layer.tiles:
        by_rows.setdefault((tile.rows.start, tile.rows.stop), []).append(tile)
    groups, shapes = [], []
    for (start, stop), tiles in by_rows.items():
        readout = np.zeros((sum(t.used_cols for t in tiles), fan_out))
        col = 0
        for t in tiles:
            readout[col:col + t.used_cols, t.outputs] = readout_matrix(code, t.used_cols)
            col += t.used_cols
        first = min(t.outputs.start for t in tiles)
        last = max(t.outputs.stop for t in tiles)
        packed = compact(readout[:, first:last], first) if last == fan_out else None
        shape = GroupShape(start, stop)
        if packed is not None:
            shape = GroupShape(start, stop, first, packed[0])
            readout = packed[1]
        shapes.append(shape)

        def cat(field: str, tiles: list[ProgrammedTile] = tiles) -> np.ndarray:
            return np.concatenate([getattr(t, field)[..., :t.used_cols] for t in tiles],
                                  axis=-1)

        full = np.concatenate([np.full(t.used_cols, full_scale_a(t, calibrated)) for t in tiles])
        groups.append(ReadGroup(*(jnp.asarray(a, jnp.float64) for a in (
            cat("transfer"), cat("g_sq"), full, cat("gain"), cat("offset"), readout))))
    return tuple(groups), tuple(shapes)


_read_layer = jax.jit(read_layer, static_argnames=("shapes", "config", "v_full", "phases",
                                                   "fan_out"))
"""Compiled once per layer shape and settings, whichever hook calls it."""
class AnalogMatmul:
    """The ``matmul`` hook of :meth:`Mlp.forward` (and :meth:`NerfField.field`) that reads each
    layer off its programmed tiles through :func:`read_layer`, jitted, in ``dtype`` (float64;
    float32 halves a render's memory traffic and rounds a current by 1e-7 of itself, far below
    any LSB and the read noise); its read noise starts afresh from ``settings.seed`` and each
    layer's pre-activation is kept in ``z``."""

    def __init__(self, layers: Mapping[str, ProgrammedLayer], v_full: float,
                 weights: WeightMapping, settings: Nonideality,
                 dtype: type = np.float64) -> None:
        self.layers, self.weights, self.settings, self.v_full = layers, weights, settings, v_full
        self.dtype = dtype
        self.config = ReadConfig.of(settings)
        self.z: dict[str, np.ndarray] = {}
        self._calls: dict[str, int] = {}
        self._groups: dict[str, tuple[tuple[ReadGroup, ...], tuple[GroupShape, ...]]] = {}

    def __call__(self, name: str, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        layer, fan_out = self.layers[name], weight.shape[1]
        call = self._calls.get(name, 0)
        self._calls[name] = call + 1
        # Batches padded to a power of two: a render's last chunk (or another caller's batch)
        # reuses a compiled shape instead of compiling its own.
        n = len(x)
        rows = 1 << max(n - 1, 0).bit_length()
        padded: np.ndarray = np.zeros((rows, x.shape[1]), self.dtype)
        padded[:n] = x
        with jax.enable_x64(True):
            if name not in self._groups:
                groups, shapes = layer_groups(layer, self.weights,
                                              self.settings.adc_range == "calibrated", fan_out)
                self._groups[name] = (tuple(ReadGroup(*(jnp.asarray(a, self.dtype) for a in g))
                                            for g in groups), shapes)
            groups, shapes = self._groups[name]
            noise = None
            if self.config.noisy:
                noise = jnp.asarray(self._noise(name, call, x, groups, shapes, layer.phases,
                                                rows))
            z = np.asarray(_read_layer(
                jnp.asarray(padded), groups, shapes, noise, self.config,
                ReadNumbers.of(self.settings), layer.input_scale, layer.w_max, v_full=self.v_full,
                phases=layer.phases, fan_out=fan_out), float)[:n]
        self.z[name] = z
        return z

    def _noise(self, name: str, call: int, x: np.ndarray, groups: Sequence[ReadGroup],
               shapes: Sequence[GroupShape], phases: int, rows: int) -> np.ndarray:
        """The standard normals of one read, (rows, :func:`noise_columns`): drawn by NumPy's
        generator (its ziggurat draws a float32 normal in a fraction of the time JAX's
        counter-based generator takes on a CPU, and compiles nothing), seeded by the
        settings' seed, the layer and the call, for the ``len(x)`` real samples only; zeros
        for the padding and for a phase's row group whose rows are all undriven (no input of
        that sign), where the noise's sigma is 0 and the draw would be multiplied by it."""
        index = list(self.layers).index(name)
        rng = np.random.default_rng([self.settings.seed, index, call])
        out: np.ndarray = np.zeros((rows, noise_columns(groups, phases)), self.dtype)
        col = 0
        for sign in (1.0, -1.0)[:phases]:
            for group, shape in zip(groups, shapes, strict=True):
                width = group.transfer.shape[1]
                if np.any(sign * x[:, shape.start:shape.stop] > 0):
                    out[:len(x), col:col + width] = rng.standard_normal((len(x), width),
                                                                        self.dtype)
                col += width
        return out


def analog_matmul(layers: Mapping[str, ProgrammedLayer], v_full: float, weights: WeightMapping,
                  settings: Nonideality, dtype: type = np.float64) -> AnalogMatmul:
    """The ``matmul`` hook reading each layer off its programmed tiles (:class:`AnalogMatmul`)."""
    return AnalogMatmul(layers, v_full, weights, settings, dtype)
