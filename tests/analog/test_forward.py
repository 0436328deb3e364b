"""The JAX forward against the NumPy pass it replaced, on the same programmed tiles and seeds:
the same numbers where no noise is drawn at read time, the same spread where the read noise
is now drawn by JAX's generator instead of NumPy's."""

from __future__ import annotations

import numpy as np
import pytest

from spicecim.analog import accuracy as acc
from spicecim.analog import forward
from spicecim.cost.mapping import TileGeometry, map_model
from spicecim.models.mlp import Dense, Mlp
from spicecim.models.presets import sample_inputs
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import WeightMapping

_LAYERS = (("fc0", ("pos",), 12, "relu"), ("fc1", ("fc0", "pos"), 12, "relu"),
           ("sigma", ("fc1",), 1, "softplus"), ("feature", ("fc1",), 6, "none"),
           ("rgb_hidden", ("feature", "dir"), 8, "relu"), ("rgb", ("rgb_hidden",), 3, "sigmoid"))


def _setup(scheme: str, rows: int, rows_per_read: int | None = None, slices: int = 1,
           copies: int = 1):  # noqa: ANN202
    rng = np.random.default_rng(0)
    widths, layers = {"pos": 9, "dir": 9}, []
    for name, sources, width, activation in _LAYERS:
        fan_in = sum(widths[s] for s in sources)
        w = (rng.uniform(-1, 1, (fan_in, width)) * np.sqrt(3 / fan_in)).astype(np.float32)
        b = rng.uniform(-0.1, 0.1, width).astype(np.float32)
        layers.append(Dense(name, sources, w, b, activation))
        widths[name] = width
    mlp = Mlp({"pos": 9, "dir": 9}, tuple(layers))
    spec = specs.default_spec(rows, rows)
    weights = WeightMapping(scheme, specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S, 4)
    geometry = TileGeometry(rows, rows, scheme, rows_per_read=rows_per_read, slices=slices,
                            copies=copies)
    mapping = map_model(mlp, geometry)
    return (mlp, spec, weights, mapping, sample_inputs(mlp, 300, np.random.default_rng(1)),
            sample_inputs(mlp, 200, np.random.default_rng(2)))


def _outputs(case: tuple, settings: acc.Nonideality, numpy: bool) -> dict[str, np.ndarray]:
    mlp, spec, weights, mapping, points, calibration = case
    layers = acc.program(mlp, mapping, spec, weights, settings, calibration)
    hook = (acc.analog_matmul(layers, spec, weights, settings) if numpy else
            forward.analog_matmul(layers, spec.driver.v_full_v, weights, settings))
    return mlp.forward(points, hook)


CASES = {"differential": ("differential", 8), "reference": ("reference", 8),
         "row groups": ("differential", 16, 8),
         "slices and copies": ("differential", 16, None, 2, 2)}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("change", [{}, {"adc_range": "worst"}, {"calibrate": False},
                                    {"ir_aware": True}, {"dac_bits": None, "adc_bits": None}])
def test_without_read_noise_the_forward_is_the_numpy_pass(case: str, change: dict) -> None:
    setup = _setup(*CASES[case])
    settings = acc.Nonideality.of(setup[1], setup[2], read_noise=0.0, seed=4, **change)
    old, new = (_outputs(setup, settings, numpy) for numpy in (True, False))
    for name in old:
        # The NumPy pass read in float32 (1e-7 of a current) and XLA divides by an LSB as a
        # multiplication: a current on an ADC decision edge (a few in a thousand, where 4-bit
        # weights and 8-bit inputs put currents on the code lattice) may take the next code.
        rms = np.sqrt(np.mean(old[name] ** 2))
        differs = np.abs(new[name] - old[name]) > 1e-5 * rms
        print(f"{case} {change} {name}: {differs.mean():.2%} of values differ")
        assert differs.mean() < 0.01, (name, differs.mean())


def test_with_read_noise_the_error_spreads_as_the_numpy_pass_did() -> None:
    setup = _setup("differential", 8)
    mlp, points = setup[0], setup[4]
    ideal = mlp.forward(points)["rgb"]
    spread = {}
    for numpy in (True, False):
        spread[numpy] = np.array([
            np.sqrt(np.mean((_outputs(setup, acc.Nonideality.of(
                setup[1], setup[2], variation=0.0, read_noise=0.05, seed=seed), numpy)["rgb"]
                - ideal) ** 2)) for seed in range(8)])
    old, new = spread[True], spread[False]
    print(f"rgb RMSE over 8 seeds: NumPy {old.mean():.4g} +- {old.std():.2g}, "
          f"JAX {new.mean():.4g} +- {new.std():.2g}")
    assert abs(new.mean() - old.mean()) < 3 * np.hypot(old.std(), new.std()) / np.sqrt(8)
    assert old.min() - old.std() < new.mean() < old.max() + old.std()
