"""Measurement definitions on waveforms with known answers (no simulator)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spicecim.devices import AdcModel
from spicecim.errors import SpecError
from spicecim.measure import (
    AdcBand,
    adc_band,
    crossing_time,
    edge_time,
    measure_column,
    schedule_layer,
    settle_time,
    window_energy,
)
from spicecim.netlist.spec import default_spec

ADC = AdcModel(bits=8, t_conv_s=1e-9, e_conv_j=2e-12)


def _rc(tau: float, v_inf: float, t_end: float, n: int = 20001) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, t_end, n)
    return t, v_inf * (1 - np.exp(-t / tau))


def test_full_scale_is_every_cell_at_g_max_with_full_inputs() -> None:
    spec = default_spec(256, 256)
    band = adc_band(spec, 225e-6)
    assert band.full_scale_v == pytest.approx(256 * 225e-6 * 0.1 * 1.0)
    assert band.lsb_v == pytest.approx(band.full_scale_v / 256)
    assert band.half_lsb_v == pytest.approx(band.lsb_v / 2)
    with pytest.raises(SpecError, match="g_max_s"):
        adc_band(spec, 0.0)


@settings(max_examples=40, deadline=None)
@given(tau=st.floats(1e-12, 1e-8), v_inf=st.floats(1e-3, 1.0), bits=st.integers(4, 12))
def test_settle_time_of_an_exponential_is_tau_log_amplitude_over_band(
    tau: float, v_inf: float, bits: int
) -> None:
    band = AdcBand(v_inf, bits).half_lsb_v
    t, v = _rc(tau, v_inf, 12 * tau * bits)
    expected = tau * math.log(v_inf / band)
    assert settle_time(t, v, v_inf, band) == pytest.approx(expected, rel=1e-4)


def test_settle_time_takes_the_last_entry_into_the_band() -> None:
    t = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    v = np.array([0.0, 1.05, 0.999, 1.2, 1.0, 1.0])  # in, out again, in for good
    assert settle_time(t, v, 1.0, 0.1) == pytest.approx(3.5)
    assert settle_time(t, np.full(6, 1.0), 1.0, 0.1) == 0.0
    assert math.isnan(settle_time(t, v + np.arange(6), 1.0, 0.1))


def test_crossings_interpolate_linearly() -> None:
    t = np.array([0.0, 1.0, 2.0])
    assert crossing_time(t, np.array([0.0, 1.0, 1.0]), 0.25) == pytest.approx(0.25)
    assert crossing_time(t, np.array([1.0, 0.0, 0.0]), 0.25) == pytest.approx(0.75)
    assert math.isnan(crossing_time(t, np.array([0.0, 0.1, 0.2]), 1.0))
    assert edge_time(t, np.array([0.0, 2.0, 2.0])) == pytest.approx(0.5)
    assert edge_time(t, np.zeros(3)) == 0.0


@settings(max_examples=40, deadline=None)
@given(a=st.floats(-1.0, 1.0), b=st.floats(-1.0, 1.0), end=st.floats(0.0, 3.0))
def test_window_energy_integrates_piecewise_linear_power_exactly(a: float, b: float,
                                                                 end: float) -> None:
    t = np.array([0.0, 0.5, 1.5, 3.0])
    p = a + b * t
    assert window_energy(t, p, end) == pytest.approx(a * end + 0.5 * b * end**2, abs=1e-12)


def test_measure_column_on_an_ideal_rc_step() -> None:
    tau, v_inf, rise = 1e-9, 0.05, 1e-12
    t, v = _rc(tau, v_inf, 15e-9)
    v_in = np.minimum(t / rise, 1.0) * 0.1
    band = AdcBand(0.1, 8)
    power = {"drivers": 0.1 * (0.1 - v) * 1e-4, "readout": np.zeros_like(t)}
    m = measure_column(t, v, v_in, power, band, ADC, threshold_fraction=0.5)
    settle = tau * math.log(v_inf / band.half_lsb_v)
    assert m.settle_s == pytest.approx(settle, rel=1e-4)
    assert m.latency_s == pytest.approx(settle - rise / 2, rel=1e-4)
    assert m.threshold_s == pytest.approx(tau * math.log(2) - rise / 2, rel=1e-3)
    assert m.window_s == pytest.approx(settle, rel=1e-4)
    assert m.energy_j["adc"] == ADC.e_conv_j
    exact = 1e-5 * (0.05 * settle + 0.05 * tau * (1 - math.exp(-settle / tau)))
    assert m.energy_j["drivers"] == pytest.approx(exact, rel=1e-5)
    assert m.energy_total_j == pytest.approx(exact + ADC.e_conv_j)


def test_a_flat_readout_has_zero_latency_and_no_threshold() -> None:
    t = np.linspace(0, 1e-9, 11)
    m = measure_column(t, np.zeros(11), np.minimum(t / 1e-10, 1) * 0.1, {}, AdcBand(0.1, 8), ADC)
    assert m.latency_s == 0.0
    assert math.isnan(m.threshold_s)
    assert m.window_s == pytest.approx(1e-10)


def test_schedules_follow_their_formulas() -> None:
    lat = np.array([1e-9, 3e-9, 2e-9, 5e-9, 4e-9])
    energy = np.full(5, 1e-13)
    rows = {s.schedule: s for s in schedule_layer(lat, energy, ADC, adc_share=2)}
    assert rows["fully_parallel"].latency_s == pytest.approx(5e-9 + 1e-9)
    assert rows["adc_shared"].rounds == 3
    assert rows["adc_shared"].latency_s == pytest.approx((3e-9 + 5e-9 + 4e-9) + 3 * 1e-9)
    assert rows["serialized"].latency_s == pytest.approx(15e-9 + 5 * 1e-9)
    for s in rows.values():
        assert s.conversions == 5
        assert s.energy_j == pytest.approx(5e-13 + 5 * ADC.e_conv_j)


@settings(max_examples=60, deadline=None)
@given(lat=st.lists(st.floats(0.0, 1e-8), min_size=1, max_size=40), k=st.integers(1, 50))
def test_schedules_are_ordered_and_bounded(lat: list[float], k: int) -> None:
    n = len(lat)
    rows = {s.schedule: s for s in schedule_layer(np.array(lat), np.zeros(n), ADC, adc_share=k)}
    par, shared, ser = (rows[s].latency_s for s in ("fully_parallel", "adc_shared", "serialized"))
    assert par <= shared * (1 + 1e-12) and shared <= ser * (1 + 1e-12)
    one = {s.schedule: s for s in schedule_layer(np.array(lat), np.zeros(n), ADC, adc_share=1)}
    assert one["adc_shared"].latency_s == pytest.approx(ser)
    all_ = {s.schedule: s for s in schedule_layer(np.array(lat), np.zeros(n), ADC, adc_share=n)}
    assert all_["adc_shared"].latency_s == pytest.approx(par)


def test_a_missing_column_makes_every_schedule_missing() -> None:
    rows = schedule_layer(np.array([1e-9, math.nan]), np.array([1e-13, math.nan]), ADC, 2)
    assert all(math.isnan(r.latency_s) and math.isnan(r.energy_j) for r in rows)
    with pytest.raises(SpecError, match="adc_share"):
        schedule_layer(np.array([1e-9]), np.array([0.0]), ADC, 0)
