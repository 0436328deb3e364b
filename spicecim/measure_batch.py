"""Many columns' figures in one pass: :func:`spicecim.measure.measure_column` over a
(columns, time) array.

The columns may have different time points and lengths (ngspice and the batched column engine
step each column on its own schedule): each is padded to the longest by repeating its last
point, which no figure reads (a repeated last value is neither a new crossing nor outside the
band, and the energy's intervals are selected per column). Every figure is computed with the
operations :mod:`spicecim.measure` applies to one column, in the same order, elementwise over
the columns, so the figures agree with it to float rounding (tests/test_measure_batch.py);
the run driver measures a task's columns this way (one column at a time cost about a
millisecond of Python per column, as much as the batched engine's solve of it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from spicecim.devices.readout import SizedReadout
from spicecim.errors import check
from spicecim.measure import (
    DEFAULT_THRESHOLD_FRACTION,
    ColumnMeasure,
    adc_band,
    simpson_points,
)


def stack(waves: Sequence[np.ndarray]) -> np.ndarray:
    """Columns' waveforms as one (columns, longest) array, each padded with its last value."""
    longest = max(len(w) for w in waves)
    if all(len(w) == longest for w in waves):
        return np.array(waves, float)
    out = np.empty((len(waves), longest))
    for c, w in enumerate(waves):
        out[c, :len(w)] = w
        out[c, len(w):] = w[-1]
    return out


def measure_columns(t: np.ndarray, v_out: np.ndarray, v_in: np.ndarray,
                    power_w: Mapping[str, np.ndarray], lengths: np.ndarray,
                    sized: SizedReadout,
                    threshold_fraction: float = DEFAULT_THRESHOLD_FRACTION,
                    rise_s: float = 0.0) -> list[ColumnMeasure]:
    """Each column's :func:`~spicecim.measure.measure_column`: ``t``, ``v_out``, ``v_in`` and
    each of ``power_w`` (columns, points) arrays as :func:`stack` makes them, column ``c`` real
    for its first ``lengths[c]`` points."""
    check(0 < threshold_fraction < 1, "threshold_fraction", threshold_fraction, "a value in (0, 1)")
    lengths = np.asarray(lengths, int)
    check(lengths.size == 0 or int(lengths.min()) >= 2, "waveform length",
          int(lengths.min(initial=2)), ">= 2 points")
    rows = np.arange(len(lengths))
    last = lengths - 1
    band = adc_band(sized)
    v_final = v_out[rows, last]
    in_final = v_in[rows, last]
    edge = np.where(in_final == 0, 0.0, _crossing(t, v_in, 0.5 * in_final))
    settle = _settle(t, v_out, v_final, band.half_lsb_v, last)
    with np.errstate(invalid="ignore"):
        threshold = np.where(v_final != 0, _crossing(t, v_out, threshold_fraction * v_final)
                             - edge, math.nan)
    input_done = np.where(in_final == 0, t[:, 0], _crossing(t, v_in, in_final))
    finite = np.isfinite(settle)
    window = np.where(finite, np.maximum(np.maximum(settle, input_done), rise_s),
                      t[rows, last])
    names = list(power_w)
    powers = np.array([power_w[name] for name in names], float).reshape(len(names), *t.shape)
    energy = dict(zip(names, _window_energies(t, powers, window, lengths), strict=True))
    e_sh = sized.readout.sample_hold.clock_energy_j
    e_adc = sized.readout.adc.e_conv_j
    latency = np.where(finite, np.maximum(settle - edge, 0.0), math.nan)
    out = []
    for c in range(len(lengths)):
        vf = float(v_final[c])
        snr = 20 * math.log10(abs(vf) / sized.noise_v) if vf != 0 else -math.inf
        e = {name: float(energy[name][c]) for name in names}
        e["sh"], e["adc"] = e_sh, e_adc
        out.append(ColumnMeasure(
            latency_s=float(latency[c]), settle_s=float(settle[c]),
            threshold_s=float(threshold[c]), v_final_v=vf, window_s=float(window[c]),
            snr_db=snr, energy_j=e,
            power_end_w={name: float(power_w[name][c, last[c]]) for name in names}))
    return out


def _interpolate(t0: np.ndarray, t1: np.ndarray, y0: np.ndarray, y1: np.ndarray
                 ) -> np.ndarray:
    """:func:`spicecim.measure._interpolate` per column."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(y0 != y1, t0 + (t1 - t0) * y0 / (y0 - y1), t1)


def _crossing(t: np.ndarray, v: np.ndarray, level: np.ndarray) -> np.ndarray:
    """:func:`spicecim.measure.crossing_time` per column (``level`` one per column)."""
    rows = np.arange(len(v))
    sign = np.where(level >= v[:, 0], 1.0, -1.0)
    above = sign[:, None] * (v - level[:, None]) >= 0
    k = np.argmax(above, axis=1)
    prev = np.maximum(k - 1, 0)
    at = _interpolate(t[rows, prev], t[rows, k], v[rows, prev] - level, v[rows, k] - level)
    return np.where(~above.any(axis=1), math.nan, np.where(k == 0, t[:, 0], at))


def _settle(t: np.ndarray, v: np.ndarray, v_final: np.ndarray, band_v: float,
            last: np.ndarray) -> np.ndarray:
    """:func:`spicecim.measure.settle_time` per column (each ending at ``last``)."""
    rows = np.arange(len(v))
    err = np.abs(v - v_final[:, None])
    outside = err > band_v
    width = v.shape[1]
    k = width - 1 - np.argmax(outside[:, ::-1], axis=1)
    nxt = np.minimum(k + 1, width - 1)
    at = _interpolate(t[rows, k], t[rows, nxt], err[rows, k] - band_v, err[rows, nxt] - band_v)
    at = np.where(k == last, math.nan, at)
    return np.where(~outside.any(axis=1), t[:, 0], at)


def _window_energies(t: np.ndarray, p: np.ndarray, t_end: np.ndarray, lengths: np.ndarray
                     ) -> np.ndarray:
    """:func:`spicecim.measure.window_energies` per column (each its own time points and window
    end) of every source group at once: ``p`` is (groups, columns, points)."""
    rows = np.arange(p.shape[1])
    last = lengths - 1
    t_last = t[rows, last]
    p_last = p[:, rows, last]
    # Two points: the line through them.
    span = np.minimum(t_end, t[:, 1]) - t[:, 0]
    slope = (p[..., 1] - p[..., 0]) / (t[:, 1] - t[:, 0])
    two = p[..., 0] * span + 0.5 * slope * span**2 + p[..., 1] * np.maximum(t_end - t[:, 1], 0.0)
    running = _cumulative_simpson(t, p, lengths)
    past = running[:, rows, last] + p_last * (t_end - t_last)
    # Inside: the quadratic through the three points around t_end (Lagrange form, x from t[k]).
    k = np.clip(np.sum(t <= t_end[:, None], axis=1) - 1, 0, last)
    lo = np.clip(np.minimum(np.maximum(k - 1, 0), lengths - 3), 0, None)
    x = (t[rows[:, None], np.minimum(lo[:, None] + np.arange(3), last[:, None])]
         - t[rows, k][:, None])
    h = t_end - t[rows, k]
    total = running[:, rows, k]
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(3):
            a, b = np.delete(x, j, axis=1).T
            weight = (h**3 / 3 - (a + b) * h**2 / 2 + a * b * h) / ((x[:, j] - a) * (x[:, j] - b))
            total = total + p[:, rows, np.minimum(lo + j, last)] * weight
    inside = np.where(t_end >= t_last, past, total)
    out = np.where(lengths == 2, two, inside)
    return np.where(t_end <= t[:, 0], 0.0, out)


def _cumulative_simpson(t: np.ndarray, p: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """:func:`spicecim.measure._cumulative_simpson` per column, ``p`` (groups, columns,
    points): interval ``i`` takes the quadratic through its points and the next (even ``i``)
    or the one before (odd ``i``, and each column's last interval), as it does for one
    column."""
    width = t.shape[1]
    if width < 3:
        return np.zeros_like(p)
    dx = np.diff(t, axis=1)
    # forward[i]: interval i through points i, i+1, i+2 (i < width - 2); backward[i]: interval
    # i + 1 through the same points, integrated from the right
    with np.errstate(invalid="ignore", divide="ignore"):
        forward = simpson_points(dx[:, :-1], dx[:, 1:], p[..., :-2], p[..., 1:-1], p[..., 2:])
        backward = simpson_points(dx[:, 1:], dx[:, :-1], p[..., 2:], p[..., 1:-1], p[..., :-2])
    nan = np.full((*p.shape[:2], 1), math.nan)
    by_forward = np.concatenate([forward, nan], axis=-1)  # interval i: forward[i]
    by_backward = np.concatenate([nan, backward], axis=-1)  # interval i: backward[i - 1]
    i = np.arange(width - 1)
    use_back = (i % 2 == 1)[None, :] | (i[None, :] == (lengths - 2)[:, None])
    sub = np.where(use_back, by_backward, by_forward)
    out = np.zeros(p.shape)
    np.cumsum(sub, axis=-1, out=out[..., 1:])
    return out

