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


def test_finetuning_reads_through_the_accuracy_pass_forward() -> None:
    # Without the draws and the calibration fitted after programming, the fine-tuning forward
    # (float32, the fitter's) is the accuracy pass's (float64) on the same tiles, and
    # jax.grad passes through its roundings.
    import jax

    from spicecim.models import jax_mlp

    mlp = _mlp()
    spec = specs.default_spec(16, 16)
    weights = WeightMapping("differential", specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S, 3)
    mapping = map_model(mlp, TileGeometry(16, 16))
    settings = Nonideality.of(spec, weights, variation=0.0, read_noise=0.0, ir_drop=False,
                              calibrate=False)
    x = {"x": np.random.default_rng(5).uniform(0, 1, (128, 6)).astype(np.float32)}
    layers = program(mlp, mapping, spec, weights, settings, x)
    forward = crossbar_forward(mlp, layers, mapping, spec, weights, settings)
    params = jax_mlp.params_of(mlp)
    tuned = np.asarray(forward(params, x, jax.random.key(0))["fc2"])
    analog = _analog(mlp, layers, spec, weights, settings, x)
    # float32 against float64: a current on an ADC edge may take the next code
    assert np.mean(np.abs(tuned - analog) > 1e-4) < 0.02

    def loss(p):  # noqa: ANN001, ANN202
        return jnp.sum(forward(p, x, jax.random.key(0))["fc2"])

    grads = jax.grad(loss)(params)
    assert all(float(jnp.abs(g[0]).sum()) > 0 for g in grads.values())
