"""The NeRF fit (JAX autodiff, optax Adam) at the command line's settings: wall time, loss, and
the float render's PSNR against the scene.

    .venv/bin/python benchmarks/bench_fit.py [--steps 3000] [--preset nerf-4x256]

Held-out loss: the fit's loss (:func:`spicecim.models.fit.scene_loss`) on 32,768 points drawn
as the training batches are (half near surfaces, half uniform), from a seed the fit never uses.
PSNR: the default view at 64x64 px and 32 samples per ray, as ``spicecim nerf`` renders it.
"""

from __future__ import annotations

import argparse

import numpy as np


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--preset", default="nerf-4x256")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import jax

    from spicecim.models.fit import FitSettings, _training_batch, fit_scene_result, scene_loss
    from spicecim.models.scene import default_scene
    from spicecim.nerf.render import default_view, psnr, render

    scene = default_scene()
    field, result = fit_scene_result(scene, args.preset, FitSettings(args.steps, seed=args.seed))
    inputs, targets = _training_batch(scene, field, 1 << 15, np.random.default_rng([999, 1]))
    held_out = float(scene_loss(field.mlp.forward(inputs), targets))
    rays, near, far = default_view(64, 64, bound=scene.bound)
    quality = psnr(render(field.field, rays, 32, near, far),
                   render(scene.query, rays, 32, near, far))
    print(f"{args.preset}, {args.steps} steps, batch 512, JAX {jax.__version__} on "
          f"{jax.devices()[0].platform}: {result.seconds:.1f} s (compilation included), "
          f"final training loss {result.final_loss:.5f}, held-out loss {held_out:.5f}, "
          f"float render {quality:.2f} dB PSNR vs the scene (64x64 px x 32 samples)")


if __name__ == "__main__":
    main()
