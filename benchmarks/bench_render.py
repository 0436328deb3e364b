"""How fast does the ``make demo`` ladder's frame render through the crossbars?

    .venv/bin/python benchmarks/bench_render.py [--resolution 32x32] [--samples-per-ray 16]
                                                [--tile 256]

The ladder's frame (32x32 pixels, 16 samples per ray) of the built-in scene through the fitted
``nerf-4x256`` (read from the cache ``spicecim nerf`` keeps; fitted there first if missing) on
the default 256x256 tile (``--tile 128``: the demo ladder's design point) with its own device
settings (4-bit weights, the spec's DAC and ADC bits, programming variation, 1 % read noise,
IR drop, calibrated ADC range, gain calibration).

The tiles are programmed three times, each timed once: with nothing kept (as before
:mod:`spicecim.nerf.programmed`), kept in an empty temporary folder (a first run), and read
back from it (a run again: the demo, this benchmark, a render of the same design point). Then
the frame is rendered by three read passes in the same run, each ``--repeat`` times after a
first render that compiles what it reads, the best time printed:

- ``NumPy pass``: the read pass the JAX forward replaced (:class:`NumpyPass`, kept here only
  as the reference the renders' speed is measured against; commit dc91397 removed it from the
  package): per layer and row group in NumPy, float32;
- ``per-layer forward``: :class:`spicecim.analog.forward.AnalogMatmul`, one jitted call per
  layer (the renders' read until :mod:`spicecim.nerf.analog_field`);
- ``batched field``: :class:`spicecim.nerf.analog_field.CrossbarField`, the whole MLP
  compiled per batch, the noise of the next batch drawn while the current one reads.

The three draw the read noise differently (the same distribution), so their renders are
compared by PSNR against the float render over ``--seeds`` seeds (mean and spread). Last, a
ladder line (programming, then the read) before (nothing kept, NumPy pass) against now (kept
or read back, batched field).
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from _common import frame_of, frame_parser

from spicecim.analog import accuracy as acc
from spicecim.analog import forward
from spicecim.cost.mapping import TileGeometry, map_model
from spicecim.cost.slicing import WeightCode
from spicecim.models.fit import cached_fit
from spicecim.models.presets import NerfField, default_cache_dir
from spicecim.models.scene import default_scene
from spicecim.nerf import frame as frames
from spicecim.nerf.analog_field import FRAME_POINTS, CrossbarField
from spicecim.nerf.programmed import programmed_layers
from spicecim.nerf.render import FieldFn, psnr, render
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import WeightMapping


@dataclasses.dataclass(frozen=True, slots=True)
class _Group:
    """The tiles of a layer that read the same inputs, their used columns side by side."""

    rows: slice
    transfer: np.ndarray
    g_sq: np.ndarray
    full_a: np.ndarray  # per column: the converter full scale of its tile
    gain: np.ndarray
    offset: np.ndarray
    segments: tuple[tuple[slice, slice], ...]  # (layer outputs, columns here) of each tile


def _groups(layer: acc.ProgrammedLayer, calibrated: bool) -> tuple[_Group, ...]:
    by_rows: dict[tuple[int, int], list[acc.ProgrammedTile]] = {}
    for tile in layer.tiles:
        by_rows.setdefault((tile.rows.start, tile.rows.stop), []).append(tile)
    out = []
    for tiles in by_rows.values():
        n = [t.used_cols for t in tiles]
        edges = np.concatenate([[0], np.cumsum(n)])

        def cat(name: str, tiles: list[acc.ProgrammedTile] = tiles) -> np.ndarray:
            return np.concatenate([getattr(t, name)[..., :t.used_cols] for t in tiles],
                                  axis=-1).astype(np.float32)

        out.append(_Group(
            tiles[0].rows, cat("transfer"), cat("g_sq"),
            np.repeat([forward.full_scale_a(t, calibrated) for t in tiles], n),
            cat("gain"), cat("offset"),
            tuple((t.outputs, slice(a, b)) for t, a, b in zip(tiles, edges, edges[1:],
                                                              strict=False))))
    return tuple(out)


class NumpyPass:
    """The ``matmul`` hook of the NumPy read pass: DAC, ``v @ T``, one Gaussian per column of
    variance ``read_noise^2 v^2 @ G^2``, the ADC, the gain calibration and the weight code's
    readout, per row group and phase, in float32."""

    def __init__(self, layers: Mapping[str, acc.ProgrammedLayer], v_full: float,
                 weights: WeightMapping, settings: acc.Nonideality) -> None:
        self.layers, self.weights, self.settings, self.v_full = layers, weights, settings, v_full
        self.rng = np.random.default_rng([settings.seed, 1])
        self.groups: dict[str, tuple[_Group, ...]] = {}

    def __call__(self, name: str, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        layer = self.layers[name]
        u = np.asarray(x, float) / layer.input_scale
        if name not in self.groups:
            self.groups[name] = _groups(layer, self.settings.adc_range == "calibrated")
        out = self._read(layer, self.groups[name], np.clip(u, 0.0, 1.0), weight.shape[1])
        if layer.phases == 2:
            out -= self._read(layer, self.groups[name], np.clip(-u, 0.0, 1.0), weight.shape[1])
        return layer.input_scale * out

    def _read(self, layer: acc.ProgrammedLayer, groups: tuple[_Group, ...], u: np.ndarray,
              fan_out: int) -> np.ndarray:
        s = self.settings
        out = np.zeros((len(u), fan_out))
        code = layer.code or WeightCode(self.weights, self.weights.bits)
        for group in groups:
            x = u[:, group.rows]
            if s.dac_bits is not None:
                x = specs.quantise_unit(x, s.dac_bits)
            # in float32, in place, as the pass read (this loop was the render's time)
            v = (x * self.v_full).astype(np.float32)
            current = v @ group.transfer
            if s.read_noise > 0:
                sigma = np.square(v, out=v) @ group.g_sq
                np.sqrt(sigma, out=sigma)
                sigma *= np.float32(s.read_noise)
                noise = self.rng.standard_normal(current.shape, dtype=np.float32)
                noise *= sigma
                current += noise
                del sigma, noise
            if s.adc_bits is not None:
                lsb = (group.full_a / (1 << s.adc_bits)).astype(np.float32)
                current /= lsb
                np.round(current, out=current)
                np.clip(current, 0, (1 << s.adc_bits) - 1, out=current)
                current *= lsb
            if s.calibrate:
                current *= group.gain
                current += group.offset
            current /= self.v_full
            contiguous = all(a[0].stop == b[0].start for a, b in zip(
                group.segments, group.segments[1:], strict=False))
            if contiguous and code.weights.scheme == "differential":
                first, last = group.segments[0][0], group.segments[-1][0]
                out[:, first.start:last.stop] += code.to_weights(current, layer.w_max)
                continue
            for outputs, cols in group.segments:
                out[:, outputs] += code.to_weights(current[:, cols], layer.w_max)
        return out


def main() -> None:
    parser = frame_parser(__doc__)
    parser.add_argument("--tile", type=int, default=256, help="square tile size (rows = cols)")
    args = parser.parse_args()
    frame = frame_of(args)
    scene = default_scene()
    field = cached_fit(default_cache_dir(), scene, steps=3000, seed=0)
    spec = specs.default_spec(args.tile, args.tile)
    weights = WeightMapping("differential", specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S, 4)
    mapping = map_model(field.mlp, TileGeometry(args.tile, args.tile))
    settings = acc.Nonideality.of(spec, weights)
    rays, near, far = frames.view(frame, scene.bound)
    calibration = field.encode(*frames.calibration_samples(frame, scene.bound, 8192, 0))

    def timed_program(cache: Path | None) -> tuple[float, dict[str, acc.ProgrammedLayer]]:
        t0 = time.perf_counter()
        layers = programmed_layers(field.mlp, mapping, spec, weights, settings, calibration,
                                   cache)
        return time.perf_counter() - t0, layers

    with tempfile.TemporaryDirectory() as kept:
        programming = {"nothing kept": timed_program(None)[0],
                       "kept (first run)": timed_program(Path(kept))[0]}
        programming["read back"], layers = timed_program(Path(kept))
    print(f"programming {len(mapping.layers)} layers on {args.tile}x{args.tile} tiles: "
          + ", ".join(f"{k} {v:.2f} s" for k, v in programming.items()), flush=True)
    v_full = spec.driver.v_full_v
    float_image = render(field.field, rays, frame.samples_per_ray, near, far)

    def numpy_pass(s: acc.Nonideality) -> FieldFn:
        return functools.partial(field.field, matmul=NumpyPass(layers, v_full, weights, s))

    def per_layer(s: acc.Nonideality) -> FieldFn:
        hook = forward.AnalogMatmul(layers, v_full, weights, s, np.float32)
        return functools.partial(field.field, matmul=hook)

    def batched(s: acc.Nonideality) -> FieldFn:
        return CrossbarField(field, layers, v_full, weights, s)

    def once(make: Callable[[acc.Nonideality], FieldFn], seed: int) -> tuple[float, np.ndarray]:
        field_fn = make(dataclasses.replace(settings, seed=seed))
        t0 = time.perf_counter()
        image = render(field_fn, rays, frame.samples_per_ray, near, far,
                       max_points=max(frame.samples_per_ray, FRAME_POINTS))
        return time.perf_counter() - t0, image

    print(f"frame {args.resolution} x {args.samples_per_ray} samples per ray, "
          f"{NerfField.__name__} nerf-4x256 fitted; best of {args.repeat}, PSNR vs float over "
          f"{args.seeds} seeds", flush=True)
    best = {}
    for label, make in (("NumPy pass", numpy_pass), ("per-layer forward", per_layer),
                        ("batched field", batched)):
        first, _ = once(make, 0)
        best[label] = min(once(make, 0)[0] for _ in range(args.repeat))
        db = np.array([psnr(once(make, seed)[1], float_image) for seed in range(args.seeds)])
        print(f"{label}: first render {first:.2f} s, best {best[label]:.2f} s; PSNR "
              f"{db.mean():.3f} +- {db.std():.3f} dB (min {db.min():.3f}, max {db.max():.3f})",
              flush=True)
    for label in ("per-layer forward", "batched field"):
        print(f"render alone, {label}: {best['NumPy pass'] / best[label]:.2f}x the NumPy pass")
    # A ladder line as `spicecim nerf` runs it: its tiles programmed, then the frame read.
    before = programming["nothing kept"] + best["NumPy pass"]
    print(f"ladder line before (programming, nothing kept, + NumPy pass): {before:.2f} s")
    for how in ("kept (first run)", "read back"):
        line = programming[how] + best["batched field"]
        print(f"ladder line, programming {how} + batched field: {line:.2f} s, "
              f"{before / line:.2f}x before (same run)")


if __name__ == "__main__":
    main()
