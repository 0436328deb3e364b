"""SET and RESET on the one-cell programming bench (``spicecim.devices.memristor.ProgramPulse``):
the compliance holds, the state stays inside the model's stated validity, and every switching
figure the model files' headers state (their ``* measured:`` lines) is measured again here.

Sign conventions as in tests/devices/test_memristor.py; the cell current is positive from the
bit line through the memristor to the source line.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from spicecim import devices
from spicecim.devices.library import ASSIGN, read_lib
from spicecim.devices.memristor import (
    RESET_GATE_V,
    SET_GATE_V,
    ProgramPulse,
    ProgramResult,
    validity,
)
from spicecim.errors import SpecError
from spicecim.sim.ngspice import NgspiceSession

MODELS = ("hfox_stanford_v1", "hfox_stanford_asu")


def _claims(name: str) -> list[str]:
    prefix = "* measured:"
    return [ln[len(prefix):].strip() for ln in read_lib("memristor", name).splitlines()
            if ln.startswith(prefix)]


CLAIMS = [(name, claim) for name in MODELS for claim in _claims(name)]


@pytest.fixture(scope="module")
def ngspice() -> NgspiceSession:
    return NgspiceSession()


def _run(ngspice: NgspiceSession, pulse: ProgramPulse,
         strict: bool = True) -> tuple[ProgramResult, dict[str, np.ndarray]]:
    vectors = ngspice.run(pulse.netlist())
    return pulse.result(vectors, strict=strict), vectors


# --- Python side (no simulator) -------------------------------------------------------------


def test_every_model_states_switching_it_measured() -> None:
    for name in MODELS:
        assert len(_claims(name)) >= 4, name
        limits = validity(devices.memristor(name))
        assert (limits.v_max_v, limits.t_max_k) == (2.0, 1000.0)


def test_a_set_needs_a_compliance() -> None:
    p = devices.memristor()
    with pytest.raises(SpecError, match="series_ohm.*compliance"):
        ProgramPulse(p, 2.0, 1e-7, p.gap_max_m, access=None)
    # a RESET needs none, and a series resistor alone is one
    ProgramPulse(p, -2.0, 1e-7, p.gap_min_m, access=None)
    assert ProgramPulse(p, 2.0, 1e-7, p.gap_max_m, access=None,
                        series_ohm=15e3).compliance_a == pytest.approx(2.0 / 15e3)


@pytest.mark.parametrize(("field", "kwargs"), [
    ("amplitude_v", {"amplitude_v": 0.0}),
    ("amplitude_v", {"amplitude_v": math.nan}),
    ("width_s", {"width_s": 0.0}),
    ("edge_s", {"edge_s": -1e-9}),
    ("gap0_m", {"gap0_m": 1.8e-9}),
    ("series_ohm", {"series_ohm": -1.0}),
    ("gate_v", {"gate_v": 1.0, "access": None, "series_ohm": 1e3}),
])
def test_program_pulse_fields_are_checked(field: str, kwargs: dict) -> None:
    base = {"memristor": devices.memristor(), "amplitude_v": 2.0, "width_s": 1e-7,
            "gap0_m": 1.7e-9}
    with pytest.raises(SpecError, match=field):
        ProgramPulse(**{**base, **kwargs})


def test_the_compliance_is_the_access_transistor_saturation_current() -> None:
    p, a = devices.memristor(), devices.access_transistor()
    pulse = ProgramPulse(p, 2.0, 1e-7, p.gap_max_m)
    assert pulse.gate_voltage_v == SET_GATE_V
    sat = 0.5 * a.beta_a_per_v2 * (SET_GATE_V - a.vto_v) ** 2  # lambda = 0: flat in vds
    assert pulse.compliance_a == pytest.approx(sat, rel=1e-12)
    assert pulse.compliance_a == pytest.approx(0.42e-3, rel=0.01)  # the headers' figure
    assert ProgramPulse(p, -2.0, 1e-7, p.gap_min_m).gate_voltage_v == RESET_GATE_V
    # the headers' reason gmin is out of reach: 27 mA at 1.2 V there
    assert float(p.current(1.2, p.g_on_s)) == pytest.approx(27e-3, rel=0.02)


def test_set_drives_the_bit_line_and_reset_the_source_line() -> None:
    p = devices.memristor()
    set_deck = ProgramPulse(p, 2.0, 1e-7, p.gap_max_m).netlist()
    reset_deck = ProgramPulse(p, -2.0, 1e-7, 0.85e-9).netlist()
    assert set_deck == ProgramPulse(p, 2.0, 1e-7, p.gap_max_m).netlist()  # deterministic
    assert "\nVbl bl 0 PWL(0.0 0.0 1e-09 2.0 " in set_deck and "\nVsl sl 0 DC 0\n" in set_deck
    assert "\nVbl bl 0 DC 0\n" in reset_deck and "\nVsl sl 0 PWL(0.0 0.0 1e-09 2.0 " in reset_deck
    for deck, gate in ((set_deck, SET_GATE_V), (reset_deck, RESET_GATE_V)):
        assert f"\nVwl wl 0 DC {gate}\n" in deck
        assert "\nM1 cell wl sl 0 nmos_access W=9e-08 L=4.5e-08\n" in deck
        assert "\n.options method=gear\n" in deck
    bare = ProgramPulse(p, -1.0, 1e-7, p.gap_min_m, access=None, series_ohm=20.0).netlist()
    assert "\nVbl drv 0 PWL(0.0 0.0 1e-09 -1.0 " in bare and "\nRs drv bl 20.0\n" in bare
    assert "\nX1 bl sl hfox_stanford_v1 gap0=0.2\n" in bare and "\nM1 " not in bare


# --- SPICE side -------------------------------------------------------------------------------


@pytest.mark.ngspice
@pytest.mark.parametrize(("name", "claim"), CLAIMS, ids=[f"{n}:{c[:30]}" for n, c in CLAIMS])
def test_the_model_header_switching_claims_hold(ngspice: NgspiceSession, name: str,
                                                claim: str) -> None:
    """Each ``* measured:`` line of the model file, measured again on the bench it names."""
    given, stated = (dict((k, float(v)) for k, v in ASSIGN.findall(part))
                     for part in claim.split("->"))
    p = devices.memristor(name)
    pulse = ProgramPulse(p, given["v"], given["width"], given["gap0"] * 1e-9,
                         access=devices.access_transistor() if given.get("access", 1) else None,
                         series_ohm=given.get("series", 0.0))
    r, _ = _run(ngspice, pulse, strict=False)
    print(f"\n{name} {claim}\n  measured: gap={r.gap_after_m * 1e9:.4f} g={r.g_after_s:.4g} "
          f"ipeak={r.i_peak_a:.4g} tpeak={r.t_peak_k:.5g} t90={r.switch_s:.4g} {r.violations}")
    assert r.gap_after_m * 1e9 == pytest.approx(stated["gap"], abs=0.01)
    assert r.g_after_s == pytest.approx(stated["g"], rel=0.05)
    assert r.i_peak_a == pytest.approx(stated["ipeak"], rel=0.03)
    assert r.t_peak_k == pytest.approx(stated["tpeak"], abs=0.01 * (stated["tpeak"] - p.t0_k) + 1)
    if "t90" in stated:
        assert r.switch_s == pytest.approx(stated["t90"], rel=0.1)
    else:
        assert math.isnan(r.switch_s) or r.switch_s > 0.9 * given["width"]  # no switching
    # a claim beyond the limits is flagged as such, one inside them is clean
    assert bool(r.violations) == (stated["tpeak"] > validity(p).t_max_k)


@pytest.mark.ngspice
@pytest.mark.parametrize("name", MODELS)
def test_set_with_compliance_raises_and_reset_lowers_the_conductance(
    ngspice: NgspiceSession, name: str
) -> None:
    """Through the 1T1R bench: the cell current never exceeds the compliance during SET, the
    temperature and voltage stay inside the stated validity (strict result), and at every time
    point the current is the model's I-V at the gap its state node holds."""
    p = devices.memristor(name)
    limits = validity(p)
    steps = {"hfox_stanford_v1": [(2.0, 300e-9, p.gap_max_m), (-2.0, 100e-9, 0.85e-9)],
             "hfox_stanford_asu": [(1.6, 100e-9, 1.0e-9), (-1.4, 100e-9, p.gap_min_m)]}[name]
    for amplitude, width, gap0 in steps:
        pulse = ProgramPulse(p, amplitude, width, gap0)
        r, vec = _run(ngspice, pulse)  # strict: raises outside the validity
        kind = "SET" if pulse.is_set else "RESET"
        print(f"\n{name} {kind} {amplitude} V {width * 1e9:.0f} ns: gap {gap0 * 1e9:.3f} -> "
              f"{r.gap_after_m * 1e9:.3f} nm, G {r.g_before_s:.4g} -> {r.g_after_s:.4g} S, "
              f"peak {r.i_peak_a * 1e3:.3g} mA, {r.t_peak_k:.4g} K"
              + (f" (compliance {pulse.compliance_a * 1e3:.3g} mA)" if pulse.is_set else ""))
        assert (r.g_after_s > 1.5 * r.g_before_s) if pulse.is_set else \
            (r.g_after_s < r.g_before_s / 1.5)
        assert r.t_peak_k <= limits.t_max_k and r.v_cell_peak_v <= limits.v_max_v
        if pulse.is_set:
            assert r.i_peak_a <= pulse.compliance_a * (1 + 1e-6)
        gap = gap0 + vec["x1.s"] * 1e-9
        assert np.all(np.diff(gap) <= 1e-15) if pulse.is_set else np.all(np.diff(gap) >= -1e-15)
        v_cell, i_cell = vec["bl"] - vec["cell"], -vec["vbl#branch"]
        np.testing.assert_allclose(i_cell, p.current(v_cell, p.conductance(gap)),
                                   rtol=2e-3, atol=1e-12)  # ngspice reltol = 1e-3


@pytest.mark.ngspice
@pytest.mark.parametrize(("amplitude", "gap0_nm", "bound"),
                         [(2.0, 1.0, "gmin"), (-1.6, 0.5, "gmax")])
def test_long_strong_pulse_ends_at_the_gap_bound(ngspice: NgspiceSession, amplitude: float,
                                                 gap0_nm: float, bound: str) -> None:
    """Full switching stops at the bound (within the window width) instead of overshooting.
    gmin takes tens of mA (27 mA at 1.2 V), more than the 1T1R compliance passes, so this SET
    goes through 20 ohm (at most 100 mA at 2 V), inside the stated temperature range."""
    p = devices.memristor()
    target = (p.gap_min_m if bound == "gmin" else p.gap_max_m) * 1e9
    dw = p.window_m * 1e9
    pulse = ProgramPulse(p, amplitude, 500e-9, gap0_nm * 1e-9, access=None, series_ohm=20.0)
    r, vec = _run(ngspice, pulse)
    print(f"\n{amplitude} V 500 ns behind 20 ohm: gap -> {r.gap_after_m * 1e9:.4f} nm, "
          f"peak {r.i_peak_a * 1e3:.3g} mA, {r.t_peak_k:.4g} K")
    gap = gap0_nm + vec["x1.s"]
    assert gap[-1] == pytest.approx(target, abs=0.1 * dw)
    assert p.gap_min_m * 1e9 - dw <= gap.min() and gap.max() <= p.gap_max_m * 1e9 + dw
    assert r.t_peak_k <= validity(p).t_max_k


@pytest.mark.ngspice
def test_a_run_beyond_the_temperature_limit_is_refused(ngspice: NgspiceSession) -> None:
    """The reviewed failure: +2 V with no compliance (1 mOhm) draws 0.67 A and heats the device
    to 3100 K; the strict result names the breach instead of returning the figures."""
    p = devices.memristor()
    pulse = ProgramPulse(p, 2.0, 100e-9, p.gap_max_m, access=None, series_ohm=1e-3)
    vectors = ngspice.run(pulse.netlist())
    with pytest.raises(SpecError, match=r"validity: peak temperature 3\d{3} K > 1000 K"):
        pulse.result(vectors)
    r = pulse.result(vectors, strict=False)
    assert r.i_peak_a == pytest.approx(0.67, rel=0.01) and r.t_peak_k > 3000
    # the same pulse behind the access transistor stays at the compliance and near ambient
    held, _ = _run(ngspice, dataclasses.replace(pulse, access=devices.access_transistor(),
                                                series_ohm=0.0))
    assert held.i_peak_a <= 0.43e-3 and held.t_peak_k < p.t0_k + 5 and not held.violations
