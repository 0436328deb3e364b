"""How long a readout takes to settle: the step response of a closed loop with two poles, to
half an LSB (:func:`settle_time_s`), and the loop a sized amplifier closes round its load
(:func:`closed_loop`); :func:`spicecim.devices.amplifier.design` sizes the amplifier with them
and the tests check them against ngspice."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import brentq

from spicecim.errors import check

if TYPE_CHECKING:
    from spicecim.devices.amplifier import AmpLoad


def settle_time_s(b1_s: float, b2_s2: float, bits: int) -> float:
    """When a full-scale step settles to half an LSB, ``eps = 2^-(bits+1)``, through a closed
    loop ``1 / (1 + b1 s + b2 s^2)``. Its error ``e(t)`` is, overdamped (roots ``-a``, ``-b``,
    ``a < b``), ``(b e^{-a t} - a e^{-b t}) / (b - a)``; critically damped
    ``(1 + w t) e^{-w t}``, ``w = b1 / (2 b2)``; underdamped
    ``e^{-w t} (cos w_d t + (w / w_d) sin w_d t)``: the last time ``|e| = eps``; one pole
    (``b2 = 0``) ``b1 ln(1 / eps)``."""
    check(b1_s > 0 and b2_s2 >= 0, "closed-loop coefficients", (b1_s, b2_s2), "b1 > 0, b2 >= 0")
    eps = 2.0 ** -(bits + 1)
    if b2_s2 == 0:
        return b1_s * math.log(1 / eps)
    disc = b1_s * b1_s - 4 * b2_s2
    w = b1_s / (2 * b2_s2)
    if disc > 1e-12 * b1_s * b1_s:
        b = (b1_s + math.sqrt(disc)) / (2 * b2_s2)
        a = 1 / (b2_s2 * b)  # the product of the roots (w - root cancels for a slow a)

        def error(t: float) -> float:
            return (b * math.exp(-a * t) - a * math.exp(-b * t)) / (b - a) - eps

        t_hi = 1.01 * (math.log(1 / eps) + math.log(b / (b - a))) / a  # past the slow term's
    elif disc >= -1e-12 * b1_s * b1_s:
        def error(t: float) -> float:
            return (1 + w * t) * math.exp(-w * t) - eps

        t_hi = 2 * math.log(1 / eps) / w + 10 / w
    else:
        w_d = math.sqrt(-disc) / (2 * b2_s2)
        t_env = math.log(math.hypot(1.0, w / w_d) / eps) / w  # the envelope's bound
        t = np.linspace(0.0, t_env, 64 * int(1 + t_env * w_d / math.pi) + 2)
        e = np.exp(-w * t) * (np.cos(w_d * t) + w / w_d * np.sin(w_d * t))
        last = int(np.nonzero(np.abs(e) > eps)[0][-1])
        sign = math.copysign(eps, e[last])

        def error(t: float) -> float:
            return math.exp(-w * t) * (math.cos(w_d * t) + w / w_d * math.sin(w_d * t)) - sign

        if last + 1 >= t.size:
            return float(t_env)
        return float(brentq(error, t[last], t[last + 1], xtol=1e-15 * t_env + 1e-18))
    return float(brentq(error, 0.0, t_hi, xtol=1e-12 * t_hi))


def closed_loop(f_u_hz: float, r_out_ohm: float, load: AmpLoad) -> tuple[float, float]:
    """``(b1, b2)`` of the sampled node's step response ``1 / (1 + b1 s + b2 s^2)``. The loop at
    the output pin is ``w_u / s`` (``w_u = 2 pi gbw d / n``) times ``(1 + s/z) / (1 + s/p)``:
    the switch and ``C_s`` behind ``rout`` put a pole ``p = 1 / ((rout || R_L + r_sw) C_s)``
    (``R_L``: the feedback path, ``R_f`` and the column) and a zero ``z = 1 / (r_sw C_s)``;
    the sampled node follows the pin through ``1 / (1 + s/z)``, which cancels that zero:
    ``b1 = 1 / w_u + 1 / z``, ``b2 = 1 / (w_u p)``."""
    r_l = (load.r_f_ohm + 1.0 / load.g_in_s if math.isfinite(load.r_f_ohm) and load.g_in_s
           else math.inf)
    r_o = r_out_ohm if math.isinf(r_l) else r_out_ohm * r_l / (r_out_ohm + r_l)
    w_u = 2 * math.pi * f_u_hz
    return (1 / w_u + load.r_switch_ohm * load.c_s_f,
            (r_o + load.r_switch_ohm) * load.c_s_f / w_u)
