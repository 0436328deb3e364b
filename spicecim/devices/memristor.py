"""The memristor compact model: the filament-gap HfOx RRAM of ``device_models/memristor/``.

Sign and unit conventions: SI units; a device current is positive from its ``p`` to its ``n``
terminal; a memristor's state is its filament gap (metres in Python, nm inside the subcircuit).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spicecim.devices.library import ASSIGN, PARAMS_LINE, fmt, read_lib, source_of
from spicecim.errors import SpecError, check


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
        text = read_lib("memristor", self.name)
        gap_mid_nm = 0.5e9 * (self.gap_min_m + self.gap_max_m)
        params = {"gap0": gap_mid_nm, **self.spice_params()}
        values = " ".join(f"{k}={fmt(v)}" for k, v in params.items())
        return PARAMS_LINE.sub(lambda m: f"{m.group(1)} {values}", text, count=1)

    def instance_params(self, g_s: float) -> str:
        """The per-device parameter of an instance line: its programmed gap in nm."""
        return f"gap0={fmt(round(float(self.state_for_conductance(g_s)) * 1e9, 12))}"

    def read_sources(self, names: Sequence[str], p: Sequence[str], n: Sequence[str],
                     g_s: np.ndarray) -> list[str]:
        """B elements ``names[k]`` from ``p[k]`` to ``n[k]``, each carrying :meth:`current` for
        its conductance ``g_s[k]``: the subcircuit's read current ``Bi`` with the gap frozen at
        the programmed one, folded into ``k sinh(v/v0)``. Plain elements with literal numbers:
        in ngspice 39 a subcircuit holding ``Bi`` alone costs a third more per column (instance
        expansion and parameter expressions per cell), the full subcircuit ten times more."""
        g = self.conductance(self.state_for_conductance(g_s))
        scale = (g * (self.v_read_v / self._sinh_read)).tolist()
        v0 = fmt(self.v0_v)
        return [f"{name} {a} {b} I = {fmt(k)}*sinh(v({a},{b})/{v0})"
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
    text = read_lib("memristor", name)
    match = PARAMS_LINE.search(text)
    if match is None:
        raise SpecError(f"memristor model {name!r} has no '.subckt ... params:' line")
    values = {k.lower(): float(v) for k, v in ASSIGN.findall(match.group(2))}
    kwargs = {field: values[key] / _SPICE_SCALE.get(key, 1.0)
              for key, field in _MEMRISTOR_FIELDS.items()}
    params = MemristorParams(name=name, source=source_of(text), **kwargs)
    return dataclasses.replace(params, **overrides) if overrides else params
