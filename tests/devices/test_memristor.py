"""The compact device models: Python descriptions (fast, no simulator) and the SPICE subcircuits
driven in a real ngspice transient (pinched hysteresis, read disturb). SET and RESET, through the
programming bench and its compliance: tests/devices/test_memristor_switching.py.

Sign conventions as in :mod:`spicecim.devices`: a device current is positive from ``p`` to
``n``; ngspice reports a voltage source's branch current positive into its + terminal, so the
current a source ``V1 a 0`` pushes through a device ``X1 a 0`` is ``-i(v1)``. The memristor's
state node ``x1.s`` holds gap - gap0 in nm.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spicecim import devices
from spicecim.devices.memristor import validity
from spicecim.errors import SpecError
from spicecim.sim.ngspice import NgspiceSession

MODELS = ("hfox_stanford_v1", "hfox_stanford_asu")

# Sine drive per model, chosen so the state moves clearly but stays away from the bounds (partial
# switching; the asu set runs away thermally near 1.6 V). The bare device, no compliance: these
# drives stay far inside the stated validity (2.7 mA and 305 K, 41 uA and 343 K), which the test
# checks.
SINE_AMPLITUDE_V = {"hfox_stanford_v1": 1.25, "hfox_stanford_asu": 1.55}
EDGE_S = 1e-9


@pytest.fixture(scope="module")
def ngspice() -> NgspiceSession:
    return NgspiceSession()


# --- Python side (no simulator) -------------------------------------------------------------


def test_default_memristor_is_the_stanford_v1_set() -> None:
    p = devices.memristor()
    assert p.name == "hfox_stanford_v1"
    assert set(MODELS) <= set(devices.available_models("memristor"))
    assert "Jiang" in p.source
    assert p.gap_min_m == pytest.approx(0.2e-9) and p.gap_max_m == pytest.approx(1.7e-9)
    assert p.g_on_s > p.g_off_s > 0


def test_unknown_model_names_the_available_ones() -> None:
    with pytest.raises(SpecError, match="hfox_stanford_v1"):
        devices.memristor("no_such_model")


@pytest.mark.parametrize("name", MODELS)
@settings(max_examples=60, deadline=None)
@given(u=st.floats(0.0, 1.0))
def test_state_for_conductance_inverts_conductance(name: str, u: float) -> None:
    p = devices.memristor(name)
    g = p.g_off_s * (p.g_on_s / p.g_off_s) ** u  # log-uniform over the whole range
    gap = p.state_for_conductance(g)
    assert p.gap_min_m <= gap <= p.gap_max_m
    assert float(p.conductance(gap)) == pytest.approx(g, rel=1e-12)
    gap_m = p.gap_min_m + u * (p.gap_max_m - p.gap_min_m)
    assert float(p.state_for_conductance(p.conductance(gap_m))) == pytest.approx(gap_m, rel=1e-12)


@pytest.mark.parametrize("name", MODELS)
@settings(max_examples=60, deadline=None)
@given(u=st.floats(0.0, 1.0))
def test_current_at_the_read_voltage_is_g_times_v_read(name: str, u: float) -> None:
    p = devices.memristor(name)
    g = p.g_off_s + u * (p.g_on_s - p.g_off_s)
    assert float(p.current(p.v_read_v, g)) == pytest.approx(g * p.v_read_v, rel=1e-12)
    # sinh read: odd in v, and superlinear above v_read
    assert float(p.current(-p.v_read_v, g)) == pytest.approx(-g * p.v_read_v, rel=1e-12)
    assert float(p.current(2 * p.v_read_v, g)) > 2 * g * p.v_read_v


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("factor", [1.01, 0.99, 0.0, -1.0, math.nan, math.inf])
def test_conductance_outside_the_device_range_raises(name: str, factor: float) -> None:
    p = devices.memristor(name)
    g = p.g_on_s * factor if factor > 1 else p.g_off_s * factor
    with pytest.raises(SpecError, match=p.name):
        p.state_for_conductance(g)
    with pytest.raises(SpecError):
        p.instance_params(g)


def test_memristor_parameters_are_checked() -> None:
    with pytest.raises(SpecError, match="gap_max_m"):
        devices.memristor(gap_max_m=0.1e-9)
    with pytest.raises(SpecError, match="v_read_v"):
        devices.memristor(v_read_v=0.0)


def test_access_transistor_current_is_continuous_at_the_saturation_edge() -> None:
    for lam in (0.0, 0.2):
        a = devices.access_transistor(lambda_per_v=lam)
        for v_s in (0.0, 0.1, 0.3):
            vov = a.v_gate_v - v_s - a.vto_v
            edge = v_s + vov  # drain voltage where vds = vov
            eps = 1e-9
            below, at, above = a.drain_current(np.array([edge - eps, edge, edge + eps]), v_s)
            slope_bound = a.beta_a_per_v2 * vov * (1 + lam) + 1e-12
            assert abs(above - below) <= 2 * eps * slope_bound * 1.01
            assert abs(at - below) <= eps * slope_bound * 1.01
            # the value there is the saturation current
            sat = 0.5 * a.beta_a_per_v2 * vov**2 * (1 + lam * vov)
            assert at == pytest.approx(sat, rel=1e-12)


def test_access_transistor_current_is_smooth_over_a_fine_sweep() -> None:
    a = devices.access_transistor()
    v_d = np.linspace(0.0, 1.0, 20001)
    i = a.drain_current(v_d, 0.0)
    assert np.all(np.diff(i) >= 0)  # monotone in vd for vs fixed
    step = np.max(np.abs(np.diff(i)))
    assert step <= a.beta_a_per_v2 * (a.v_gate_v - a.vto_v) * (v_d[1] - v_d[0]) * 1.0001


@settings(max_examples=200, deadline=None)
@given(v_d=st.floats(-0.5, 1.0), v_s=st.floats(-0.5, 1.0))
def test_access_transistor_current_is_odd_in_drain_and_source(v_d: float, v_s: float) -> None:
    a = devices.access_transistor()
    forward = float(a.drain_current(v_d, v_s))
    backward = float(a.drain_current(v_s, v_d))
    assert forward == -backward
    assert np.sign(forward) in (0.0, np.sign(v_d - v_s))


def test_access_transistor_on_resistance_matches_the_triode_slope() -> None:
    a = devices.access_transistor()
    dv = 1e-6
    assert float(a.drain_current(dv, 0.0)) / dv == pytest.approx(1 / a.r_on_ohm, rel=1e-5)


# --- SPICE side -------------------------------------------------------------------------------


def _netlist(p: devices.MemristorParams, source: str, gap0_nm: float, tran: str) -> str:
    return "\n".join([
        f"* {p.name} test bench",
        p.subckt_text().rstrip(),
        f"V1 a 0 {source}",
        f"X1 a 0 {p.subckt} gap0={gap0_nm!r}",
        tran,
        ".end",
        "",
    ])


def _run(ngspice: NgspiceSession, netlist: str) -> dict[str, np.ndarray]:
    vectors = ngspice.run(netlist)
    assert "x1.s" in vectors, sorted(vectors)  # the state node, as ngspice names it
    return vectors


def _pwl(points: list[tuple[float, float]]) -> str:
    return "PWL(" + " ".join(f"{t!r} {v!r}" for t, v in points) + ")"


@pytest.mark.ngspice
@pytest.mark.parametrize("name", MODELS)
def test_dc_operating_point_keeps_the_programmed_state(ngspice: NgspiceSession, name: str) -> None:
    """.op and .dc hold the programmed gap, and the subcircuit's I(v) is the Python one."""
    p = devices.memristor(name)
    g = math.sqrt(p.g_on_s * p.g_off_s)
    lines = [f"* {name} dc", p.subckt_text().rstrip(), f"V1 a 0 DC {p.v_read_v!r}",
             f"X1 a 0 {p.subckt} {p.instance_params(g)}"]
    vectors = _run(ngspice, "\n".join([*lines, ".op", ".end", ""]))
    assert float(-vectors["v1#branch"][0]) == pytest.approx(g * p.v_read_v, rel=1e-9)
    assert float(vectors["x1.s"][0]) == 0.0
    vectors = _run(ngspice, "\n".join([*lines, ".dc V1 -0.3 0.3 0.05", ".end", ""]))
    v = vectors["a"]
    assert len(v) == 13
    np.testing.assert_allclose(-vectors["v1#branch"], p.current(v, g), rtol=1e-9, atol=1e-18)
    np.testing.assert_array_equal(vectors["x1.s"], 0.0)


def _loop(ngspice: NgspiceSession, p: devices.MemristorParams, amplitude: float,
          freq: float) -> dict[str, float]:
    period = 1.0 / freq
    gap0_nm = 1.0
    net = _netlist(p, f"SIN(0 {amplitude!r} {freq!r})", gap0_nm,
                   f".tran {period / 1000!r} {2 * period!r} 0 {period / 1000!r}")
    vec = _run(ngspice, net)
    t, v, i, s = vec["time"], vec["a"], -vec["v1#branch"], vec["x1.s"]
    second = t >= period - 1e-6 * period
    t, v, i, s = t[second], v[second], i[second], s[second]
    half = t <= 1.5 * period
    # each lobe is a closed curve (pinched at the origin): its area is the integral of i dv
    lobe_pos = abs(np.trapezoid(i[half], v[half]))
    lobe_neg = abs(np.trapezoid(i[~half], v[~half]))
    # current where the voltage crosses zero (at T/2, T, 3T/2 of the whole record), interpolated
    # between the samples on either side
    t_all, v_all, i_all = vec["time"], vec["a"], -vec["v1#branch"]
    k = np.nonzero((np.sign(v_all[:-1]) != np.sign(v_all[1:])) & (t_all[:-1] > 0.25 * period))[0]
    w = np.divide(v_all[k], v_all[k] - v_all[k + 1], out=np.zeros(len(k)),
                  where=v_all[k] != v_all[k + 1])
    i_zero = i_all[k] + w * (i_all[k + 1] - i_all[k])
    return {
        "area": lobe_pos + lobe_neg,
        "i_max": float(np.max(np.abs(i))),
        "i_zero_max": float(np.max(np.abs(i_zero))) if len(k) else math.nan,
        "crossings": len(k),
        "gap_swing_nm": float(np.ptp(s)),
        "t_peak_k": float(np.max(vec["x1.t"])),
    }


@pytest.mark.ngspice
@pytest.mark.parametrize("name", MODELS)
def test_sine_drive_draws_a_pinched_loop_that_shrinks_with_frequency(
    ngspice: NgspiceSession, name: str
) -> None:
    p = devices.memristor(name)
    amplitude = SINE_AMPLITUDE_V[name]
    slow, fast = _loop(ngspice, p, amplitude, 1e6), _loop(ngspice, p, amplitude, 1e7)
    print(f"\n{name} {amplitude} V sine, second period: loop area (|lobe+| + |lobe-|) "
          f"{slow['area']:.4g} W at 1 MHz, {fast['area']:.4g} W at 10 MHz "
          f"(ratio {slow['area'] / fast['area']:.3g}); gap swing {slow['gap_swing_nm']:.4g} / "
          f"{fast['gap_swing_nm']:.4g} nm; |I| at v = 0 / max |I|: "
          f"{slow['i_zero_max'] / slow['i_max']:.2g} / {fast['i_zero_max'] / fast['i_max']:.2g}")
    for loop in (slow, fast):
        assert loop["crossings"] >= 3
        assert loop["i_zero_max"] < 1e-4 * loop["i_max"]  # pinched at the origin
    # clearly a loop at 1 MHz (not a line), and much thinner a decade faster
    assert slow["area"] > 0.05 * slow["i_max"] * amplitude
    assert slow["gap_swing_nm"] > 0.1
    assert fast["area"] < 0.2 * slow["area"]
    assert fast["gap_swing_nm"] < slow["gap_swing_nm"]
    # no compliance here: the drive itself keeps the device inside its stated temperature range
    assert max(slow["t_peak_k"], fast["t_peak_k"]) < 0.5 * (p.t0_k + validity(p).t_max_k)


@pytest.mark.ngspice
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("v_read", [0.1, 0.2])
def test_read_pulses_barely_disturb_the_state(ngspice: NgspiceSession, name: str,
                                              v_read: float) -> None:
    """Ten 100 ns read pulses (1 us at the read voltage) near the on state and mid-range."""
    p = devices.memristor(name)
    e, width, n = EDGE_S, 100e-9, 10
    points, t = [(0.0, 0.0)], 0.0
    for _ in range(n):
        points += [(t + e, v_read), (t + e + width, v_read), (t + 2 * e + width, 0.0)]
        t += 2 * e + width + 10 * e
        points.append((t, 0.0))
    first_read, last_read = e + 0.5 * width, t - 11 * e - 0.5 * width
    for gap0_nm in (p.gap_min_m * 1e9 + 0.1, 1.0):
        vec = _run(ngspice, _netlist(p, _pwl(points), gap0_nm, f".tran 1e-9 {t!r} 0 5e-9"))
        time, i, s = vec["time"], -vec["v1#branch"], vec["x1.s"]
        gap_change = float(np.max(np.abs(s))) / gap0_nm
        g_first = np.interp(first_read, time, i) / v_read
        g_last = np.interp(last_read, time, i) / v_read
        g_change = abs(g_last / g_first - 1)
        print(f"\n{name} reads at {v_read} V, gap0 {gap0_nm:.2f} nm: relative gap change "
              f"{gap_change:.2g}, relative read-conductance change {g_change:.2g}")
        assert gap_change < 1e-3
        assert g_change < 1e-3


@pytest.mark.ngspice
def test_access_transistor_matches_ngspice_level_1(ngspice: NgspiceSession) -> None:
    a = devices.access_transistor()
    net = "\n".join([
        "* access transistor",
        a.model_text().rstrip(),
        f"Vg g 0 DC {a.v_gate_v!r}",
        "Vd d 0 DC 0",
        "Vs s 0 DC 0",
        f"M1 d g s 0 {a.name} W={a.w_m!r} L={a.l_m!r}",
        ".dc Vd 0 0.8 0.02 Vs 0 0.3 0.05",
        ".end",
        "",
    ])
    vec = ngspice.run(net)
    v_d, v_s = vec["d"], vec["s"]
    expected = a.drain_current(v_d, v_s)
    assert len(v_d) == 41 * 7
    np.testing.assert_allclose(-vec["vd#branch"], expected, rtol=1e-6, atol=1e-11)
