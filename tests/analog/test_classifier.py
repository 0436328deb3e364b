"""A classifier end to end: an MLP fitted with the JAX fitter to a synthetic data set, mapped
onto the synthetic 8x8 tiles, classified through the crossbar model, and costed per layer from
the tables."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from spicecim.analog.accuracy import Nonideality
from spicecim.analog.scoring import evaluate_accuracy
from spicecim.cost.mapping import TileGeometry, map_model
from spicecim.cost.schedule import DigitalAdder, Workload, model_cost, read_tables
from spicecim.devices.readout import REF_BUFFER_FRACTION
from spicecim.errors import SpecError
from spicecim.models.fit import FitSettings, fit
from spicecim.models.presets import init_mlp

NS, FJ, PJ = 1e-9, 1e-15, 1e-12
CLASSES, FEATURES = 4, 16
CENTRES = np.random.default_rng(0).choice([-1.0, 1.0], size=(CLASSES, FEATURES))


def _data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Four Gaussian blobs in 16 dimensions, centres at corners of the cube [-1, 1]^16."""
    labels = rng.integers(0, CLASSES, n)
    x = CENTRES[labels] + rng.normal(scale=0.8, size=(n, FEATURES))
    return x.astype(np.float32), labels


def _cross_entropy(outputs: dict, labels: jnp.ndarray) -> jnp.ndarray:
    return optax.softmax_cross_entropy_with_integer_labels(outputs["fc1"], labels).mean()


@pytest.fixture(scope="module")
def classifier():  # noqa: ANN201
    start = init_mlp(f"mlp:{FEATURES}-32-{CLASSES}", np.random.default_rng(1))

    def batches(rng: np.random.Generator) -> tuple[dict, np.ndarray]:
        x, labels = _data(128, rng)
        return {"x": x}, labels

    result = fit(start, batches, _cross_entropy, FitSettings(steps=300, learning_rate=1e-2))
    return result


def test_the_fitter_fits_a_classifier(classifier) -> None:  # noqa: ANN001
    assert classifier.complete and len(classifier.losses) == 300
    assert classifier.final_loss < 0.5 * classifier.losses[0]
    x, labels = _data(2000, np.random.default_rng(7))
    logits = classifier.mlp.forward({"x": x})["fc1"]
    assert np.mean(logits.argmax(axis=1) == labels) > 0.9


def test_classified_on_the_crossbar_and_costed_per_layer(classifier, synthetic: Path) -> None:  # noqa: ANN001
    mlp = classifier.mlp
    (table,) = read_tables(synthetic)
    mapping = map_model(mlp, TileGeometry(table.spec.rows, table.spec.cols))
    x, labels = _data(1000, np.random.default_rng(8))
    calibration = {"x": _data(256, np.random.default_rng(9))[0]}

    ideal = evaluate_accuracy(mlp, mapping, table.spec, table.weights, Nonideality.ideal(),
                              {"x": x}, calibration, labels)
    # the ideal crossbar is the float model (to rounding, inputs within the calibrated scale)
    assert ideal.output("fc1").agreement > 0.995
    assert abs(ideal.label_accuracy - ideal.ideal_label_accuracy) <= 0.005
    assert ideal.ideal_label_accuracy > 0.9

    device = evaluate_accuracy(mlp, mapping, table.spec, table.weights,
                               Nonideality.of(table.spec, table.weights), {"x": x}, calibration,
                               labels)
    logits = device.output("fc1")
    assert logits.rel_rms > ideal.output("fc1").rel_rms  # 4-bit weights, variation, noise
    # measured: 99.9 % top-1 agreement, 99.5 % against 99.6 % for the float model
    assert logits.agreement > 0.97
    assert device.label_accuracy >= ideal.ideal_label_accuracy - 0.02
    assert np.isnan(logits.psnr_db)  # logits: top-1, no PSNR

    # latency and energy from the synthetic table (column j: (j + 1) ns, (j + 1) fJ; ADC
    # 1 ns and 1 pJ per conversion). 8x8 tiles hold 4 differential outputs.
    cost = model_cost(mapping, table, Workload(1, 1, 1), 4, DigitalAdder(0.0, 0.0))
    fc0, fc1 = mapping.layers
    assert (fc0.row_tiles, fc0.col_tiles, fc0.input_phases) == (2, 8, 2)  # signed input x
    assert (fc1.row_tiles, fc1.col_tiles, fc1.input_phases) == (4, 1, 1)  # ReLU input
    # every column sampled once the slowest (8 ns) has settled, then k columns per ADC in k
    # rounds of 1 ns: 8 columns per tile, all used, 4 columns per ADC; each conversion with its
    # reference buffer's share (REF_BUFFER_FRACTION of the conversion)
    adc = 8 * PJ * (1 + REF_BUFFER_FRACTION)
    tile = {"serialized": (8 + 8) * NS, "fully_parallel": (8 + 1) * NS,
            "adc_shared": (8 + 4) * NS}
    for schedule, latency in tile.items():
        assert cost.layer("fc0", schedule).latency_s == pytest.approx(2 * latency)
        assert cost.layer("fc1", schedule).latency_s == pytest.approx(latency)
        assert cost.layer("fc0", schedule).energy_j == pytest.approx(2 * 16 * (36 * FJ + adc))
        assert cost.layer("fc1", schedule).energy_j == pytest.approx(4 * (36 * FJ + adc))
        assert cost.total(schedule).sample_latency_s == pytest.approx(3 * latency)


def test_labels_need_a_logits_output(classifier, synthetic: Path) -> None:  # noqa: ANN001
    (table,) = read_tables(synthetic)
    mlp = classifier.mlp
    mapping = map_model(mlp, TileGeometry(8, 8))
    x = {"x": _data(8, np.random.default_rng(1))[0]}
    with pytest.raises(SpecError, match="labels.shape"):
        evaluate_accuracy(mlp, mapping, table.spec, table.weights, Nonideality.ideal(), x, x,
                          np.zeros(3))
