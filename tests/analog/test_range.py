"""One ADC range: the front end the netlist builds for a tile is sized for the range the
accuracy pass uses on the same tile: the calibrated one, raised to the front end's noise
floor."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from spicecim.analog import accuracy as acc
from spicecim.cost.mapping import TileGeometry, map_model
from spicecim.models.mlp import Dense, Mlp
from spicecim.netlist import spec as specs
from spicecim.netlist.crossbar import Op, build_column
from spicecim.netlist.weights import WeightMapping
from spicecim.solve import adc_range_a, calibration_drive, with_calibrated_range

SPEC = specs.default_spec(8, 8)
WEIGHTS = WeightMapping("differential", specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S, 4)


def _programmed(range_floor: bool) -> tuple[acc.ProgrammedLayer, dict[str, np.ndarray]]:
    """A 6-3 layer on one 8x8 tile, programmed without variation or read noise, and the batch
    it was calibrated on."""
    rng = np.random.default_rng(3)
    w = rng.uniform(-1, 1, (6, 3)).astype(np.float32)
    mlp = Mlp({"x": 6}, (Dense("fc", ("x",), w, np.zeros(3, np.float32), "none"),))
    mapping = map_model(mlp, TileGeometry(8, 8, "differential"))
    calibration = {"x": rng.uniform(-1, 1, (50, 6))}
    settings = dataclasses.replace(acc.Nonideality.of(SPEC, WEIGHTS), variation=0.0,
                                   read_noise=0.0, range_floor=range_floor)
    return acc.program(mlp, mapping, SPEC, WEIGHTS, settings, calibration)["fc"], calibration


def test_the_netlists_adc_range_is_the_one_the_accuracy_pass_calibrates() -> None:
    spec, weights = SPEC, WEIGHTS
    layer, calibration = _programmed(range_floor=True)
    (tile,) = layer.tiles
    # The programmed conductances (no variation): the used rows', the rest at g_min.
    g = np.full((8, 8), weights.g_min_s)
    g[:6] = np.sqrt(tile.g_sq)
    drive = calibration_drive(calibration["x"] / layer.input_scale, layer.phases,
                              spec.driver.v_full_v)
    circuit = specs.Tile(with_calibrated_range(spec, g, drive, tile.used_cols), g,
                         np.ones(8))
    sized = circuit.readout
    # Equal to the float32 precision the model's activations are recorded in.
    assert sized.i_range_a == pytest.approx(tile.adc_full_a, rel=1e-6, abs=0)
    assert tile.workload_full_a < 0.9 * sized.i_fs_a  # the workload's range, not the worst case
    # This tile's cells are small (at most 12.4 uS over 6 rows): the noise floor lifts the
    # range above the workload's, to where its front end settles in the window.
    assert tile.adc_full_a == adc_range_a(spec, g, tile.workload_full_a) > tile.workload_full_a
    assert sized.i_fs_a == pytest.approx(tile.sized_full_a, rel=1e-9, abs=0)
    swing = sized.readout.opamp.v_swing_v
    assert sized.r_f_ohm == pytest.approx(swing / tile.adc_full_a, rel=1e-6)
    assert sized.full_scale_v == pytest.approx(swing, rel=1e-12)
    # The netlist's feedback resistor is that one.
    netlist = build_column(circuit, 0, Op())
    r_f = [float(v) for v in re.findall(r"^Rf0\s+\S+\s+\S+\s+(\S+)", netlist, re.M)]
    assert r_f and r_f[0] == pytest.approx(swing / tile.adc_full_a, rel=1e-6)
    (name, use), = acc.range_use({"fc": layer})
    assert name == "fc" and use == pytest.approx(tile.adc_full_a / tile.sized_full_a)
    assert sized.range_use == pytest.approx(1 / use)


def test_without_the_floor_the_range_is_the_workloads() -> None:
    """range_floor=False: the accuracy pass's range is the calibrated one alone."""
    (tile,) = _programmed(range_floor=False)[0].tiles
    assert tile.adc_full_a == tile.workload_full_a < 0.9 * tile.sized_full_a
