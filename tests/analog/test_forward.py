"""The JAX forward against the NumPy pass it replaced (0af0461's ``accuracy.analog_matmul``), on
the same programmed tiles and seeds: the NumPy pass's output errors, recorded from it before
it was removed, repeat where no noise is drawn at read time, and the spread of the error over
seeds repeats where the read noise is drawn from other streams (seeded per layer and call).

Measured when both existed (the same tiles): without read noise, 0 % of output values differed
beyond 1e-5 of their RMS except where a current sits on an ADC decision edge (at most 0.44 %
of values, reference scheme uncalibrated); with 5 % read noise, rgb RMSE over 8 seeds NumPy
0.00773 +- 0.00016, JAX 0.007736 +- 0.00017 (threefry normals); with NumPy's generator drawing
the forward's noise (faster renders, issue 23 item 7), 0.007654 +- 0.00018."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from spicecim import devices
from spicecim.analog import accuracy as acc
from spicecim.analog import forward
from spicecim.cost.mapping import TileGeometry, map_model
from spicecim.models.mlp import Mlp
from spicecim.models.presets import sample_inputs
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import WeightMapping


def _setup(mlp: Mlp, scheme: str, rows: int, rows_per_read: int | None = None, slices: int = 1,
           copies: int = 1):  # noqa: ANN202
    spec = specs.default_spec(rows, rows)
    # The circuit the NumPy pass's errors below were recorded on: the one-pole amplifier that was
    # the default then (the two-stage one's a0 and output resistance move the virtual ground,
    # the sizing and with them the transfer matrices and the ADC ranges).
    spec = dataclasses.replace(spec, readout=dataclasses.replace(
        spec.readout, opamp=devices.opamp("opamp_1p")))
    weights = WeightMapping(scheme, specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S, 4)
    geometry = TileGeometry(rows, rows, scheme, rows_per_read=rows_per_read, slices=slices,
                            copies=copies)
    mapping = map_model(mlp, geometry)
    return (mlp, spec, weights, mapping, sample_inputs(mlp, 300, np.random.default_rng(1)),
            sample_inputs(mlp, 200, np.random.default_rng(2)))


def _error(case: tuple, settings: acc.Nonideality) -> dict[str, float]:
    mlp, spec, weights, mapping, points, calibration = case
    layers = acc.program(mlp, mapping, spec, weights, settings, calibration)
    got = mlp.forward(points, forward.analog_matmul(layers, spec.driver.v_full_v, weights,
                                                    settings))
    ideal = mlp.forward(points)
    return {name: float(np.sqrt(np.mean((got[name] - ideal[name]) ** 2))) for name in got}


CASES = {"differential": ("differential", 8), "reference": ("reference", 8),
         "row groups": ("differential", 16, 8),
         "slices and copies": ("differential", 16, None, 2, 2)}
CHANGES = ({}, {"adc_range": "worst"}, {"calibrate": False}, {"ir_aware": True},
           {"dac_bits": None, "adc_bits": None})
# (sigma, rgb) RMSE of the NumPy pass, read noise 0, seed 4, per case and change.
NUMPY_RMSE = {
    ("differential", 0): (0.0397703, 0.0101915), ("differential", 1): (0.0404506, 0.0103318),
    ("differential", 2): (0.0405917, 0.0131546), ("differential", 3): (0.0394585, 0.0101524),
    ("differential", 4): (0.0397178, 0.0101314), ("reference", 0): (0.229005, 0.0392222),
    ("reference", 1): (0.306029, 0.0414216), ("reference", 2): (0.21637, 0.0565714),
    ("reference", 3): (0.228239, 0.0390384), ("reference", 4): (0.303942, 0.0412747),
    ("row groups", 0): (0.0298008, 0.010731), ("row groups", 1): (0.0286049, 0.0109496),
    ("row groups", 2): (0.0371882, 0.0117698), ("row groups", 3): (0.0295118, 0.010734),
    ("row groups", 4): (0.0286229, 0.0107371), ("slices and copies", 0): (0.0150986, 0.00744604),
    ("slices and copies", 1): (0.0153602, 0.00759547),
    ("slices and copies", 2): (0.0172467, 0.00845169),
    ("slices and copies", 3): (0.0152262, 0.00736969),
    ("slices and copies", 4): (0.0141663, 0.00735887)}
# rgb RMSE of the NumPy pass with 5 % read noise (no variation), seeds 0 to 7.
NUMPY_NOISY_RMSE = (0.00800546, 0.00774912, 0.00795989, 0.00769368, 0.00759829, 0.00753303,
                    0.00759196, 0.00770886)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("change", range(len(CHANGES)))
def test_without_read_noise_the_forward_repeats_the_numpy_pass(tiny_mlp: Mlp, case: str,
                                                              change: int) -> None:
    setup = _setup(tiny_mlp, *CASES[case])
    # The NumPy pass quantised at the workload's range: the noise floor (a programming-time
    # choice, tests/analog/test_range.py) left out so the read itself is what is compared.
    settings = acc.Nonideality.of(setup[1], setup[2], read_noise=0.0, seed=4, range_floor=False,
                                  **CHANGES[change])
    got = _error(setup, settings)
    # The NumPy pass read in float32 (1e-7 of a current) and XLA divides by an LSB as a
    # multiplication: a current on an ADC decision edge (a few in a thousand values, where
    # 4-bit weights and 8-bit inputs put currents on the code lattice) may take the next code.
    for name, want in zip(("sigma", "rgb"), NUMPY_RMSE[(case, change)], strict=True):
        assert got[name] == pytest.approx(want, rel=0.02), (name, got[name], want)


def test_with_read_noise_the_error_spreads_as_the_numpy_pass_did(tiny_mlp: Mlp) -> None:
    setup = _setup(tiny_mlp, "differential", 8)
    new = np.array([_error(setup, acc.Nonideality.of(setup[1], setup[2], variation=0.0,
                                                      read_noise=0.05, seed=seed))["rgb"]
                    for seed in range(8)])
    old = np.array(NUMPY_NOISY_RMSE)
    print(f"rgb RMSE over 8 seeds: NumPy {old.mean():.4g} +- {old.std():.2g}, "
          f"JAX {new.mean():.4g} +- {new.std():.2g}")
    assert abs(new.mean() - old.mean()) < 3 * np.hypot(old.std(), new.std()) / np.sqrt(8)
    assert old.min() - old.std() < new.mean() < old.max() + old.std()
