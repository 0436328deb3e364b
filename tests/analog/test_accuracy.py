"""The analog forward pass: exact in the ideal limit, and worse exactly where physics says."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from spicecim.analog.accuracy import Nonideality
from spicecim.analog.scoring import evaluate_accuracy, sweep_accuracy
from spicecim.cost.mapping import TileGeometry, map_model
from spicecim.errors import SpecError
from spicecim.models.mlp import Mlp
from spicecim.models.presets import init_mlp, sample_inputs
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import WeightMapping, programming_sigma_s


def _setup(mlp: Mlp, scheme: str = "differential", rows: int = 8, cols: int = 8):  # noqa: ANN202
    spec = specs.default_spec(rows, cols)
    weights = WeightMapping(scheme, specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S, 4)
    mapping = map_model(mlp, TileGeometry(rows, cols, scheme))
    points = sample_inputs(mlp, 400, np.random.default_rng(1))
    calibration = sample_inputs(mlp, 200, np.random.default_rng(2))
    return mlp, spec, weights, mapping, points, calibration


@pytest.mark.parametrize("scheme", ["differential", "reference"])
def test_ideal_settings_reproduce_the_float_pass(tiny_mlp: Mlp, scheme: str) -> None:
    mlp, spec, weights, mapping, points, _ = _setup(tiny_mlp, scheme)
    # calibrated on the evaluation points themselves, so no input saturates
    result = evaluate_accuracy(mlp, mapping, spec, weights, Nonideality.ideal(), points, points)
    for out in result.outputs:
        assert out.rel_rms < 1e-6, out
    assert all(err < 1e-6 for _, err in result.layers)


def test_the_nerf_preset_is_exact_in_the_ideal_limit_too() -> None:
    mlp = init_mlp("nerf", np.random.default_rng(3))
    spec = specs.default_spec(128, 128)
    weights = WeightMapping("differential", specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S, 4)
    points = sample_inputs(mlp, 64, np.random.default_rng(1))
    result = evaluate_accuracy(mlp, map_model(mlp, TileGeometry(128, 128)), spec, weights,
                               Nonideality.ideal(), points, points)
    # The analog products are float32 (eps 6e-8): a few e-7 per layer through nine layers.
    assert max(err for _, err in result.layers) < 1e-5


def _errors(results: list) -> list[tuple[float, float]]:  # noqa: ANN001
    return [(r.output("sigma").rel_rms, r.output("rgb").rmse) for r in results]


def _strictly(values: list[float], rising: bool) -> bool:
    pairs = list(zip(values, values[1:], strict=False))
    return all(b > a for a, b in pairs) if rising else all(b < a for a, b in pairs)


def test_error_falls_as_adc_bits_rise(tiny_mlp: Mlp) -> None:
    mlp, spec, weights, mapping, points, calibration = _setup(tiny_mlp)
    base = dataclasses.replace(Nonideality.ideal(), adc_bits=8)
    results = sweep_accuracy(mlp, mapping, spec, weights, base, {"adc_bits": [2, 4, 6, 8, 10, 12]},
                             points, calibration)
    sigma, rgb = zip(*_errors(results), strict=True)
    assert _strictly(list(sigma), rising=False) and _strictly(list(rgb), rising=False)
    assert [r.settings.adc_bits for r in results] == [2, 4, 6, 8, 10, 12]


def test_error_rises_with_variation_and_read_noise(tiny_mlp: Mlp) -> None:
    mlp, spec, weights, mapping, points, calibration = _setup(tiny_mlp)
    base = Nonideality.of(spec, weights, read_noise=0.0, adc_bits=None, dac_bits=None)
    results = sweep_accuracy(mlp, mapping, spec, weights, base,
                             {"variation": [0.0, 0.5, 1.0, 2.0, 4.0]}, points, calibration)
    sigma, rgb = zip(*_errors(results), strict=True)
    assert _strictly(list(sigma), rising=True) and _strictly(list(rgb), rising=True)
    noisy = sweep_accuracy(mlp, mapping, spec, weights, dataclasses.replace(base, variation=0.0),
                           {"read_noise": [0.0, 0.02, 0.05]}, points, calibration)
    assert _strictly([r.output("rgb").rmse for r in noisy], rising=True)


def test_each_nonideality_costs_accuracy_and_seeds_repeat(tiny_mlp: Mlp) -> None:
    mlp, spec, weights, mapping, points, calibration = _setup(tiny_mlp)
    ideal = evaluate_accuracy(mlp, mapping, spec, weights, Nonideality.ideal(), points,
                              calibration)
    for change in ({"weight_bits": 3}, {"dac_bits": 3}, {"adc_bits": 6}, {"ir_drop": True},
                   {"variation": 1.0}, {"read_noise": 0.01}):
        worse = evaluate_accuracy(mlp, mapping, spec, weights,
                                  dataclasses.replace(Nonideality.ideal(), **change), points,
                                  calibration)
        # IR drop on an 8x8 tile of 1-40 uS cells is small (N^2 r G = 0.005): 1e-7, not 1e-6
        assert worse.output("rgb").rmse > ideal.output("rgb").rmse + 1e-7, change
    full = Nonideality.of(spec, weights)
    again = [evaluate_accuracy(mlp, mapping, spec, weights, full, points, calibration)
             for _ in range(2)]
    assert again[0] == again[1]


def test_programming_sigma_of_milo_2021() -> None:
    # sigma_G = -0.009107 G + 4.782321 uS: 4.33 uS at 50 uS, 2.73 uS at 225 uS, 0 past 525 uS
    np.testing.assert_allclose(programming_sigma_s(np.array([50e-6, 225e-6, 600e-6]), 225e-6,
                                                   "milo2021"),
                               [4.326971e-6, 2.733246e-6, 0.0], rtol=1e-6)


def test_bad_settings_name_the_field(tiny_mlp: Mlp) -> None:
    with pytest.raises(SpecError, match="adc_bits"):
        Nonideality(4, 8, 0)
    with pytest.raises(SpecError, match="variation"):
        Nonideality(4, 8, 8, variation=-1.0)
    mlp, spec, weights, mapping, points, calibration = _setup(tiny_mlp)
    with pytest.raises(SpecError, match="sweep"):
        sweep_accuracy(mlp, mapping, spec, weights, Nonideality.ideal(), {"colour": [1]},
                       points, calibration)
    with pytest.raises(SpecError, match="adc_bits"):
        sweep_accuracy(mlp, mapping, spec, weights, Nonideality.ideal(), {"adc_bits": [2.5]},
                       points, calibration)


def test_gain_calibration_undoes_most_of_the_ir_drop(tiny_mlp: Mlp) -> None:
    # one 16x16 tile per layer part, wires on: columns read low until calibrated
    mlp, spec, weights, mapping, points, calibration = _setup(tiny_mlp, rows=16, cols=16)
    base = dataclasses.replace(Nonideality.ideal(), ir_drop=True)
    off, on = (evaluate_accuracy(mlp, mapping, spec, weights,
                                 dataclasses.replace(base, calibrate=c), points, calibration)
               for c in (False, True))
    assert on.output("rgb").rmse < off.output("rgb").rmse
    assert max(e for _, e in on.layers) < max(e for _, e in off.layers)


def test_calibrated_adc_range_beats_the_worst_case_at_8_bits(tiny_mlp: Mlp) -> None:
    mlp, spec, weights, mapping, points, calibration = _setup(tiny_mlp, rows=16, cols=16)
    # Without the noise floor: a 16x16 tile's columns are too quiet for the window at any range
    # below the worst case (tests/devices/test_ranging.py), which would leave nothing to compare.
    base = dataclasses.replace(Nonideality.ideal(), adc_bits=8, range_floor=False)
    worst, calibrated = (evaluate_accuracy(mlp, mapping, spec, weights,
                                           dataclasses.replace(base, adc_range=r), points,
                                           calibration)
                         for r in ("worst", "calibrated"))
    assert calibrated.output("rgb").rmse < worst.output("rgb").rmse
    assert calibrated.output("sigma").rel_rms < worst.output("sigma").rel_rms
    with pytest.raises(SpecError, match="adc_range"):
        Nonideality(4, 8, 8, adc_range="best")
    text = calibrated.settings.describe_calibration(calibrated.calibration_points)
    assert "200 calibration points" in text and "standard practice" in text
    assert dataclasses.replace(base, calibrate=False).describe_calibration(5).endswith(
        "uncalibrated")
