"""Weights on several devices: bit slicing and copies read back what they store."""

from __future__ import annotations

import numpy as np
import pytest

from spicecim.cost.slicing import WeightCode
from spicecim.errors import SpecError
from spicecim.netlist.weights import WeightMapping, programming_sigma_s, wan2022_sigma_s

MAPPING = WeightMapping("differential", 1e-6, 40e-6, 4)


@pytest.mark.parametrize(("slices", "copies"), [(1, 1), (2, 1), (3, 1), (2, 3)])
def test_slices_round_to_slices_times_bits(slices: int, copies: int) -> None:
    w = np.random.default_rng(0).uniform(-1, 1, (7, 5))
    code = WeightCode(MAPPING, 4, slices, copies)
    one = code.to_conductances(w, 1.0)  # one copy's row; the column sums the copies
    g = copies * one
    assert g.shape == (7, 5 * 2 * slices)
    assert one.min() >= MAPPING.g_min_s - 1e-18 and one.max() <= MAPPING.g_max_s + 1e-18
    half_step = 0.5 / ((1 << (4 * slices)) - 1)
    err = np.abs(code.to_weights(g, 1.0) - w)
    assert err.max() <= half_step + 1e-12
    assert err.max() > 0.5 * half_step  # the rounding is the slices' and no finer


def test_one_device_is_the_weight_mapping() -> None:
    w = np.random.default_rng(1).uniform(-2, 2, (6, 4))
    np.testing.assert_array_equal(WeightCode(MAPPING, 4).to_conductances(w, 2.0),
                                  MAPPING.to_conductances(w, 2.0))
    ref = WeightMapping("reference", 1e-6, 40e-6, 4)
    np.testing.assert_array_equal(WeightCode(ref, 4).to_conductances(w, 2.0),
                                  ref.to_conductances(w, 2.0))


def test_copies_average_the_programming_error() -> None:
    rng = np.random.default_rng(2)
    w = rng.uniform(-1, 1, (200, 50))
    errors = []
    for copies in (1, 4):
        code = WeightCode(MAPPING, 8, 1, copies)
        g = np.repeat(code.to_conductances(w, 1.0)[None], copies, axis=0)  # each copy's row
        sigma_s = programming_sigma_s(g, MAPPING.g_max_s, "wan2022")
        noisy = g + sigma_s * rng.standard_normal(g.shape)
        errors.append(np.std(code.to_weights(noisy.sum(axis=0), 1.0)
                             - code.to_weights(g.sum(axis=0), 1.0)))
    assert errors[1] == pytest.approx(errors[0] / 2, rel=0.05)


def test_wan2022_is_aihwkit_polynomial() -> None:
    # 0.348 uS at 0, 2.30 uS near G/g_max = 0.31, 1.103 uS at g_max = 40 uS; scaled with g_max
    got = wan2022_sigma_s(np.array([0.0, 0.31 * 40e-6, 40e-6]), 40e-6)
    np.testing.assert_allclose(got, [0.348e-6, 2.30e-6, 1.103e-6], rtol=2e-3)
    np.testing.assert_allclose(wan2022_sigma_s(np.array([80e-6]), 80e-6), [2.206e-6], rtol=1e-3)


def test_bad_codes_name_the_field() -> None:
    with pytest.raises(SpecError, match="slices"):
        WeightCode(MAPPING, 4, 0)
    with pytest.raises(SpecError, match="weight_bits"):
        WeightCode(MAPPING, 0)
    with pytest.raises(SpecError, match="scheme"):
        WeightCode(WeightMapping("reference", 1e-6, 40e-6, 4), 4, 2)
