"""The memristor compact model: the filament-gap HfOx RRAM of ``device_models/memristor/``.

Sign and unit conventions: SI units; a device current is positive from its ``p`` to its ``n``
terminal; a memristor's state is its filament gap (metres in Python, nm inside the subcircuit).

:class:`ProgramPulse` writes the one-cell bench every SET and RESET of the package goes through:
the memristor behind its 1T1R access transistor (or a series resistor), whose saturation current
is the SET compliance, and :meth:`ProgramPulse.result` reads back what the pulse did and refuses a
run that left the model's stated validity (``* limits:`` in the model file).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spicecim.devices.library import ASSIGN, PARAMS_LINE, fmt, header_value, read_lib, source_of
from spicecim.devices.transistor import AccessTransistor, access_transistor
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

    def read_scale_a(self, g_s: np.ndarray) -> np.ndarray:
        """The factor ``k`` of the frozen read current ``k sinh(v/v0)`` for programmed chord
        conductances ``g_s`` (through the gap, as the subcircuit holds it)."""
        g = self.conductance(self.state_for_conductance(g_s))
        return np.asarray(g * (self.v_read_v / self._sinh_read), dtype=float)

    def read_current(self, v: Any, k_a: Any, xp: Any = np) -> Any:
        """The frozen read current ``k sinh(v/v0)`` (:meth:`read_sources` writes it for
        ngspice); ``xp`` the array module (numpy or ``jax.numpy``)."""
        return k_a * xp.sinh(v / self.v0_v)

    def read_current_slope(self, v: Any, k_a: Any, xp: Any = np) -> tuple[Any, Any]:
        """:meth:`read_current` and its derivative in ``v``, from one exponential (Newton's
        hot loop: sinh and cosh each cost one)."""
        e = xp.exp(v / self.v0_v)
        inv = 1.0 / e
        return 0.5 * k_a * (e - inv), 0.5 * k_a / self.v0_v * (e + inv)

    def read_sources(self, names: Sequence[str], p: Sequence[str], n: Sequence[str],
                     g_s: np.ndarray) -> list[str]:
        """B elements ``names[k]`` from ``p[k]`` to ``n[k]``, each carrying :meth:`current` for
        its conductance ``g_s[k]``: the subcircuit's read current ``Bi`` with the gap frozen at
        the programmed one, folded into ``k sinh(v/v0)`` (:meth:`read_current`). Plain elements
        with literal numbers: in ngspice 39 a subcircuit holding ``Bi`` alone costs a third more
        per column (instance expansion and parameter expressions per cell), the full subcircuit
        ten times more."""
        scale = self.read_scale_a(g_s).tolist()
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


def memristor(name: str = "hfox_stanford_v1", **overrides: Any) -> MemristorParams:
    """Load a memristor parameter set from ``device_models/memristor/<name>.lib``."""
    text = read_lib("memristor", name)
    match = PARAMS_LINE.search(text)
    if match is None:
        raise SpecError(f"memristor model {name!r} has no '.subckt ... params:' line")
    values = {k.lower(): float(v) for k, v in ASSIGN.findall(match.group(2))}
    kwargs: dict[str, Any] = {field: values[key] / _SPICE_SCALE.get(key, 1.0)
                              for key, field in _MEMRISTOR_FIELDS.items()}
    params = MemristorParams(name=name, source=source_of(text), **kwargs)
    return dataclasses.replace(params, **overrides) if overrides else params


@dataclass(frozen=True, slots=True)
class Validity:
    """Where a model file says its subcircuit holds: ``|v(p,n)| <= v_max_v`` and a temperature
    (node ``t``) of at most ``t_max_k``; parsed from its ``* limits:`` header line."""

    v_max_v: float
    t_max_k: float


def validity(p: MemristorParams) -> Validity:
    """The stated validity of ``p``'s model file."""
    values = {k.lower(): float(v) for k, v in ASSIGN.findall(header_value(
        read_lib("memristor", p.name), "limits"))}
    return Validity(v_max_v=values["vmax"], t_max_k=values["tmax"])


SET_GATE_V = 1.0
"""Word line during SET: the gate voltage, so the access transistor's saturation current, is the
compliance (WL_SET = 1.0 V with BL_SET = 2.0 V in the Stanford/ASU 1T1R bench of
fgr1986/circuit_reliability_framework, docs/sources.md 1c); 0.42 mA for ``nmos_access``."""
RESET_GATE_V = 2.9
"""Word line during RESET (WL_RESET = 2.9 V with SL_RESET = 1.9 V in the same bench): RESET drives
the source line, so the transistor's source is the cell node and its gate must be well above it
for the device, not the transistor, to take the voltage."""
PULSE_EDGE_S = 1e-9
_NO_SWITCH_M = 1e-11  # a gap change under 0.01 nm has no switching time


@dataclass(frozen=True, slots=True)
class ProgramPulse:
    """One SET (``amplitude_v > 0``) or RESET (``< 0``) pulse on a one-cell bench.

    The cell is the memristor from bit line ``bl`` to node ``cell`` and the access transistor
    from ``cell`` to the source line ``sl`` with its gate on word line ``wl`` (1T1R), or, with
    ``access=None``, the memristor from ``bl`` to ``sl``. An optional ``series_ohm`` sits between
    the pulse source (node ``drv``) and the cell. SET drives the bit line to ``amplitude_v`` with
    the source line grounded and the gate at ``gate_v`` (default :data:`SET_GATE_V`): the
    transistor saturates and limits the current. RESET drives the source line to
    ``|amplitude_v|`` with the bit line grounded and the gate at ``gate_v`` (default
    :data:`RESET_GATE_V`), so no node goes below ground (a negative cell node would forward-bias
    the transistor's drain-body diode); without a transistor the bit line goes negative instead.
    A SET needs a compliance: the transistor or ``series_ohm > 0``.

    Both operating points lie outside the stated read validity of ``nmos_access`` (|vds| < 0.5 V,
    vg <= 1 V): a compliance-limited SET holds the transistor in saturation at vds up to ~1.2 V,
    where its level-1 current with lambda = 0 is a flat, ideal limit (a real transistor's would
    rise with vds), and RESET raises the gate to 2.9 V, where level 1 overstates the current.

    The pulse rises over ``edge_s`` from t = 0, stays flat for ``width_s``, falls over
    ``edge_s``, and the record ends ``2 edge_s`` later. The time step resolves the switching (at
    most 1 ns, a fiftieth of the pulse, a fifth of an edge), as the model file asks. Gear
    integration: with the default trapezoidal rule ngspice fails on the asu set's thermal
    runaway (time step too small: +2 V for 10 ns from 1 nm behind the transistor, measured).
    """

    memristor: MemristorParams
    amplitude_v: float
    width_s: float
    gap0_m: float
    access: AccessTransistor | None = dataclasses.field(default_factory=access_transistor)
    gate_v: float | None = None
    series_ohm: float = 0.0
    edge_s: float = PULSE_EDGE_S

    def __post_init__(self) -> None:
        check(math.isfinite(self.amplitude_v) and self.amplitude_v != 0, "amplitude_v",
              self.amplitude_v, "a finite voltage != 0 V (> 0 SET, < 0 RESET)")
        check(self.width_s > 0, "width_s", self.width_s, "a pulse width > 0 s")
        check(self.edge_s > 0, "edge_s", self.edge_s, "an edge time > 0 s")
        mem = self.memristor
        # a relative 1e-9 of slack, so a bound converted from nm still passes
        check(mem.gap_min_m * (1 - 1e-9) <= self.gap0_m <= mem.gap_max_m * (1 + 1e-9), "gap0_m",
              self.gap0_m, f"a gap in [{mem.gap_min_m}, {mem.gap_max_m}] m")
        check(self.series_ohm >= 0, "series_ohm", self.series_ohm, "a resistance >= 0 ohm")
        if self.gate_v is not None:
            check(self.access is not None, "gate_v", self.gate_v,
                  "None without an access transistor")
        check(not self.is_set or self.access is not None or self.series_ohm > 0, "series_ohm",
              self.series_ohm, "> 0 ohm for a SET without an access transistor (a compliance)")

    @property
    def is_set(self) -> bool:
        return self.amplitude_v > 0

    @property
    def gate_voltage_v(self) -> float | None:
        if self.access is None:
            return None
        if self.gate_v is not None:
            return self.gate_v
        return SET_GATE_V if self.is_set else RESET_GATE_V

    @property
    def compliance_a(self) -> float:
        """The most current a SET can draw: the access transistor's saturation current at the
        gate voltage (its source on the grounded source line), or the source over
        ``series_ohm``, whichever is less. A RESET drives the transistor from its other side,
        where the cell node, not ground, is its source: no fixed limit (``inf`` without a
        series resistor)."""
        limits = [abs(self.amplitude_v) / self.series_ohm] if self.series_ohm > 0 else []
        gate = self.gate_voltage_v
        if self.access is not None and self.is_set and gate is not None:
            a = dataclasses.replace(self.access, v_gate_v=gate)
            limits.append(float(a.drain_current(self.amplitude_v, 0.0)))
        return min(limits, default=math.inf)

    @property
    def stop_s(self) -> float:
        return 4 * self.edge_s + self.width_s

    @property
    def max_step_s(self) -> float:
        return min(1e-9, self.width_s / 50, self.edge_s / 5)

    def netlist(self) -> str:
        """The bench as SPICE text (deterministic: same pulse, same text)."""
        mem, a, e = self.memristor, self.access, self.edge_s
        amp = abs(self.amplitude_v) if a is not None else self.amplitude_v
        points = [(0.0, 0.0), (e, amp), (e + self.width_s, amp), (2 * e + self.width_s, 0.0)]
        pulse = "PWL(" + " ".join(f"{fmt(t)} {fmt(v)}" for t, v in points) + ")"
        driven_bl = self.is_set or a is None
        top = "drv" if self.series_ohm > 0 else "bl"
        kind = "SET" if self.is_set else "RESET"
        gate = self.gate_voltage_v
        lines = [f"* spicecim programming bench: {mem.name} {kind} {fmt(self.amplitude_v)} V "
                 f"{fmt(self.width_s)} s from gap {fmt(self.gap0_m)} m, "
                 + ("0T1R" if a is None or gate is None else f"1T1R gate {fmt(gate)} V")
                 + f", series {fmt(self.series_ohm)} ohm",
                 mem.subckt_text().rstrip()]
        if a is not None:
            lines.append(a.model_text().rstrip())
        lines += [f"Vbl {top if driven_bl else 'bl'} 0 {pulse if driven_bl else 'DC 0'}",
                  f"Vsl sl 0 {'DC 0' if driven_bl else pulse}"]
        if self.series_ohm > 0:
            lines.append(f"Rs drv bl {fmt(self.series_ohm)}")
        gap_nm = fmt(round(self.gap0_m * 1e9, 12))
        if a is None:
            lines.append(f"X1 bl sl {mem.subckt} gap0={gap_nm}")
        else:
            assert gate is not None  # a cell with an access transistor has a gate voltage
            lines += [f"Vwl wl 0 DC {fmt(gate)}",
                      f"X1 bl cell {mem.subckt} gap0={gap_nm}",
                      f"M1 cell wl sl 0 {a.name} W={fmt(a.w_m)} L={fmt(a.l_m)}"]
        step = fmt(self.max_step_s)
        lines += [".options method=gear", f".tran {step} {fmt(self.stop_s)} 0 {step}", ".end", ""]
        return "\n".join(lines)

    def result(self, vectors: dict[str, np.ndarray], strict: bool = True) -> ProgramResult:
        """What the pulse did, from the vectors of an ngspice run of :meth:`netlist`.

        ``strict``: raise :class:`SpecError` when the run left the model's validity (device
        voltage, temperature, or the gap more than two window widths outside its bounds), so no
        figure from outside the range is used unknowingly; else list the breaches in
        :attr:`ProgramResult.violations`."""
        mem = self.memristor
        time = vectors["time"]
        gap = self.gap0_m + vectors["x1.s"] * 1e-9
        v_cell = vectors["bl"] - vectors["cell" if self.access is not None else "sl"]
        # every current through the cell passes the bit-line source (driving or grounding bl)
        i_cell = -vectors["vbl#branch"]
        change = gap[-1] - self.gap0_m
        switch_s = math.nan
        if abs(change) >= _NO_SWITCH_M:
            k = int(np.argmax(np.abs(gap - self.gap0_m) >= 0.9 * abs(change)))
            switch_s = float(time[k]) - 0.5 * self.edge_s
        limits = validity(mem)
        t_peak = float(np.max(vectors["x1.t"]))
        v_peak = float(np.max(np.abs(v_cell)))
        slack = 2 * mem.window_m
        violations = []
        if t_peak > limits.t_max_k:
            violations.append(f"peak temperature {t_peak:.4g} K > {limits.t_max_k:g} K")
        if v_peak > limits.v_max_v:
            violations.append(f"peak |v| {v_peak:.4g} V > {limits.v_max_v:g} V")
        if gap.min() < mem.gap_min_m - slack or gap.max() > mem.gap_max_m + slack:
            violations.append(f"gap {gap.min() * 1e9:.4g}..{gap.max() * 1e9:.4g} nm outside "
                              f"[{mem.gap_min_m * 1e9:g}, {mem.gap_max_m * 1e9:g}] nm")
        if strict and violations:
            raise SpecError(f"{mem.name} pulse {fmt(self.amplitude_v)} V {fmt(self.width_s)} s "
                            f"leaves the model's validity: {'; '.join(violations)}")
        return ProgramResult(
            gap_before_m=self.gap0_m, gap_after_m=float(gap[-1]),
            g_before_s=float(mem.conductance(self.gap0_m)),
            g_after_s=float(mem.conductance(gap[-1])),
            i_peak_a=float(np.max(np.abs(i_cell))), t_peak_k=t_peak, v_cell_peak_v=v_peak,
            switch_s=switch_s, violations=tuple(violations))


@dataclass(frozen=True, slots=True)
class ProgramResult:
    """What one :class:`ProgramPulse` did. Conductances are the read chord conductance of the gap
    before and after (:meth:`MemristorParams.conductance`); ``switch_s``: from the 50 % point of
    the leading edge until the gap had made 90 % of its change (NaN below 0.01 nm of change)."""

    gap_before_m: float
    gap_after_m: float
    g_before_s: float
    g_after_s: float
    i_peak_a: float
    t_peak_k: float
    v_cell_peak_v: float
    switch_s: float
    violations: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("gap_before_m", "gap_after_m", "g_before_s", "g_after_s", "t_peak_k"):
            check(getattr(self, name) > 0, name, getattr(self, name), "a value > 0")
        check(self.i_peak_a >= 0, "i_peak_a", self.i_peak_a, "a current >= 0 A")
