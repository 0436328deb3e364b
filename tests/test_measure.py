"""Measurement definitions on waveforms with known answers (no simulator)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spicecim.devices import AdcModel, SizedReadout
from spicecim.devices.readout import size
from spicecim.errors import SpecError
from spicecim.measure import (
    ENERGY_PARTS,
    SCHEDULES,
    AdcBand,
    ColumnFigures,
    LayerSchedule,
    adc_band,
    crossing_time,
    edge_time,
    latency_breakdown,
    measure_column,
    ops_per_read,
    schedule_layer,
    settle_time,
    tops_per_w,
    window_energy,
)
from spicecim.netlist.spec import DEFAULT_READOUT

ADC = AdcModel(bits=8, t_conv_s=1e-9, e_conv_j=2e-12)


def _rc(tau: float, v_inf: float, t_end: float, n: int = 20001) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, t_end, n)
    return t, v_inf * (1 - np.exp(-t / tau))


def _sized(full_scale_v: float = 0.3, bits: int = 8) -> SizedReadout:
    readout = dataclasses.replace(DEFAULT_READOUT, adc=dataclasses.replace(ADC, bits=bits))
    return size(readout, full_scale_v / 1e3, 0.1, 1e-10)  # a 1 kOhm TIA at 0.3 mA


def test_the_band_is_the_sized_readouts_full_scale() -> None:
    sized = _sized()
    band = adc_band(sized)
    assert sized.r_f_ohm == pytest.approx(1e3)
    assert band.full_scale_v == pytest.approx(DEFAULT_READOUT.opamp.v_swing_v)
    assert band.lsb_v == pytest.approx(band.full_scale_v / 256)
    assert band.half_lsb_v == pytest.approx(band.lsb_v / 2)
    with pytest.raises(SpecError, match="full_scale_v"):
        AdcBand(0.0, 8)


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
@given(a=st.floats(-1.0, 1.0), b=st.floats(-1.0, 1.0), c=st.floats(-1.0, 1.0),
       end=st.floats(0.0, 3.0))
def test_window_energy_integrates_quadratic_power_exactly(a: float, b: float, c: float,
                                                          end: float) -> None:
    # Simpson's rule on uneven points is exact for the t^2 power of a linear edge, which the
    # trapezoidal rule overestimates.
    t = np.array([0.0, 0.4, 0.5, 1.5, 2.2, 3.0])
    p = a + b * t + c * t**2
    exact = a * end + 0.5 * b * end**2 + c * end**3 / 3
    assert window_energy(t, p, end) == pytest.approx(exact, abs=1e-9)


def test_window_energy_extends_the_last_power_past_the_run() -> None:
    t = np.array([0.0, 1.0, 2.0])
    assert window_energy(t, np.array([0.0, 1.0, 1.0]), 3.0) == pytest.approx(
        window_energy(t, np.array([0.0, 1.0, 1.0]), 2.0) + 1.0)


def test_measure_column_on_an_ideal_rc_step() -> None:
    tau, v_inf, rise = 1e-9, 0.05, 1e-12
    t, v = _rc(tau, v_inf, 15e-9)
    v_in = np.minimum(t / rise, 1.0) * 0.1
    sized = _sized(0.1)
    band = adc_band(sized)
    power = {"drivers": 0.1 * (0.1 - v) * 1e-4, "frontend": np.full_like(t, 1e-5)}
    m = measure_column(t, v, v_in, power, sized, threshold_fraction=0.5)
    settle = tau * math.log(v_inf / band.half_lsb_v)
    assert m.settle_s == pytest.approx(settle, rel=1e-4)
    assert m.latency_s == pytest.approx(settle - rise / 2, rel=1e-4)
    assert m.threshold_s == pytest.approx(tau * math.log(2) - rise / 2, rel=1e-3)
    assert m.window_s == pytest.approx(settle, rel=1e-4)
    assert m.energy_j["adc"] == sized.readout.adc.e_conv_j
    assert m.energy_j["sh"] == sized.readout.sample_hold.clock_energy_j
    exact = 1e-5 * (0.05 * settle + 0.05 * tau * (1 - math.exp(-settle / tau)))
    assert m.energy_j["drivers"] == pytest.approx(exact, rel=1e-5)
    assert m.energy_j["frontend"] == pytest.approx(1e-5 * settle, rel=1e-4)
    assert m.power_end_w == {"drivers": pytest.approx(0.1 * 0.05 * 1e-4, rel=1e-6),
                             "frontend": pytest.approx(1e-5)}
    assert m.snr_db == pytest.approx(20 * math.log10(v_inf / sized.noise_v))


def test_a_flat_readout_has_zero_latency_and_no_threshold() -> None:
    t = np.linspace(0, 1e-9, 11)
    m = measure_column(t, np.zeros(11), np.minimum(t / 1e-10, 1) * 0.1, {}, _sized(0.1))
    assert m.latency_s == 0.0
    assert math.isnan(m.threshold_s)
    assert m.window_s == pytest.approx(1e-10)


def _columns(latency: np.ndarray, window: np.ndarray | None = None, e: float = 1e-13,
             p_array: float = 1e-4, p_frontend: float = 2e-5) -> ColumnFigures:
    n = len(latency)
    window = latency if window is None else window
    return ColumnFigures(latency_s=latency, window_s=window, energy_array_j=np.full(n, e),
                         energy_frontend_j=np.full(n, 2 * e), power_array_w=np.full(n, p_array),
                         power_frontend_w=np.full(n, p_frontend))


def _by_name(rows: list) -> dict:
    return {(s.schedule, s.policy): s for s in rows}


def test_schedules_follow_their_timeline() -> None:
    lat = np.array([1e-9, 3e-9, 2e-9, 5e-9, 4e-9])
    cols = _columns(lat)
    rows = _by_name(schedule_layer(cols, ADC, 2, rows=4, dac_e_conv_j=1e-13, sh_e_clock_j=1e-16))
    # Every column samples when the slowest has settled, then the ADCs convert in rounds.
    assert rows["fully_parallel", "hold"].latency_s == pytest.approx(5e-9 + 1e-9)
    assert rows["adc_shared", "hold"].rounds == 2  # k columns per ADC: k rounds
    assert rows["adc_shared", "hold"].latency_s == pytest.approx(5e-9 + 2 * 1e-9)
    assert rows["serialized", "hold"].rounds == 5
    assert rows["serialized", "hold"].latency_s == pytest.approx(5e-9 + 5 * 1e-9)
    # hold: rows off once the samples are held; each column draws its settled power until the
    # slowest one has settled.
    held = 5 * 1e-13 + 1e-4 * float(np.sum(5e-9 - lat))
    for s in ("fully_parallel", "adc_shared", "serialized"):
        r = rows[s, "hold"]
        assert r.energy_array_j == pytest.approx(held)
        assert r.energy_frontend_j == pytest.approx(5 * 2e-13 + 2e-5 * float(np.sum(5e-9 - lat)))
        assert r.energy_dac_j == pytest.approx(4 * 1e-13)
        assert r.energy_sh_j == pytest.approx(5 * 1e-16)
        assert r.energy_adc_j == pytest.approx(5 * ADC.e_conv_j)
        assert r.rows_on_s == pytest.approx(5e-9)
        # driven: the rows and front ends stay on through every round of conversions.
        d = rows[s, "driven"]
        assert d.rows_on_s == pytest.approx(5e-9 + r.rounds * 1e-9)
        assert d.energy_array_j == pytest.approx(held + 5 * 1e-4 * r.rounds * 1e-9)
        assert d.latency_s == r.latency_s


def test_256_columns_sharing_8_per_adc_take_8_rounds() -> None:
    rows = _by_name(schedule_layer(_columns(np.full(256, 1e-9)), ADC, 8, rows=256,
                                   dac_e_conv_j=0.0, sh_e_clock_j=0.0))
    assert rows["adc_shared", "hold"].rounds == 8
    assert rows["adc_shared", "hold"].latency_s == pytest.approx(1e-9 + 8 * ADC.t_conv_s)
    # Driven rows cost array energy in proportion to the schedule's length.
    extra = {s: rows[s, "driven"].energy_array_j - rows[s, "hold"].energy_array_j
             for s in ("fully_parallel", "adc_shared", "serialized")}
    assert extra["adc_shared"] == pytest.approx(8 * extra["fully_parallel"])
    assert extra["serialized"] == pytest.approx(256 * extra["fully_parallel"])


@settings(max_examples=60, deadline=None)
@given(lat=st.lists(st.floats(0.0, 1e-8), min_size=1, max_size=40), k=st.integers(1, 50))
def test_schedules_are_ordered_and_bounded(lat: list[float], k: int) -> None:
    n = len(lat)

    def rows(share: int) -> dict:
        return _by_name(schedule_layer(_columns(np.array(lat)), ADC, share, rows=n,
                                       dac_e_conv_j=0.0, sh_e_clock_j=0.0))

    r = rows(k)
    par, shared, ser = (r[s, "hold"].latency_s for s in SCHEDULES)
    assert par <= shared * (1 + 1e-12) and shared <= ser * (1 + 1e-12)
    assert rows(1)["adc_shared", "hold"].latency_s == pytest.approx(par)
    assert rows(n)["adc_shared", "hold"].latency_s == pytest.approx(ser)
    for s in SCHEDULES:
        assert r[s, "driven"].energy_j >= r[s, "hold"].energy_j


def test_a_missing_column_makes_every_schedule_missing() -> None:
    cols = _columns(np.array([1e-9, math.nan]))
    rows = schedule_layer(cols, ADC, 2, rows=2, dac_e_conv_j=0.0, sh_e_clock_j=0.0)
    assert all(math.isnan(r.latency_s) and math.isnan(r.energy_j) for r in rows)
    with pytest.raises(SpecError, match="adc_share"):
        schedule_layer(cols, ADC, 0, rows=2, dac_e_conv_j=0.0, sh_e_clock_j=0.0)


def test_the_largest_time_constant_sets_each_column() -> None:
    taus = {"row": np.array([1e-12, 1e-9]), "column": np.array([1e-12, 1e-12]),
            "frontend": np.array([2e-9, 1e-10]), "sample_hold": np.array([1e-10, 1e-10])}
    b = latency_breakdown(np.array([5e-9, 7e-9]), taus)
    assert b["set_by"] == ["frontend", "row"]
    assert b["latency_median_s"] == pytest.approx(6e-9)
    assert b["set_by_share"] == {"row": 0.5, "column": 0.0, "frontend": 0.5, "sample_hold": 0.0}


@pytest.mark.parametrize("n", [3, 4, 5, 8, 231])
def test_cumulative_simpson_is_scipys_to_the_bit(n: int) -> None:
    """measure's own cumulative Simpson repeats scipy's arithmetic (a column's energies must not
    move when the faster code replaced scipy's call)."""
    from scipy.integrate import cumulative_simpson

    from spicecim.measure import _cumulative_simpson

    rng = np.random.default_rng(n)
    t = np.cumsum(rng.uniform(1e-12, 1e-10, n))
    p = rng.normal(size=(3, n))
    np.testing.assert_array_equal(_cumulative_simpson(t, p),
                                  cumulative_simpson(p, x=t, axis=-1, initial=0.0))


def test_tops_per_w_is_two_ops_per_mac_over_every_part() -> None:
    assert ops_per_read(64, 32) == 2 * 64 * 32
    parts = {f"energy_{p}_j": (k + 1) * 1e-12 for k, p in enumerate(ENERGY_PARTS)}
    s = LayerSchedule(schedule="fully_parallel", policy="hold", adc_share=1, rounds=1,
                      conversions=32, latency_s=1e-8, t_sample_s=1e-8, rows_on_s=1e-8, **parts)
    total = sum(k + 1 for k in range(len(ENERGY_PARTS))) * 1e-12  # 1 + 2 + ... pJ by hand
    assert s.energy_j == pytest.approx(total)
    assert tops_per_w(ops_per_read(64, 32), s.energy_j) == pytest.approx(4096 / total / 1e12)
    with pytest.raises(SpecError, match="energy_j"):
        tops_per_w(1.0, 0.0)
