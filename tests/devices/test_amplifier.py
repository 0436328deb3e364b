"""The two-stage op-amp macromodel (device_models/readout/opamp_2s.lib) in ngspice against its
closed forms: the small-signal step of an inverting amplifier with two poles and an output
resistance, the slew-limited ramp, and the sampled noise of a TIA (ngspice .noise and a
numerical integral of the circuit's noise density); and its sizing for the default tile."""

from __future__ import annotations

import dataclasses
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.linalg import expm
from scipy.optimize import brentq

from spicecim import devices
from spicecim.devices.amplifier import (
    BOLTZMANN_J_PER_K,
    ROOM_TEMPERATURE_K,
    AmpLoad,
    OpAmp,
    design,
    loop_settle_s,
    phase_margin_deg,
    sampled_noise_v2,
)
from spicecim.devices.readout import SizedReadout
from spicecim.devices.settling import settle_time_s
from spicecim.netlist.spec import default_spec, sized_readout

KT = BOLTZMANN_J_PER_K * ROOM_TEMPERATURE_K
GM_NORM = 1e-3  # the model file's normalising transconductance


def amplifier(**kw: float) -> OpAmp:
    """A resolved opamp_2s with explicit figures (the sized ones set by hand)."""
    base = dict(gbw_hz=500e6, slew_v_per_s=1e12, r_out_ohm=1e3, noise_v2_per_hz=0.0,
                i_q_a=1e-4, i_tail_a=5e-5, i_out_a=5e-5, c_c_f=1e-13)
    return devices.opamp("opamp_2s", **{**base, **kw})


def run_deck(tmp_path: Path, body: list[str], amp: OpAmp, analysis: list[str]) -> str:
    deck = ["* opamp_2s test deck", amp.subckt_text(), *body,
            "Vdd vdd 0 DC 0.5", "Vss vss 0 DC -0.5", ".control", *analysis, ".endc", ".end"]
    path = tmp_path / "deck.cir"
    path.write_text("\n".join(deck) + "\n")
    done = subprocess.run(["ngspice", "-b", str(path)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, check=False)
    # In batch mode a deck run from .control alone exits 1 ("no simulations run"): judge errors.
    assert "rror" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done.stdout


def tia_noise_v(tmp_path: Path, sized: SizedReadout) -> float:
    """ngspice .noise on a sized TIA (the column as one resistor at its conductance, its
    capacitance, R_f, the amplifier's noise resistor, the switch into C_s): the sampled node's
    total output noise, V rms."""
    load, amp = sized.load, sized.readout.opamp
    assert load is not None
    body = ["Vs s 0 DC 0 AC 1", f"Rcells s n {1 / load.g_in_s!r}", f"Rf n o {load.r_f_ohm!r}",
            f"Cn n 0 {load.c_in_f!r}", f"Rsw o out {load.r_switch_ohm!r}",
            f"Cs out 0 {load.c_s_f!r}", f"Xa 0 n o vdd vss {amp.name} {amp.instance_params()}"]
    out = run_deck(tmp_path, body, amp, ["noise v(out) Vs dec 40 1 1e13", "setplot noise2",
                                         "print onoise_total"])
    return float(out.split("onoise_total =")[1].split()[0])


def inverting(amp: OpAmp, r_in: float, r_f: float, c_l: float, step_v: float,
              rise_s: float = 1e-12) -> list[str]:
    return [f"Vs s 0 PWL(0 0 {rise_s!r} {step_v!r})", f"Rin s n {r_in!r}", f"Rf n o {r_f!r}",
            f"Cl o 0 {c_l!r}", f"Xa 0 n o vdd vss {amp.name} {amp.instance_params()}"]


def transient(tmp_path: Path, amp: OpAmp, body: list[str], stop_s: float
              ) -> tuple[np.ndarray, np.ndarray]:
    step = stop_s / 4000
    run_deck(tmp_path, body, amp, [f"tran {step!r} {stop_s!r} 0 {step!r}",
                                   "wrdata out.txt v(o)"])
    data = np.loadtxt(tmp_path / "out.txt")
    return data[:, 0], data[:, 1]


def closed_form_step(amp: OpAmp, r_in: float, r_f: float, c_l: float, step_v: float,
                     t: np.ndarray) -> np.ndarray:
    """The linear circuit's response to a step, x(t) = A^-1 (e^{At} - 1) b u: states p1 (the
    first stage on C1 = gm / (2 pi gbw), R1 = a0 / gm) and the output on C_l behind r_out; the
    inverting node n = (s r_f + o r_in) / (r_in + r_f) carries no capacitance."""
    assert amp.gbw_hz is not None and amp.r_out_ohm is not None
    c1, r1 = GM_NORM / (2 * math.pi * amp.gbw_hz), amp.a0 / GM_NORM
    beta, beta_s = r_in / (r_in + r_f), r_f / (r_in + r_f)
    g_o, g_f = 1 / amp.r_out_ohm, 1 / r_f
    a = np.array([[-1 / (r1 * c1), -GM_NORM * beta / c1],
                  [g_o / c_l, (-g_o - g_f + g_f * beta) / c_l]])
    b = np.array([-GM_NORM * beta_s / c1, g_f * beta_s / c_l]) * step_v
    inv = np.linalg.solve(a, np.eye(2))
    return np.array([(inv @ (expm(a * tk) - np.eye(2)) @ b)[1] for tk in t])


@pytest.mark.ngspice
def test_small_step_matches_two_poles_and_the_output_resistance(tmp_path: Path) -> None:
    """A 10 mV step into a gain -1 amplifier whose output resistance (1 kohm) and load
    (0.5 pF) put the second pole near the crossover: overshoot and the loaded final value
    follow the closed form to 2 % of the step."""
    amp = amplifier()
    r, c_l, u = 10e3, 0.5e-12, 10e-3
    t, v = transient(tmp_path, amp, inverting(amp, r, r, c_l, u), 20e-9)
    ref = closed_form_step(amp, r, r, c_l, u, t)
    final = ref[-1]
    assert final == pytest.approx(-u, rel=2e-3)  # gain -1 less n / a0 and the loading
    assert np.max(np.abs(ref)) > 1.05 * abs(final)  # the second pole shows: an overshoot
    late = t > 0.05e-9  # past the input edge (1 ps in the deck, ideal in the closed form)
    assert np.max(np.abs(v[late] - ref[late])) < 0.02 * abs(final)


@pytest.mark.ngspice
def test_large_step_slews_at_the_tail_current_over_the_miller_capacitor(tmp_path: Path) -> None:
    """A 0.2 V step at gain -1 drives the input pair into its tail current: the output ramps
    at the slew rate times the output divider g_o / (g_o + (1 - beta) / R_f) (2 %)."""
    sr = 2e7
    amp = amplifier(slew_v_per_s=sr)
    r, c_l, u = 10e3, 0.5e-12, 0.2
    t, v = transient(tmp_path, amp, inverting(amp, r, r, c_l, u), 30e-9)
    final = v[-1]
    ramp = (v < 0.1 * final) & (v > 0.5 * final)
    slope = np.polyfit(t[ramp], v[ramp], 1)[0]
    g_o, g_f = 1 / 1e3, 0.5 / r
    assert slope == pytest.approx(-sr * g_o / (g_o + g_f), rel=0.02)


def tia_load() -> AmpLoad:
    spec = default_spec()
    g = np.full((spec.rows, spec.cols), 12.4e-6)
    return sized_readout(spec, g).load  # type: ignore[return-value]


def test_default_sizing_meets_its_phase_margin_and_noise_budget() -> None:
    """Sized for the default tile's worst column: the bias is the output stage (the full-scale
    current) plus the tail; the phase margin at least the target; the sampled noise within half
    an LSB; the gain error within half an LSB."""
    spec = default_spec()
    sized = sized_readout(spec, np.full((spec.rows, spec.cols), 12.4e-6))
    amp, load = sized.readout.opamp, sized.load
    assert load is not None and amp.i_out_a == pytest.approx(sized.i_fs_a)
    assert amp.i_q_a == pytest.approx(sized.i_fs_a + amp.i_tail_a)
    assert phase_margin_deg(amp, load) >= amp.phase_margin_deg
    assert sized.noise_v <= sized.half_lsb_v
    assert sized.amp_figures()["amp_gain_error_lsb"] < 0.5


def circuit_noise_v2(amp: OpAmp, load: AmpLoad) -> float:
    """The TIA's sampled noise by hand: each source's density through the circuit's own
    transfer function (the closed-loop gain with r_out, the switch and C_s), integrated."""
    assert amp.gbw_hz is not None and amp.r_out_ohm is not None
    assert amp.noise_v2_per_hz is not None

    def transfer(f: float) -> tuple[complex, complex, complex]:
        """Output per volt of input noise, per ampere into the inverting node, and the switch's
        own (per volt in series with it)."""
        s = 2j * math.pi * f
        a = amp.a0 / (1 + s * amp.a0 / (2 * math.pi * amp.gbw_hz))
        g_f, g_n, g_o = 1 / load.r_f_ohm, load.g_in_s + s * load.c_in_f, 1 / amp.r_out_ohm
        y_l = 1 / (load.r_switch_ohm + 1 / (s * load.c_s_f))
        # Nodes n, o: g_o (a (e - n) - o) + ... solved for a voltage e at the + input and a
        # current i into n.
        m = np.array([[g_n + g_f, -g_f], [g_o * a - g_f, g_o + y_l + g_f]])
        out_v = np.linalg.solve(m, np.array([0.0, g_o * a]))[1]
        out_i = np.linalg.solve(m, np.array([1.0, 0.0]))[1]
        to_cap = 1 / (1 + s * load.r_switch_ohm * load.c_s_f)
        # The switch's noise source sees r_on against C_s and the amplifier's output impedance.
        z_o = 1 / (g_o + g_f * (1 - g_f / (g_n + g_f)) + g_o * a * g_f / (g_n + g_f))
        switch = 1 / (1 + s * (load.r_switch_ohm + z_o) * load.c_s_f)
        return out_v * to_cap, out_i * to_cap, switch

    def density(f: float) -> float:
        hv, hi, hs = transfer(f)
        currents = 4 * KT / load.r_f_ohm + 4 * KT * load.g_in_s
        return float(amp.noise_v2_per_hz * abs(hv) ** 2 + currents * abs(hi) ** 2
                     + 4 * KT * load.r_switch_ohm * abs(hs) ** 2)

    edges = np.logspace(0, 13, 27)
    return sum(quad(density, lo, hi, limit=200)[0] for lo, hi in zip(edges[:-1], edges[1:],
                                                                       strict=True))


def test_noise_closed_form_matches_the_integrated_density() -> None:
    """The closed form (pi/2) f_c per source plus kT/C_s against the density integrated over
    the circuit's own transfer functions: within 5 %."""
    spec = default_spec()
    sized = sized_readout(spec, np.full((spec.rows, spec.cols), 12.4e-6))
    assert sized.load is not None
    closed = sum(sampled_noise_v2(sized.readout.opamp, sized.load).values())
    assert circuit_noise_v2(sized.readout.opamp, sized.load) == pytest.approx(closed, rel=0.05)


@pytest.mark.ngspice
def test_noise_closed_form_matches_ngspice_noise(tmp_path: Path) -> None:
    """ngspice .noise on the sized TIA (cells as a resistor at their conductance, R_f, the
    amplifier's noise resistor, the switch into C_s): the total within 5 % of the closed form."""
    spec = default_spec()
    sized = sized_readout(spec, np.full((spec.rows, spec.cols), 12.4e-6))
    load, amp = sized.load, sized.readout.opamp
    assert load is not None
    total = tia_noise_v(tmp_path, sized) ** 2
    closed = sum(sampled_noise_v2(amp, load).values())
    assert total == pytest.approx(closed, rel=0.05)


def test_design_leaves_given_figures_alone() -> None:
    amp = dataclasses.replace(devices.opamp(), gbw_hz=300e6)
    sized = design(amp, tia_load())
    assert sized.gbw_hz == 300e6 and sized.resolved


def test_settle_time_matches_its_closed_forms() -> None:
    """settle_time_s of 1 / (1 + b1 s + b2 s^2) against the step's closed forms: one pole
    (b2 = 0, and b2 tiny) settles in b1 ln(2^(bits+1)); critical damping solves
    (1 + w t) e^{-w t} = eps; underdamped, the last crossing of |e| = eps on a dense grid of the
    error's own expression; overdamped, the two exponentials' sum equals eps."""
    bits = 8
    eps = 2.0 ** -(bits + 1)
    tau = 1e-9
    assert settle_time_s(tau, 0.0, bits) == pytest.approx(tau * math.log(2 ** (bits + 1)))
    assert settle_time_s(tau, 1e-12 * tau**2, bits) == pytest.approx(
        tau * math.log(2 ** (bits + 1)), rel=1e-6)
    w = 2 / tau  # b1 = tau, b2 = tau^2 / 4: a double root at 2 / tau
    t = settle_time_s(tau, tau**2 / 4, bits)
    assert (1 + w * t) * math.exp(-w * t) == pytest.approx(eps, rel=1e-6)
    b2 = tau**2  # underdamped: w = 1 / (2 tau), w_d = sqrt(3) / (2 tau)
    sigma, w_d = 1 / (2 * tau), math.sqrt(3) / (2 * tau)
    grid = np.linspace(0, 40 * tau, 2_000_001)
    e = np.exp(-sigma * grid) * (np.cos(w_d * grid) + sigma / w_d * np.sin(w_d * grid))
    last = grid[np.nonzero(np.abs(e) > eps)[0][-1]]
    assert settle_time_s(tau, b2, bits) == pytest.approx(last, abs=40 * tau / 2e6)
    a, b = 1 / tau, 3 / tau  # (1 + s tau)(1 + s tau / 3)
    t = settle_time_s(tau * 4 / 3, tau**2 / 3, bits)
    assert (b * math.exp(-a * t) - a * math.exp(-b * t)) / (b - a) == pytest.approx(eps,
                                                                                  rel=1e-6)


def test_sizing_settles_in_its_window_with_the_least_bias() -> None:
    """The default tile's worst column, a full-scale step: with the default window (8
    conversions of the ADC) the load's output stage suffices and the crossover is the least
    that settles in it; with a window of 3 conversions the settling raises the output stage,
    and 1 % less bias misses the window. Each time the closed form settles in the window and
    the phase margin stays at least the target."""
    spec = default_spec()
    g = np.full((spec.rows, spec.cols), 12.5e-6)
    for conversions, cause in ((8, "load"), (3, "settling")):
        readout = dataclasses.replace(spec.readout, settle_conversions=conversions)
        sized = sized_readout(dataclasses.replace(spec, readout=readout), g)
        amp, load = sized.readout.opamp, sized.load
        assert load is not None and amp.i_out_a is not None
        window = conversions * spec.readout.adc.t_conv_s
        assert load.t_settle_s == pytest.approx(window)
        assert sized.bias_set_by == cause
        assert loop_settle_s(amp, load) == pytest.approx(window, rel=1e-6)
        assert phase_margin_deg(amp, load) >= amp.phase_margin_deg
        if cause == "settling":
            assert amp.i_out_a > sized.i_range_a
            less = design(dataclasses.replace(readout.opamp, i_out_a=0.99 * amp.i_out_a), load)
            assert loop_settle_s(less, load) > window
        else:
            assert amp.i_out_a == pytest.approx(sized.i_range_a)


def test_a_window_the_switch_cannot_meet_keeps_the_loads_bias_and_says_so() -> None:
    """One conversion (833 ps) is beyond the sample-and-hold's own pole: r_on C_s alone, at
    critical damping, settles 8 bits in (1 + w t) e^{-w t} = 2^-9 with w = 1 / (2 r_on C_s)."""
    spec = default_spec()
    readout = dataclasses.replace(spec.readout, settle_conversions=1)
    sized = sized_readout(dataclasses.replace(spec, readout=readout),
                          np.full((spec.rows, spec.cols), 12.5e-6))
    assert sized.load is not None
    w = 1 / (2 * sized.load.r_switch_ohm * sized.load.c_s_f)
    floor = brentq(lambda t: (1 + w * t) * math.exp(-w * t) - 2.0**-9, 0, 1e-6)
    assert floor > spec.readout.adc.t_conv_s
    assert sized.bias_set_by == "load (window out of reach)"
    assert sized.readout.opamp.i_out_a == pytest.approx(sized.i_range_a)


@pytest.mark.ngspice
def test_the_sized_tia_settles_in_ngspice_as_its_closed_form(tmp_path: Path) -> None:
    """ngspice: the default tile's worst column (its conductance as one resistor, the column's
    capacitance) stepped to half scale through the sized TIA, the switch and C_s: the sampled
    node enters a quarter LSB of its final value (the full-scale step's accuracy) within 3 %
    of the closed form (the window). At full scale the macromodel's output compression
    (towards 1.25 vswing, behind r_out carrying i_fs) clips it, a limit of the model."""
    spec = default_spec()
    sized = sized_readout(spec, np.full((spec.rows, spec.cols), 12.5e-6))
    load, amp = sized.load, sized.readout.opamp
    assert load is not None
    body = [f"Vs s 0 PWL(0 0 1e-12 {0.5 * spec.driver.v_full_v!r})",
            f"Rcells s n {1 / load.g_in_s!r}", f"Cn n 0 {load.c_in_f!r}",
            f"Rf n o {load.r_f_ohm!r}", f"Rsw o out {load.r_switch_ohm!r}",
            f"Cs out 0 {load.c_s_f!r}", f"Xa 0 n o vdd vss {amp.name} {amp.instance_params()}"]
    stop = 4 * load.t_settle_s
    step = stop / 20000
    run_deck(tmp_path, body, amp, [f"tran {step!r} {stop!r} 0 {step!r}",
                                   "wrdata out.txt v(out)"])
    data = np.loadtxt(tmp_path / "out.txt")
    t, v = data[:, 0], data[:, 1]
    outside = np.nonzero(np.abs(v - v[-1]) > 0.5 * sized.half_lsb_v)[0]
    settled = t[outside[-1] + 1]
    assert settled == pytest.approx(loop_settle_s(amp, load), rel=0.03)
