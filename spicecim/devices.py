"""Compact device models: the SPICE subcircuits in ``device_models/`` described to Python.

Every model lives in one ``device_models/<family>/<name>.lib`` file whose header names its source
and whose ``params:`` line (or ``.model`` card) holds the cited parameter set. This module parses
those files into frozen dataclasses, so the numbers are written once, in the file a SPICE user
reads, and Python (netlist writer, fast solver, evaluator) uses the same values.

Sign and unit conventions: SI units; a device current is positive from its ``p`` to its ``n``
terminal; a memristor's state is its filament gap (metres in Python, nm inside the subcircuit).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from spicecim.errors import SpecError, check

_PARAMS_LINE = re.compile(r"^(\.subckt\s+\S+\s+.*?\bparams:)(.*)$", re.IGNORECASE | re.MULTILINE)
_MODEL_LINE = re.compile(r"^\.model\s+(\S+)\s+(\S+)\s*\((.*)\)\s*$", re.IGNORECASE | re.MULTILINE)
_ASSIGN = re.compile(r"(\w+)\s*=\s*([-+0-9.eE]+)")


def models_root() -> Path:
    """The ``device_models/`` folder shipped beside the package (never the working directory)."""
    return Path(__file__).resolve().parent.parent / "device_models"


def available_models(family: str) -> tuple[str, ...]:
    """Names of the models of one family (``memristor``, ``transistor``, ``acam``...)."""
    return tuple(sorted(p.stem for p in (models_root() / family).glob("*.lib")))


@cache
def _read_lib(family: str, name: str) -> str:
    path = models_root() / family / f"{name}.lib"
    if not path.is_file():
        names = ", ".join(available_models(family)) or "none"
        raise SpecError(f"{family} model {name!r} not found: expected one of {names}")
    return path.read_text()


def _source_of(text: str) -> str:
    lines = [ln[len("* source:") :].strip() for ln in text.splitlines() if ln.startswith("* source:")]
    return " ".join(lines)


@dataclass(frozen=True, slots=True)
class MemristorParams:
    """A filament-gap RRAM parameter set (Stanford-PKU model form, see the .lib header).

    The state is the gap between filament tip and electrode, in
    [``gap_min_m``, ``gap_max_m``]; the read current is ``i0 exp(-gap/g0) sinh(v/v0)``.
    ``g_on_s`` and ``g_off_s`` are the chord conductances I/V at ``v_read_v`` at the two gap
    bounds: what a measurement at the read voltage reports.
    """

    name: str
    i0_a: float
    g0_m: float
    v0_v: float
    gap_min_m: float
    gap_max_m: float
    vel0_m_per_s: float
    ea_set_ev: float
    ea_reset_ev: float
    a0_m: float
    tox_m: float
    gamma0: float
    beta: float
    g1_m: float
    t0_k: float
    rth_k_per_w: float
    v_read_v: float
    window_m: float
    source: str = ""

    def __post_init__(self) -> None:
        for field in ("i0_a", "g0_m", "v0_v", "vel0_m_per_s", "a0_m", "tox_m", "g1_m", "t0_k",
                      "window_m", "ea_set_ev", "ea_reset_ev"):
            value = getattr(self, field)
            check(value > 0, field, value, "a value > 0")
        check(self.rth_k_per_w >= 0, "rth_k_per_w", self.rth_k_per_w, ">= 0 K/W")
        check(self.gap_min_m > 0, "gap_min_m", self.gap_min_m, "a gap > 0 m")
        check(self.gap_max_m > self.gap_min_m, "gap_max_m", self.gap_max_m,
              f"> gap_min_m = {self.gap_min_m} m")
        check(0 < self.v_read_v <= 0.5, "v_read_v", self.v_read_v, "a read voltage in (0, 0.5] V")

    @property
    def subckt(self) -> str:
        return self.name

    @property
    def _sinh_read(self) -> float:
        return math.sinh(self.v_read_v / self.v0_v)

    @property
    def g_on_s(self) -> float:
        return float(self.conductance(self.gap_min_m))

    @property
    def g_off_s(self) -> float:
        return float(self.conductance(self.gap_max_m))

    def conductance(self, gap_m: np.ndarray | float) -> np.ndarray:
        """Chord conductance I/V at ``v_read_v`` for a gap (clipped to its bounds)."""
        gap = np.clip(gap_m, self.gap_min_m, self.gap_max_m)
        return self.i0_a * np.exp(-gap / self.g0_m) * self._sinh_read / self.v_read_v

    def state_for_conductance(self, g_s: np.ndarray | float) -> np.ndarray:
        """The gap whose read current at ``v_read_v`` is ``g_s * v_read_v``."""
        g = np.asarray(g_s, dtype=float)
        lo, hi = self.g_off_s, self.g_on_s
        bad = ~np.isfinite(g) | (g < lo * (1 - 1e-9)) | (g > hi * (1 + 1e-9))
        if np.any(bad):
            # the offending values only (np.min/max, unlike nanmin, do not warn on NaN)
            worst = g[bad]
            raise SpecError(
                f"conductance {float(np.min(worst)):.4g}..{float(np.max(worst)):.4g} S is "
                f"outside the {self.name} range [{lo:.4g}, {hi:.4g}] S"
            )
        gap = -self.g0_m * np.log(g * self.v_read_v / (self.i0_a * self._sinh_read))
        return np.clip(gap, self.gap_min_m, self.gap_max_m)

    def current(self, v: np.ndarray, g_s: np.ndarray) -> np.ndarray:
        """Read current for voltage ``v`` across a device of chord conductance ``g_s``."""
        return g_s * (self.v_read_v / self._sinh_read) * np.sinh(np.asarray(v) / self.v0_v)

    def dcurrent_dv(self, v: np.ndarray, g_s: np.ndarray) -> np.ndarray:
        """Small-signal conductance dI/dv, for Newton iterations in the fast solver."""
        k = self.v_read_v / (self._sinh_read * self.v0_v)
        return g_s * k * np.cosh(np.asarray(v) / self.v0_v)

    def spice_params(self) -> dict[str, float]:
        return {name: getattr(self, field) * _SPICE_SCALE.get(name, 1.0)
                for name, field in _MEMRISTOR_FIELDS.items()}

    def subckt_text(self) -> str:
        """The model file with its ``params:`` line rewritten to this parameter set."""
        text = _read_lib("memristor", self.name)
        gap_mid_nm = 0.5e9 * (self.gap_min_m + self.gap_max_m)
        params = {"gap0": gap_mid_nm, **self.spice_params()}
        values = " ".join(f"{k}={_fmt(v)}" for k, v in params.items())
        return _PARAMS_LINE.sub(lambda m: f"{m.group(1)} {values}", text, count=1)

    def instance_params(self, g_s: float) -> str:
        """The per-device parameter of an instance line: its programmed gap in nm."""
        return f"gap0={_fmt(round(float(self.state_for_conductance(g_s)) * 1e9, 12))}"

    def read_sources(self, names: Sequence[str], p: Sequence[str], n: Sequence[str],
                     g_s: np.ndarray) -> list[str]:
        """B elements ``names[k]`` from ``p[k]`` to ``n[k]``, each carrying :meth:`current` for
        its conductance ``g_s[k]``: the subcircuit's read current ``Bi`` with the gap frozen at
        the programmed one, folded into ``k sinh(v/v0)``. Plain elements with literal numbers:
        in ngspice 39 a subcircuit holding ``Bi`` alone costs a third more per column (instance
        expansion and parameter expressions per cell), the full subcircuit ten times more."""
        g = self.conductance(self.state_for_conductance(g_s))
        scale = (g * (self.v_read_v / self._sinh_read)).tolist()
        v0 = _fmt(self.v0_v)
        return [f"{name} {a} {b} I = {_fmt(k)}*sinh(v({a},{b})/{v0})"
                for name, a, b, k in zip(names, p, n, scale, strict=True)]


# SPICE parameter name -> dataclass field. Gaps are in nm inside the subcircuit, so the state
# node's voltage is of order 1, well above ngspice's absolute tolerances; metres in Python.
_MEMRISTOR_FIELDS = {
    "i0": "i0_a",
    "g0": "g0_m",
    "v0": "v0_v",
    "gmin": "gap_min_m",
    "gmax": "gap_max_m",
    "vel0": "vel0_m_per_s",
    "eas": "ea_set_ev",
    "ear": "ea_reset_ev",
    "a0": "a0_m",
    "tox": "tox_m",
    "gamma0": "gamma0",
    "beta": "beta",
    "g1": "g1_m",
    "t0": "t0_k",
    "rth": "rth_k_per_w",
    "vread": "v_read_v",
    "dw": "window_m",
}
_SPICE_SCALE = {"gmin": 1e9, "gmax": 1e9, "dw": 1e9}


def memristor(name: str = "hfox_stanford_v1", **overrides: float) -> MemristorParams:
    """Load a memristor parameter set from ``device_models/memristor/<name>.lib``."""
    text = _read_lib("memristor", name)
    match = _PARAMS_LINE.search(text)
    if match is None:
        raise SpecError(f"memristor model {name!r} has no '.subckt ... params:' line")
    values = {k.lower(): float(v) for k, v in _ASSIGN.findall(match.group(2))}
    kwargs = {field: values[key] / _SPICE_SCALE.get(key, 1.0)
              for key, field in _MEMRISTOR_FIELDS.items()}
    params = MemristorParams(name=name, source=_source_of(text), **kwargs)
    return dataclasses.replace(params, **overrides) if overrides else params


@dataclass(frozen=True, slots=True)
class AccessTransistor:
    """The NMOS access transistor of a 1T1R cell: a SPICE level-1 card plus its geometry.

    Level 1 (Shichman-Hodges) is what the fast solver can reproduce exactly; the card's
    parameters are fitted to the cited technology.
    """

    name: str
    vto_v: float
    kp_a_per_v2: float
    lambda_per_v: float
    w_m: float
    l_m: float
    v_gate_v: float
    source: str = ""

    def __post_init__(self) -> None:
        check(self.kp_a_per_v2 > 0, "kp_a_per_v2", self.kp_a_per_v2, "> 0 A/V^2")
        check(self.lambda_per_v >= 0, "lambda_per_v", self.lambda_per_v, ">= 0 1/V")
        check(self.w_m > 0, "w_m", self.w_m, "a width > 0 m")
        check(self.l_m > 0, "l_m", self.l_m, "a length > 0 m")
        check(self.v_gate_v > self.vto_v, "v_gate_v", self.v_gate_v, f"> vto = {self.vto_v} V")

    @property
    def beta_a_per_v2(self) -> float:
        return self.kp_a_per_v2 * self.w_m / self.l_m

    @property
    def r_on_ohm(self) -> float:
        """Deep-triode on-resistance at zero drain-source voltage."""
        return 1.0 / (self.beta_a_per_v2 * (self.v_gate_v - self.vto_v))

    def drain_current(self, v_d: np.ndarray, v_s: np.ndarray) -> np.ndarray:
        """Level-1 drain current for drain/source voltages, gate at ``v_gate_v`` (symmetric)."""
        v_d, v_s = np.asarray(v_d, float), np.asarray(v_s, float)
        sign = np.where(v_d >= v_s, 1.0, -1.0)
        lo, hi = np.minimum(v_d, v_s), np.maximum(v_d, v_s)
        vgs, vds = self.v_gate_v - lo, hi - lo
        vov = np.maximum(vgs - self.vto_v, 0.0)
        triode = vov * vds - 0.5 * vds**2
        sat = 0.5 * vov**2
        ids = self.beta_a_per_v2 * np.where(vds < vov, triode, sat) * (1 + self.lambda_per_v * vds)
        return sign * ids

    def model_text(self) -> str:
        return _read_lib("transistor", self.name)


def access_transistor(name: str = "nmos_access", **overrides: float) -> AccessTransistor:
    """Load an access transistor from ``device_models/transistor/<name>.lib``."""
    text = _read_lib("transistor", name)
    match = _MODEL_LINE.search(text)
    if match is None:
        raise SpecError(f"transistor model {name!r} has no '.model NAME nmos (...)' card")
    card = {k.lower(): float(v) for k, v in _ASSIGN.findall(match.group(3))}
    geometry = {k.lower(): float(v) for k, v in _ASSIGN.findall(_header_value(text, "instance"))}
    params = AccessTransistor(
        name=name,
        vto_v=card["vto"],
        kp_a_per_v2=card["kp"],
        lambda_per_v=card.get("lambda", 0.0),
        w_m=geometry["w"],
        l_m=geometry["l"],
        v_gate_v=geometry["vg"],
        source=_source_of(text),
    )
    return dataclasses.replace(params, **overrides) if overrides else params


def _header_value(text: str, key: str) -> str:
    for line in text.splitlines():
        if line.lower().startswith(f"* {key}:"):
            return line.split(":", 1)[1]
    raise SpecError(f"model file lacks a '* {key}:' header line")


def _fmt(value: float) -> str:
    """Shortest round-tripping text for a SPICE number."""
    return repr(float(value)).replace("e+", "e")


READOUT_STYLES = ("sense", "virtual_ground")


@dataclass(frozen=True, slots=True)
class AdcModel:
    """Behavioural ADC: resolution, conversion time and energy per conversion."""

    bits: int
    t_conv_s: float
    e_conv_j: float
    source: str = ""

    def __post_init__(self) -> None:
        check(1 <= self.bits <= 16, "adc_bits", self.bits, "an integer from 1 to 16")
        check(self.t_conv_s >= 0, "t_conv_s", self.t_conv_s, ">= 0 s")
        check(self.e_conv_j >= 0, "e_conv_j", self.e_conv_j, ">= 0 J")


@dataclass(frozen=True, slots=True)
class Readout:
    """The column's ADC front end.

    ``sense``: the column ends in ``r_sense_ohm`` in parallel with the ADC sampling capacitor
    ``c_adc_f``; the ADC reads the sense-node voltage. ``virtual_ground``: an ideal
    transimpedance stage holds the column end at 0 V and converts its current into a voltage
    across ``r_sense_ohm`` parallel ``c_adc_f`` (a resistive-feedback TIA), so the column sees no
    sense-voltage drop.
    """

    style: str
    r_sense_ohm: float
    c_adc_f: float
    adc: AdcModel

    def __post_init__(self) -> None:
        check(self.style in READOUT_STYLES, "readout", self.style, f"one of {READOUT_STYLES}")
        check(self.r_sense_ohm > 0, "r_sense_ohm", self.r_sense_ohm, "a resistance > 0 ohm")
        check(self.c_adc_f >= 0, "c_adc_f", self.c_adc_f, "a capacitance >= 0 F")
