"""How fast does a frame render through the crossbar model?

    .venv/bin/python benchmarks/bench_forward.py [--resolution 32x32] [--samples-per-ray 16]

The ``make demo`` ladder's frame (32x32 pixels, 16 samples per ray) through ``nerf-4x256`` on
the default 256x256 tile with the tile's own device settings (4-bit weights, DAC and ADC bits of
the default spec, programming variation, read noise, IR drop, calibrated ADC range, gain
calibration): the tiles are programmed once (not timed, as a ladder line reuses them), then
the frame is rendered ``--repeat`` times in float32 (as the renders read) and the best time
printed, the first render (which compiles the forward) apart, by two paths in the same run:

- ``main's noise``: the forward as it was before the read noise moved to NumPy's generator
  (:class:`MainNoise`: JAX's threefry normals drawn for the padded batch, compiled per size);
- ``this forward``: :class:`spicecim.analog.forward.AnalogMatmul` as it is.

The read noise is drawn differently by the two, so their renders are compared by PSNR against
the float render over ``--seeds`` seeds (mean and spread of each). The NumPy pass the JAX
forward replaced is gone; its time is only a recorded figure (:data:`NUMPY_SECONDS`, 2 shared
cores at load 6, measured by this script before it was removed, commit 0af0461).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from _common import frame_of, frame_parser

from spicecim.analog import accuracy as acc
from spicecim.analog import forward
from spicecim.cost.mapping import TileGeometry, map_model
from spicecim.models.presets import NerfField, init_mlp
from spicecim.nerf import pipeline as nerf
from spicecim.nerf.render import psnr, render
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import WeightMapping

NUMPY_SECONDS = {("32x32", 32): 8.06, ("64x64", 32): 18.47}
"""Best render time (s) of the NumPy pass, by resolution and samples per ray."""

_threefry = jax.jit(jax.random.normal, static_argnames=("shape", "dtype"))


class MainNoise(forward.AnalogMatmul):
    """The read noise as main drew it: JAX's threefry normals, one key per layer and call,
    for every row of the padded batch, in a power-of-two size compiled once per size."""

    def _noise(self, name: str, call: int, x: np.ndarray, groups: Sequence[forward.ReadGroup],
               shapes: Sequence[forward.GroupShape], phases: int, rows: int) -> np.ndarray:
        index = list(self.layers).index(name)
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(self.settings.seed), index),
                                 call)
        size = rows * forward.noise_columns(groups, phases)
        noise = _threefry(key, (1 << (size - 1).bit_length(),), self.dtype)[:size]
        return jnp.reshape(noise, (rows, -1))  # type: ignore[return-value]


def main() -> None:
    args = frame_parser(__doc__).parse_args()
    frame = frame_of(args)
    field = NerfField(init_mlp("nerf-4x256", np.random.default_rng(0)))
    spec = specs.default_spec(256, 256)
    weights = WeightMapping("differential", specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S, 4)
    mapping = map_model(field.mlp, TileGeometry(256, 256))
    settings = acc.Nonideality.of(spec, weights)
    calibration = field.sample_inputs(4096, np.random.default_rng(1))
    start = time.perf_counter()
    layers = acc.program(field.mlp, mapping, spec, weights, settings, calibration)
    print(f"programming {len(mapping.layers)} layers: {time.perf_counter() - start:.2f} s")
    rays, near, far = nerf.view(frame, field.bound)
    float_image = render(field.field, rays, frame.samples_per_ray, near, far)

    def once(hook: type[forward.AnalogMatmul], seed: int) -> tuple[float, np.ndarray]:
        matmul = hook(layers, spec.driver.v_full_v, weights,
                      dataclasses.replace(settings, seed=seed), np.float32)
        t0 = time.perf_counter()
        image = render(functools.partial(field.field, matmul=matmul), rays,
                       frame.samples_per_ray, near, far)
        return time.perf_counter() - t0, image

    numpy = NUMPY_SECONDS.get((args.resolution, args.samples_per_ray))
    if numpy is not None:
        print(f"NumPy pass (recorded, not this run): {numpy:.2f} s")
    best = {}
    for label, hook in (("main's noise", MainNoise), ("this forward", forward.AnalogMatmul)):
        jax.clear_caches()  # each path's first render compiles all it reads
        first, _ = once(hook, 0)
        best[label] = min(once(hook, 0)[0] for _ in range(args.repeat))
        ratio = f", {numpy / best[label]:.2f}x the recorded NumPy pass" if numpy else ""
        db = np.array([psnr(once(hook, seed)[1], float_image) for seed in range(args.seeds)])
        print(f"{label}: first render (compiles) {first:.2f} s, best of {args.repeat} "
              f"{best[label]:.2f} s{ratio}; PSNR vs float over {args.seeds} seeds "
              f"{db.mean():.3f} +- {db.std():.3f} dB", flush=True)
    speedup = best["main's noise"] / best["this forward"]
    print(f"this forward against main's noise, same run: {speedup:.2f}x faster")


if __name__ == "__main__":
    main()
