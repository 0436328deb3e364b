"""The 1T1R access transistor: a level-1 NMOS card of ``device_models/transistor/``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from spicecim.devices.library import ASSIGN, MODEL_LINE, header_value, read_lib, source_of
from spicecim.errors import SpecError, check

EPSILON_0_F_PER_M = 8.8541878128e-12


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
    tox_m: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        check(self.kp_a_per_v2 > 0, "kp_a_per_v2", self.kp_a_per_v2, "> 0 A/V^2")
        check(self.lambda_per_v >= 0, "lambda_per_v", self.lambda_per_v, ">= 0 1/V")
        check(self.w_m > 0, "w_m", self.w_m, "a width > 0 m")
        check(self.l_m > 0, "l_m", self.l_m, "a length > 0 m")
        check(self.v_gate_v > self.vto_v, "v_gate_v", self.v_gate_v, f"> vto = {self.vto_v} V")
        check(self.tox_m is None or self.tox_m > 0, "tox_m", self.tox_m, "None or > 0 m")

    @property
    def beta_a_per_v2(self) -> float:
        return self.kp_a_per_v2 * self.w_m / self.l_m

    @property
    def cox_f_per_m2(self) -> float:
        """Gate-oxide capacitance per area, ``3.9 eps0 / toxe`` (SiO2-equivalent thickness)."""
        if self.tox_m is None:
            raise SpecError(f"transistor model {self.name!r} has no '* oxide: toxe=...' line")
        return 3.9 * EPSILON_0_F_PER_M / self.tox_m

    @property
    def c_gate_f(self) -> float:
        """Gate capacitance ``Cox W L``: what the gate's driver charges per switching."""
        return self.cox_f_per_m2 * self.w_m * self.l_m

    @property
    def r_on_ohm(self) -> float:
        """Deep-triode on-resistance at zero drain-source voltage."""
        return 1.0 / (self.beta_a_per_v2 * (self.v_gate_v - self.vto_v))

    def drain_current(self, v_d: Any, v_s: Any, xp: Any = np) -> Any:
        """Level-1 drain current for drain/source voltages, gate at ``v_gate_v`` (symmetric):
        ngspice's MOS1 equations (no body effect: the card has no gamma). ``xp`` is the array
        module (numpy, or ``jax.numpy`` for the batched engine, which differentiates it): the
        terminals are swapped by a select, not by min/max, so the derivative is the one-sided
        one ngspice uses where drain and source meet."""
        v_d, v_s = xp.asarray(v_d), xp.asarray(v_s)
        forward = v_d >= v_s
        vds = xp.where(forward, v_d - v_s, v_s - v_d)
        vgs = self.v_gate_v - xp.where(forward, v_s, v_d)
        vov = xp.maximum(vgs - self.vto_v, 0.0)
        triode = vov * vds - 0.5 * vds**2
        sat = 0.5 * vov**2
        ids = self.beta_a_per_v2 * xp.where(vds < vov, triode, sat) * (1 + self.lambda_per_v * vds)
        return xp.where(forward, ids, -ids)

    def drain_current_slopes(self, v_d: Any, v_s: Any, xp: Any = np) -> tuple[Any, Any, Any]:
        """:meth:`drain_current` and its derivatives in ``v_d`` and ``v_s`` (the Jacobian
        entries ngspice's MOS1 load stamps), in closed form: Newton's hot loop."""
        v_d, v_s = xp.asarray(v_d), xp.asarray(v_s)
        forward = v_d >= v_s
        vds = xp.where(forward, v_d - v_s, v_s - v_d)
        vov = xp.maximum(self.v_gate_v - xp.where(forward, v_s, v_d) - self.vto_v, 0.0)
        lam, beta = self.lambda_per_v, self.beta_a_per_v2
        triode = vds < vov
        shape = xp.where(triode, vov * vds - 0.5 * vds**2, 0.5 * vov**2)
        ids = beta * shape * (1 + lam * vds)
        d_vds = beta * (xp.where(triode, vov - vds, 0.0) * (1 + lam * vds) + lam * shape)
        d_vov = beta * xp.where(triode, vds, vov) * (1 + lam * vds)
        # forward: vds = vd - vs, vov = vg - vs - vto; reversed: the same of (vs, vd), negated
        di_dvd = xp.where(forward, d_vds, d_vds + d_vov)
        di_dvs = xp.where(forward, -d_vds - d_vov, -d_vds)
        return xp.where(forward, ids, -ids), di_dvd, di_dvs

    def model_text(self) -> str:
        return read_lib("transistor", self.name)


def access_transistor(name: str = "nmos_access", **overrides: Any) -> AccessTransistor:
    """Load an access transistor from ``device_models/transistor/<name>.lib``."""
    text = read_lib("transistor", name)
    match = MODEL_LINE.search(text)
    if match is None:
        raise SpecError(f"transistor model {name!r} has no '.model NAME nmos (...)' card")
    card = {k.lower(): float(v) for k, v in ASSIGN.findall(match.group(3))}
    geometry = {k.lower(): float(v) for k, v in ASSIGN.findall(header_value(text, "instance"))}
    params = AccessTransistor(
        name=name,
        vto_v=card["vto"],
        kp_a_per_v2=card["kp"],
        lambda_per_v=card.get("lambda", 0.0),
        w_m=geometry["w"],
        l_m=geometry["l"],
        v_gate_v=geometry["vg"],
        tox_m=_oxide(text),
        source=source_of(text),
    )
    return dataclasses.replace(params, **overrides) if overrides else params


def _oxide(text: str) -> float | None:
    if not any(line.lower().startswith("* oxide:") for line in text.splitlines()):
        return None
    values = {k.lower(): float(v) for k, v in ASSIGN.findall(header_value(text, "oxide"))}
    return values["toxe"]
