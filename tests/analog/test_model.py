"""``spicecim.analog_model``: a user's MLP on a run's tile, called, costed and scored."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import spicecim
from spicecim.models.mlp import Dense, Mlp


def _classifier() -> Mlp:
    rng = np.random.default_rng(0)
    return Mlp({"x": 6}, (
        Dense("hidden", ("x",), rng.normal(0, 0.5, (6, 10)).astype(np.float32),
              np.zeros(10, np.float32), "relu"),
        Dense("out", ("hidden",), rng.normal(0, 0.5, (10, 3)).astype(np.float32),
              np.zeros(3, np.float32), "none")))


def test_an_analog_model_is_called_costed_and_scored(synthetic: Path) -> None:
    mlp = _classifier()
    x = np.random.default_rng(1).uniform(-1, 1, (200, 6))
    analog = spicecim.analog_model(mlp, synthetic)
    out = analog(x)["out"]
    ideal = mlp.forward({"x": x})["out"]
    assert out.shape == (200, 3) and not np.array_equal(out, ideal)
    np.testing.assert_array_equal(analog(x)["out"], out)  # the same seed: the same noise
    labels = ideal.argmax(axis=1)
    score = analog.accuracy(x, labels=labels, targets=ideal)
    assert 0 < score.rel_rms("out") < 0.5
    assert 0.5 < score.top1 <= 1.0
    (name, got, float_error), = score.target_rel_rms
    assert name == "out" and got == pytest.approx(score.rel_rms("out"), rel=1e-6)
    assert float_error < 1e-6  # the targets are the float model's own outputs
    total = analog.cost().total("serialized")
    assert total.sample_latency_s > 0 and total.sample_energy_j > 0
    assert math.isfinite(total.sample_latency_s)


def test_the_ideal_analog_model_is_the_float_model(synthetic: Path) -> None:
    mlp = _classifier()
    x = np.random.default_rng(2).uniform(-1, 1, (64, 6))
    analog = spicecim.analog_model(mlp, synthetic, spicecim.Nonideality.ideal(), calibration=x)
    np.testing.assert_allclose(analog(x)["out"], mlp.forward({"x": x})["out"], atol=1e-5)
