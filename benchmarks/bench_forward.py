"""How fast does a frame render through the crossbar model?

    .venv/bin/python benchmarks/bench_forward.py [--resolution 64x64] [--samples-per-ray 32]

The ``make demo`` ladder's frame (64x64 pixels, 32 samples per ray) through ``nerf-4x256`` on
the default 256x256 tile with the tile's own device settings (4-bit weights, DAC and ADC bits of
the default spec, programming variation, read noise, IR drop, calibrated ADC range, gain
calibration): the tiles are programmed once (not timed, as a ladder line reuses them), then
the frame is rendered ``--repeat`` times and the best time printed, the first render (which
compiles the forward) apart, in float32 (as the renders read) and float64 (as the accuracy
pass reads). The NumPy pass this forward replaced rendered the same frames in
:data:`NUMPY_SECONDS` on the development machine (2 shared cores, load 6), measured with this
script before it was removed (commit 0af0461), beside the forward in the same process.
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np

from spicecim.analog import accuracy as acc
from spicecim.analog import forward
from spicecim.cost.mapping import TileGeometry, map_model
from spicecim.models.presets import NerfField, init_mlp
from spicecim.nerf import pipeline as nerf
from spicecim.nerf.render import render
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import WeightMapping

NUMPY_SECONDS = {"32x32": 8.06, "64x64": 18.47}
"""Best render time (s) of the NumPy pass at 32 samples per ray, by resolution."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", default="64x64")
    parser.add_argument("--samples-per-ray", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    width, height = (int(v) for v in args.resolution.split("x"))
    frame = nerf.Frame(width, height, args.samples_per_ray)
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

    def once(dtype: type) -> tuple[float, np.ndarray]:
        hook = forward.analog_matmul(layers, spec.driver.v_full_v, weights, settings, dtype)
        t0 = time.perf_counter()
        image = render(functools.partial(field.field, matmul=hook), rays,
                       frame.samples_per_ray, near, far)
        return time.perf_counter() - t0, image

    numpy = NUMPY_SECONDS.get(args.resolution) if args.samples_per_ray == 32 else None
    if numpy is not None:
        print(f"NumPy pass (recorded): {numpy:.2f} s")
    for dtype in (np.float32, np.float64):
        first, _ = once(dtype)
        best = min(once(dtype)[0] for _ in range(args.repeat))
        ratio = f", {numpy / best:.2f}x the NumPy pass" if numpy is not None else ""
        print(f"JAX {dtype.__name__}: first render (compiles) {first:.2f} s, best of "
              f"{args.repeat} {best:.2f} s{ratio}", flush=True)


if __name__ == "__main__":
    main()
