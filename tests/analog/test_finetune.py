"""Noise-aware fine-tuning lowers the crossbar's error on points it never saw."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from spicecim.analog.accuracy import Nonideality, analog_matmul, program
from spicecim.analog.finetune import crossbar_forward
from spicecim.cost.mapping import TileGeometry, map_model
from spicecim.models import fit
from spicecim.models.mlp import Dense, Mlp
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import WeightMapping


def _mlp(seed: int = 0) -> Mlp:
    rng = np.random.default_rng(seed)
    widths, layers = [6, 24, 24, 2], []
    for i, (a, b) in enumerate(zip(widths, widths[1:], strict=False)):
        w = (rng.standard_normal((a, b)) * np.sqrt(2 / a)).astype(np.float32)
        act = "relu" if i < len(widths) - 2 else "sigmoid"
        layers.append(Dense(f"fc{i}", ("x",) if i == 0 else (f"fc{i - 1}",), w,
                            np.zeros(b, np.float32), act))
    return Mlp({"x": 6}, tuple(layers), nonnegative=("x",))


def test_finetuning_lowers_the_crossbar_error_on_held_out_points() -> None:
    mlp = _mlp()
    spec = specs.default_spec(16, 16)
    weights = WeightMapping("differential", specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S, 3)
    mapping = map_model(mlp, TileGeometry(16, 16))
    settings = Nonideality.of(spec, weights, seed=3)
    rng = np.random.default_rng(0)
    calibration = {"x": rng.uniform(0, 1, (256, 6)).astype(np.float32)}
    held_out = {"x": rng.uniform(0, 1, (512, 6)).astype(np.float32)}
    layers = program(mlp, mapping, spec, weights, settings, calibration)

    def batches(r: np.random.Generator):  # noqa: ANN202 - the float MLP's own outputs
        x = {"x": r.uniform(0, 1, (256, 6)).astype(np.float32)}
        return x, mlp.forward(x)["fc2"].astype(np.float32)

    def loss(out, target):  # noqa: ANN001, ANN202
        return jnp.mean((out["fc2"] - target) ** 2)

    forward = crossbar_forward(mlp, layers, mapping, spec, weights, settings)
    tuned = fit.fit(mlp, batches, loss, fit.FitSettings(150, 256, 3e-3, 0.1, seed=0),
                    forward=forward).mlp
    errors = []
    for model in (mlp, tuned):
        programmed = program(model, mapping, spec, weights, settings, calibration)
        ideal = mlp.forward(held_out)["fc2"]  # both against the original float model
        analog = _analog(model, programmed, spec, weights, settings, held_out)
        errors.append(float(np.sqrt(np.mean((analog - ideal) ** 2))))
    print(f"crossbar RMS error on held-out points: {errors[0]:.4g} -> {errors[1]:.4g} "
          f"({errors[0] / errors[1]:.2f}x)")
    assert errors[1] < 0.8 * errors[0]


def _analog(model, programmed, spec, weights, settings, points):  # noqa: ANN001, ANN202
    return model.forward(points, analog_matmul(programmed, spec, weights, settings))["fc2"]
