"""Waveforms to figures: pure functions over numpy arrays, no simulator needed.

Definitions (DESIGN.md section 4), written once here:

- **ADC full scale** ``rows * g_max * v_full * r_sense``: the readout voltage of a column whose
  every cell sits at the highest programmed conductance with every input at full scale, in the
  ideal (no IR drop) limit; the sense readout never exceeds it. ``LSB = full scale / 2^bits``.
- **Input edge**: the time the input node first reaches 50 % of its final value (time 0 if
  the input stays at 0).
- **Settle time** ``settle_s`` (from t = 0): when the readout enters, and stays within,
  ``v_final +- LSB/2``; ``v_final`` is the readout's last simulated value (the simulator runs
  until it has stopped moving). A readout that never leaves the band settles at 0.
- **Latency** ``latency_s = max(settle_s - edge, 0)``.
- **Threshold time** ``threshold_s``: from the input edge to the readout first reaching
  ``threshold_fraction * v_final`` (NaN when ``v_final`` is 0).
- **Activation window**: from 0 to ``max(settle_s, input at its final value)``, when the ADC can
  sample; the energy of each source group is the integral of the power it delivers over it.

Every crossing is linearly interpolated between simulated points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from spicecim.devices import AdcModel
from spicecim.errors import check
from spicecim.netlist.spec import CrossbarSpec

SCHEDULES = ("fully_parallel", "adc_shared", "serialized")
DEFAULT_THRESHOLD_FRACTION = 0.9


@dataclass(frozen=True, slots=True)
class AdcBand:
    """The accuracy the ADC asks of its input: full scale and resolution."""

    full_scale_v: float
    bits: int

    def __post_init__(self) -> None:
        check(self.full_scale_v > 0, "full_scale_v", self.full_scale_v, "a voltage > 0 V")
        check(1 <= self.bits <= 16, "adc_bits", self.bits, "an integer from 1 to 16")

    @property
    def lsb_v(self) -> float:
        return self.full_scale_v / (1 << self.bits)

    @property
    def half_lsb_v(self) -> float:
        return 0.5 * self.lsb_v


def adc_band(spec: CrossbarSpec, g_max_s: float) -> AdcBand:
    """The ADC band of a tile whose highest programmed conductance is ``g_max_s``."""
    check(g_max_s > 0, "g_max_s", g_max_s, "a conductance > 0 S")
    full = spec.rows * g_max_s * spec.driver.v_full_v * spec.readout.r_sense_ohm
    return AdcBand(full, spec.readout.adc.bits)


def crossing_time(t: np.ndarray, v: np.ndarray, level: float) -> float:
    """First time ``v`` reaches ``level`` from its start (NaN if never)."""
    t, v = np.asarray(t, float), np.asarray(v, float)
    sign = 1.0 if level >= v[0] else -1.0
    above = np.nonzero(sign * (v - level) >= 0)[0]
    if above.size == 0:
        return math.nan
    k = int(above[0])
    if k == 0:
        return float(t[0])
    return _interpolate(t[k - 1], t[k], v[k - 1] - level, v[k] - level)


def edge_time(t: np.ndarray, v_in: np.ndarray, fraction: float = 0.5) -> float:
    """When the input first reaches ``fraction`` of its final value (0 for a flat input)."""
    final = float(v_in[-1])
    return 0.0 if final == 0 else crossing_time(t, v_in, fraction * final)


def settle_time(t: np.ndarray, v: np.ndarray, v_final: float, band_v: float) -> float:
    """When ``v`` enters ``v_final +- band_v`` for the last time (0 if it never leaves)."""
    t, err = np.asarray(t, float), np.abs(np.asarray(v, float) - v_final)
    outside = np.nonzero(err > band_v)[0]
    if outside.size == 0:
        return float(t[0])
    k = int(outside[-1])
    if k == len(t) - 1:
        return math.nan
    return _interpolate(t[k], t[k + 1], err[k] - band_v, err[k + 1] - band_v)


def _interpolate(t0: float, t1: float, y0: float, y1: float) -> float:
    """The zero of the line through (t0, y0), (t1, y1); y0 and y1 straddle it."""
    return float(t0 + (t1 - t0) * y0 / (y0 - y1)) if y0 != y1 else float(t1)


def window_energy(t: np.ndarray, p: np.ndarray, t_end: float) -> float:
    """Trapezoidal integral of ``p`` from ``t[0]`` to ``t_end`` (p linear between points)."""
    t, p = np.asarray(t, float), np.asarray(p, float)
    if t_end <= t[0]:
        return 0.0
    k = int(np.searchsorted(t, t_end, side="right"))
    ts = np.append(t[:k], t_end)
    ps = np.append(p[:k], np.interp(t_end, t, p))
    return float(np.sum(0.5 * (ps[1:] + ps[:-1]) * np.diff(ts)))


@dataclass(frozen=True, slots=True)
class ColumnMeasure:
    """A column activation's figures; ``energy_j`` has one entry per source group plus ``adc``
    (one conversion of the ADC model)."""

    latency_s: float
    settle_s: float
    threshold_s: float
    v_final_v: float
    window_s: float
    energy_j: Mapping[str, float] = field(default_factory=dict)

    @property
    def energy_total_j(self) -> float:
        return float(sum(self.energy_j.values()))


def measure_column(t: np.ndarray, v_out: np.ndarray, v_in: np.ndarray,
                   power_w: Mapping[str, np.ndarray], band: AdcBand, adc: AdcModel,
                   threshold_fraction: float = DEFAULT_THRESHOLD_FRACTION) -> ColumnMeasure:
    """Every figure of one column from its waveforms (see the module docstring)."""
    check(0 < threshold_fraction < 1, "threshold_fraction", threshold_fraction, "a value in (0, 1)")
    check(len(t) >= 2, "waveform length", len(t), ">= 2 points")
    v_final = float(v_out[-1])
    edge = edge_time(t, v_in)
    settle = settle_time(t, v_out, v_final, band.half_lsb_v)
    threshold = (crossing_time(t, v_out, threshold_fraction * v_final) - edge
                 if v_final != 0 else math.nan)
    in_final = float(v_in[-1])
    input_done = float(t[0]) if in_final == 0 else crossing_time(t, v_in, in_final)
    window = max(settle, input_done) if math.isfinite(settle) else float(t[-1])
    energy = {name: window_energy(t, p, window) for name, p in power_w.items()}
    energy["adc"] = adc.e_conv_j
    latency = max(settle - edge, 0.0) if math.isfinite(settle) else math.nan
    return ColumnMeasure(latency_s=latency, settle_s=settle,
                         threshold_s=threshold, v_final_v=v_final, window_s=window,
                         energy_j=energy)


@dataclass(frozen=True, slots=True)
class LayerSchedule:
    """One way to read a layer's columns out through its ADCs.

    Every schedule activates each column once and converts it once, so the array and ADC
    energies are the same sums; latencies differ. Missing columns (NaN) make the row NaN.
    """

    schedule: str
    adc_share: int
    rounds: int
    conversions: int
    latency_s: float
    energy_array_j: float
    energy_adc_j: float

    def __post_init__(self) -> None:
        check(self.schedule in SCHEDULES, "schedule", self.schedule, f"one of {SCHEDULES}")

    @property
    def energy_j(self) -> float:
        return self.energy_array_j + self.energy_adc_j


def schedule_layer(latency_s: np.ndarray, energy_array_j: np.ndarray, adc: AdcModel,
                   adc_share: int) -> list[LayerSchedule]:
    """The three schedules of DESIGN.md section 4 for columns with these latencies (from the
    input edge) and activation energies (sources only, no ADC).

    - fully parallel: one ADC per column: ``max(latency) + t_conv``;
    - ADC-shared: ``adc_share`` neighbouring columns per ADC, ``ceil(cols / k)`` rounds, each
      ``max(latency in round) + t_conv``;
    - serialized: one ADC, columns one after another: ``sum(latency + t_conv)``.
    """
    lat = np.asarray(latency_s, float)
    n = lat.size
    check(n >= 1, "columns", n, ">= 1")
    check(isinstance(adc_share, int) and 1 <= adc_share, "adc_share", adc_share, "an integer >= 1")
    energy = float(np.sum(energy_array_j))
    e_adc = n * adc.e_conv_j
    rounds = math.ceil(n / adc_share)
    shared = sum(float(np.max(lat[r * adc_share:(r + 1) * adc_share])) + adc.t_conv_s
                 for r in range(rounds))
    return [
        LayerSchedule("fully_parallel", 1, 1, n, float(np.max(lat)) + adc.t_conv_s, energy, e_adc),
        LayerSchedule("adc_shared", adc_share, rounds, n, shared, energy, e_adc),
        LayerSchedule("serialized", n, n, n, float(np.sum(lat)) + n * adc.t_conv_s, energy, e_adc),
    ]
