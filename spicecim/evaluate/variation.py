"""Programming-error models: the standard deviation of a device programmed to a target.

- ``wan2022`` (default): NeuRRAM's RRAM after write-verify, 1 s after programming (Wan et al.,
  Nature 608, 504, 2022, Extended Data Fig. 3), as IBM aihwkit fits it
  (``ReRamWan2022NoiseModel``, ``src/aihwkit/inference/noise/reram.py``): with ``x = G / g_max``,
  ``sigma_G = 0.348 + 16.030 x - 43.853 x^2 + 45.393 x^3 - 16.815 x^4`` uS for ``g_max = 40 uS``
  (0.35 uS at 0, 2.30 uS at x = 0.31, 1.10 uS at g_max), scaled by ``g_max / 40 uS`` for other
  ranges as the model's docstring intends ("standard g_max are defined in respect to 40.0 uS.
  Need to adjust for that"). docs/sources.md section 6.
- ``milo2021``: ``sigma_G = max(-0.009107 G + 4.782321 uS, 0)`` (Milo et al., IRPS 2021, fig. 4,
  as fitted by Sandia CrossSim; 50-225 uS), :func:`spicecim.netlist.weights.programming_sigma_s`.
"""

from __future__ import annotations

import numpy as np

from spicecim.errors import check
from spicecim.netlist.weights import programming_sigma_s

WAN2022_COEFFS_US = (0.348, 16.030, -43.853, 45.393, -16.815)
WAN2022_G_MAX_S = 40e-6
VARIATION_MODELS = ("wan2022", "milo2021")
DEFAULT_VARIATION_MODEL = "wan2022"
SOURCES = {"wan2022": "Wan et al. 2022 via aihwkit", "milo2021": "Milo et al. 2021"}


def wan2022_sigma_s(g_s: np.ndarray, g_max_s: float) -> np.ndarray:
    x = np.asarray(g_s, dtype=float) / g_max_s
    sigma_us = np.polynomial.polynomial.polyval(x, WAN2022_COEFFS_US)
    return np.maximum(sigma_us, 0.0) * 1e-6 * (g_max_s / WAN2022_G_MAX_S)


def sigma_s(model: str, g_s: np.ndarray, g_max_s: float) -> np.ndarray:
    """Programming error sigma (S) of devices targeted at ``g_s`` in a range up to
    ``g_max_s``."""
    check(model in VARIATION_MODELS, "variation_model", model, f"one of {VARIATION_MODELS}")
    if model == "wan2022":
        return wan2022_sigma_s(g_s, g_max_s)
    return programming_sigma_s(g_s)
