"""Signed weights to conductances: differential column pairs or one shared reference column."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spicecim.errors import SpecError, check
from spicecim.netlist import spec as specs
from spicecim.netlist.spec import WEIGHT_SCHEMES, CrossbarSpec, Tile

# Programming-error models, here below the simulator so that Monte Carlo over the SPICE tables
# (spicecim.sim.montecarlo), the co-simulation and the accuracy pass (spicecim.analog) draw from
# one formula (docs/sources.md section 6).
#
# - ``wan2022`` (default): NeuRRAM's RRAM after write-verify, 1 s after programming (Wan et al.,
#   Nature 608, 504, 2022, Extended Data Fig. 3), as IBM aihwkit fits it (ReRamWan2022NoiseModel,
#   src/aihwkit/inference/noise/reram.py): with x = G / g_max, sigma_G = 0.348 + 16.030 x
#   - 43.853 x^2 + 45.393 x^3 - 16.815 x^4 uS for g_max = 40 uS (0.35 uS at 0, 2.30 uS at
#   x = 0.31, 1.10 uS at g_max), scaled by g_max / 40 uS for other ranges as the model's
#   docstring intends ("standard g_max are defined in respect to 40.0 uS").
# - ``milo2021``: sigma_G = max(-0.009107 G + 4.782321 uS, 0) (Milo et al., IRPS 2021, fig. 4,
#   IGVVA-100, as fitted by Sandia CrossSim; measured on 50-225 uS devices).
WAN2022_COEFFS_US = (0.348, 16.030, -43.853, 45.393, -16.815)
WAN2022_G_MAX_S = 40e-6
MILO_SLOPE = -0.009107
MILO_OFFSET_US = 4.782321
VARIATION_MODELS = ("wan2022", "milo2021")
DEFAULT_VARIATION_MODEL = "wan2022"
VARIATION_SOURCES = {"wan2022": "Wan et al., Nature 2022 (NeuRRAM), as fitted in IBM aihwkit",
                     "milo2021": "Milo et al., IRPS 2021, fig. 4, as fitted in Sandia CrossSim"}


def wan2022_sigma_s(g_s: np.ndarray, g_max_s: float) -> np.ndarray:
    x = np.asarray(g_s, dtype=float) / g_max_s
    sigma_us = np.polynomial.polynomial.polyval(x, WAN2022_COEFFS_US)
    return np.maximum(sigma_us, 0.0) * 1e-6 * (g_max_s / WAN2022_G_MAX_S)


def programming_sigma_s(g_s: np.ndarray, g_max_s: float,
                        model: str = DEFAULT_VARIATION_MODEL) -> np.ndarray:
    """Programming error sigma (S) of devices targeted at ``g_s`` in a range up to
    ``g_max_s`` under ``model`` (one of :data:`VARIATION_MODELS`)."""
    check(model in VARIATION_MODELS, "variation_model", model, f"one of {VARIATION_MODELS}")
    if model == "wan2022":
        return wan2022_sigma_s(g_s, g_max_s)
    return np.maximum(MILO_SLOPE * np.asarray(g_s) * 1e6 + MILO_OFFSET_US, 0.0) * 1e-6


@dataclass(frozen=True, slots=True)
class WeightMapping:
    """How a signed weight matrix lands on devices.

    ``differential``: output j uses columns 2j (G+) and 2j+1 (G-), w ~ G+ - G-.
    ``reference``: output j uses column j with G = G_mid + w (G_max - G_min) / 2, and one extra
    last column at G_mid is subtracted from every output.
    Conductances are quantised to 2^bits evenly spaced levels in [g_min_s, g_max_s].
    """

    scheme: str
    g_min_s: float
    g_max_s: float
    bits: int

    def __post_init__(self) -> None:
        check(self.scheme in WEIGHT_SCHEMES, "weights_scheme", self.scheme,
              f"one of {WEIGHT_SCHEMES}")
        check(self.g_min_s > 0, "g_min_s", self.g_min_s, "a conductance > 0 S")
        check(
            self.g_max_s > self.g_min_s, "g_max_s", self.g_max_s, f"> g_min_s = {self.g_min_s} S"
        )
        check(1 <= self.bits <= 16, "weight_bits", self.bits, "an integer from 1 to 16")

    def columns_for(self, outputs: int) -> int:
        return 2 * outputs if self.scheme == "differential" else outputs + 1

    def quantise(self, g_s: np.ndarray) -> np.ndarray:
        step = (self.g_max_s - self.g_min_s) / ((1 << self.bits) - 1)
        levels = np.round((np.clip(g_s, self.g_min_s, self.g_max_s) - self.g_min_s) / step)
        return self.g_min_s + levels * step

    def to_conductances(self, w: np.ndarray, w_max: float | None = None) -> np.ndarray:
        """Map ``w`` (inputs, outputs) to quantised conductances (inputs, columns)."""
        w = np.asarray(w, dtype=float)
        check(w.ndim == 2, "weights.ndim", w.ndim, "2 (inputs, outputs)")
        check(bool(np.all(np.isfinite(w))), "weights", "non-finite", "finite values")
        scale = float(np.max(np.abs(w))) if w_max is None else w_max
        u = w / scale if scale > 0 else np.zeros_like(w)
        span = self.g_max_s - self.g_min_s
        if self.scheme == "differential":
            g = np.empty((w.shape[0], 2 * w.shape[1]))
            g[:, 0::2] = self.g_min_s + np.maximum(u, 0) * span
            g[:, 1::2] = self.g_min_s + np.maximum(-u, 0) * span
        else:
            mid = 0.5 * (self.g_min_s + self.g_max_s)
            g = np.concatenate([mid + 0.5 * u * span, np.full((w.shape[0], 1), mid)], axis=1)
        return self.quantise(g)

    def to_weights(self, g_s: np.ndarray, w_max: float) -> np.ndarray:
        """The effective weights a (possibly perturbed) conductance matrix represents."""
        span = self.g_max_s - self.g_min_s
        if self.scheme == "differential":
            return (g_s[..., 0::2] - g_s[..., 1::2]) / span * w_max
        return 2.0 * (g_s[..., :-1] - g_s[..., -1:]) / span * w_max

    def combine(self, column_values: np.ndarray) -> np.ndarray:
        """Column outputs (currents or voltages) to signed outputs, last axis = columns."""
        if self.scheme == "differential":
            return column_values[..., 0::2] - column_values[..., 1::2]
        return column_values[..., :-1] - column_values[..., -1:]

    def outputs_for(self, cols: int) -> int:
        """The signed outputs ``cols`` physical columns hold (the inverse of
        :meth:`columns_for`)."""
        if self.scheme == "differential":
            if cols % 2:
                raise SpecError(f"cols={cols} is invalid: expected an even number for "
                                "differential pairs")
            return cols // 2
        return cols - 1


def default_mapping(spec: CrossbarSpec, scheme: str = "differential", *,
                    g_min_s: float | None = None, g_max_s: float | None = None,
                    bits: int = specs.DEFAULT_WEIGHT_BITS) -> WeightMapping:
    """The weight mapping of a tile of ``spec``: the cited programming range
    (:data:`~spicecim.netlist.spec.DEFAULT_G_MIN_S` .. ``DEFAULT_G_MAX_S``) narrowed to what
    its memristor reaches, unless given."""
    mem = spec.cell.memristor
    return WeightMapping(scheme, max(specs.DEFAULT_G_MIN_S, mem.g_off_s) if g_min_s is None
                         else g_min_s,
                         min(specs.DEFAULT_G_MAX_S, mem.g_on_s) if g_max_s is None else g_max_s,
                         bits)


def make_tile(spec: CrossbarSpec, mapping: WeightMapping | None = None,
              weights: np.ndarray | None = None, inputs: np.ndarray | None = None, *,
              seed: int = 0) -> Tile:
    """A tile of ``spec`` programmed with ``weights`` (signed, ``(rows, outputs)``; default:
    uniform in [-1, 1] from ``seed``) through ``mapping`` (default: :func:`default_mapping`),
    read with ``inputs`` (``(rows,)`` in [0, 1]; default: uniform from the same generator,
    after the weights)."""
    check(isinstance(seed, int) and seed >= 0, "seed", seed, "an integer >= 0")
    mapping = default_mapping(spec) if mapping is None else mapping
    rng = np.random.default_rng(seed)
    shape = (spec.rows, mapping.outputs_for(spec.cols))
    w = rng.uniform(-1.0, 1.0, size=shape) if weights is None else np.asarray(weights)
    check(w.shape == shape, "weights.shape", w.shape, f"{shape} (rows, outputs)")
    x = rng.uniform(0.0, 1.0, size=spec.rows) if inputs is None else np.asarray(inputs)
    return Tile(spec, mapping.to_conductances(w), x, mapping)
