"""Signed weights on several devices: bit slicing and copies.

A weight ``w`` is scaled by its layer's ``w_max`` to ``u = w / w_max`` in [-1, 1]. With
``slices = S`` devices of ``L = 2^bits`` levels each, ``|u|`` is rounded to an integer
``q = round(|u| (L^S - 1))`` whose base-``L`` digits, most significant first, are the level
indices of the S devices of ``u``'s sign (the other polarity's devices stay at ``g_min``): the
differential pair of each slice holds one digit. Each slice is programmed ``copies`` times
(devices whose currents are averaged digitally: the programming error of a slice falls as
1/sqrt(copies)). An output's physical columns, in order: for each slice, for each copy, G+ then
G-. Reading back, slice ``k`` counts ``L^(S-1-k)`` times, so

    w = w_max / (step (L^S - 1)) * sum_k L^(S-1-k) mean_copies(G+_k - G-_k),

``step = (g_max - g_min) / (L - 1)``. One device (``slices = copies = 1``) is exactly
:class:`spicecim.netlist.weights.WeightMapping`'s mapping. Without quantisation (``bits`` None)
the first slice holds the weight as a continuous conductance and the others stay at g_min.

Bit slicing lowers the quantisation error (``S * bits`` bits per weight) but not the programming
error, which the most significant slice carries at full weight; copies lower the programming
error and leave the quantisation as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spicecim.errors import check
from spicecim.netlist.weights import WeightMapping


@dataclass(frozen=True, slots=True)
class WeightCode:
    """How a layer's weights land on devices: a weight mapping (range, scheme) and, for the
    differential scheme, ``slices`` and ``copies`` (module docstring); ``bits`` per device
    (None: continuous conductances, one slice)."""

    weights: WeightMapping
    bits: int | None
    slices: int = 1
    copies: int = 1

    def __post_init__(self) -> None:
        check(self.bits is None or (isinstance(self.bits, int) and 1 <= self.bits <= 16),
              "weight_bits", self.bits, "None or an integer from 1 to 16")
        for name in ("slices", "copies"):
            value = getattr(self, name)
            check(isinstance(value, int) and 1 <= value <= 8, name, value,
                  "an integer from 1 to 8")
        if self.slices * self.copies > 1:
            check(self.weights.scheme == "differential", "weights_scheme", self.weights.scheme,
                  "'differential' when a weight takes several devices")

    @property
    def per_output(self) -> int:
        """Physical columns per signed output (differential scheme)."""
        return 2 * self.slices

    @property
    def span_s(self) -> float:
        return self.weights.g_max_s - self.weights.g_min_s

    @property
    def _q_max(self) -> int:
        return (1 << (self.bits * self.slices)) - 1 if self.bits is not None else 1

    def _unit_s(self) -> float:
        """Conductance per unit of q on the most significant slice's scale, times L^(S-1)."""
        if self.bits is None:
            return self.span_s
        step = self.span_s / ((1 << self.bits) - 1)
        return step * self._q_max

    def _significance(self) -> np.ndarray:
        if self.bits is None:  # continuous: the first slice holds the weight, the rest g_min
            return np.eye(1, self.slices)[0]
        levels = 1 << self.bits
        return levels ** np.arange(self.slices - 1, -1, -1, dtype=float)

    def to_conductances(self, w: np.ndarray, w_max: float) -> np.ndarray:
        """Conductances (inputs, columns) of weights ``w`` (inputs, outputs): one copy (each
        copy's row is programmed the same)."""
        w = np.asarray(w, dtype=float)
        if self.slices * self.copies == 1 and self.weights.scheme == "reference":
            return self._one_device(w, w_max)
        u = np.clip(w / w_max, -1.0, 1.0)
        g_min = self.weights.g_min_s
        if self.bits is None:
            digits = np.abs(u)[..., None] * self._significance()
            level_s = self.span_s
        else:
            q = np.round(np.abs(u) * self._q_max).astype(np.int64)
            levels = 1 << self.bits
            shifts = self.bits * np.arange(self.slices - 1, -1, -1)
            digits = (q[..., None] >> shifts) & (levels - 1)
            level_s = self.span_s / (levels - 1)
        value = g_min + digits * level_s  # (inputs, outputs, slices)
        pos = np.where(u[..., None] > 0, value, g_min)
        neg = np.where(u[..., None] < 0, value, g_min)
        return np.stack([pos, neg], axis=-1).reshape(w.shape[0], -1)  # (in, out, slices, 2)

    def _one_device(self, w: np.ndarray, w_max: float) -> np.ndarray:
        if self.bits is not None:
            return WeightMapping(self.weights.scheme, self.weights.g_min_s,
                                 self.weights.g_max_s, self.bits).to_conductances(w, w_max)
        u, span = w / w_max, self.span_s
        mid = 0.5 * (self.weights.g_min_s + self.weights.g_max_s)
        return np.concatenate([mid + 0.5 * u * span, np.full((w.shape[0], 1), mid)], axis=1)

    def to_weights(self, g_s: np.ndarray, w_max: float) -> np.ndarray:
        """The weights a conductance matrix (or column currents per volt; last axis columns),
        summed over the copies, represents."""
        g = np.asarray(g_s)
        g = g.astype(float) if g.dtype.kind != "f" else g  # float32 reads stay float32
        g = g / self.copies
        if self.slices == 1:
            return self.weights.to_weights(g, w_max)
        pairs = g.reshape(*g.shape[:-1], g.shape[-1] // self.per_output, self.slices, 2)
        return (pairs[..., 0] - pairs[..., 1]) @ self._significance() * (w_max / self._unit_s())


def target_conductances(weights: WeightMapping, w: np.ndarray, w_max: float, bits: int | None,
                        slices: int = 1, copies: int = 1) -> np.ndarray:
    """The conductances ``w`` (scaled by ``w_max``) is programmed to: ``weights``' mapping at
    ``bits`` levels per device (None: continuous), each weight on ``slices`` bit slices and each
    input on ``copies`` rows (:class:`WeightCode`)."""
    return np.repeat(WeightCode(weights, bits, slices, copies).to_conductances(w, w_max),
                     copies, axis=0)
