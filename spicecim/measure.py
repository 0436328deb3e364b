"""Waveforms to figures: pure functions over numpy arrays, no simulator needed.

Definitions (DESIGN.md section 4), written once here:

- **ADC band**: the full scale of the readout sized for the tile
  (:class:`~spicecim.devices.readout.SizedReadout`: the worst-case column current times the
  front end's gain), ``LSB = full scale / 2^bits``.
- **Input edge**: the time the input node first reaches 50 % of its final value (time 0 if
  the input stays at 0).
- **Settle time** ``settle_s`` (from t = 0): when the sampled value (the sampling capacitor, the
  ADC's input) enters, and stays within, ``v_final +- LSB/2``; ``v_final`` is its last simulated
  value (the simulator runs until it has stopped moving). A value that never leaves the band
  settles at 0.
- **Latency** ``latency_s = max(settle_s - edge, 0)``.
- **Threshold time** ``threshold_s``: from the input edge to the sampled value first reaching
  ``threshold_fraction * v_final`` (NaN when ``v_final`` is 0).
- **Activation window**: from 0 to ``max(settle_s, the input edge's end)``, when the ADC can
  sample (the edge lasts the driver's rise time whatever the input: a row driven to 0 V takes
  its slot too); the energy of each source group is the integral of the power it delivers over
  it, on
  the simulator's own time points with the power quadratic through each three of them
  (Simpson's rule: exact for the ``t^2`` power of a linear edge, which the trapezoidal rule
  overestimates). ``power_end_w`` is each group's power at the end of the run, when every node
  has settled: what a schedule pays per second of keeping rows and front ends on.
- **Signal-to-noise** ``snr_db``: ``|v_final|`` against the kT/C noise the sampling capacitor
  holds.

Every crossing is linearly interpolated between simulated points.

**Layer schedules** (:func:`schedule_layer`): every column of the layer is activated at once
and each column's sample-and-hold samples when the slowest column has settled (``t_sample``,
from t = 0); then the ADCs convert: ``fully_parallel`` one ADC per column (1 round),
``adc_shared`` ``k`` columns per ADC (``k`` rounds, ``ceil(n / k)`` ADCs), ``serialized`` one
ADC (``n`` rounds). Row policy: ``hold`` turns rows and front ends off once every sample is
held; ``driven`` keeps them on until the last conversion ends. ``hold`` assumes an ideal
sample-and-hold (its droop over the conversions, charge injection and charge sharing into a
shared ADC are not simulated), so the default for models and macros is ``driven``
(:data:`spicecim.cost.schedule.DEFAULT_POLICY`). A column's energy up to
``t_sample`` is its activation-window energy plus its settled power over the rest; past
``t_sample`` (``driven``) the settled power. Parts (:data:`ENERGY_PARTS`), each at the rail it
draws from: the driven rows' DAC conversions (``dac``), their buffers' static bias over the
time the rows are on (``rowbias``), what the rows draw from their rail into the array and the
word-line bias (``array``), the driven rows' word lines charged once (``wordline``), the
front-end supplies (``frontend``), the sample-and-holds' clocks (``sh``), the conversions
(``adc``) and the ADCs' reference buffers (``adcref``): :mod:`spicecim.devices.periphery`.
The layer latency is from the input edge: the slowest column's latency plus the rounds of
conversion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from spicecim.devices import periphery as periph
from spicecim.devices.readout import AdcModel, SizedReadout
from spicecim.errors import check

if TYPE_CHECKING:
    from spicecim.netlist.spec import Tile

SCHEDULES = ("fully_parallel", "adc_shared", "serialized")
ENERGY_PARTS = ("dac", "rowbias", "array", "wordline", "frontend", "sh", "adc", "adcref")
"""A layer's energy by part (module docstring): :class:`LayerSchedule`'s ``energy_<part>_j``."""
ROW_POLICIES = ("hold", "driven")
DEFAULT_THRESHOLD_FRACTION = 0.9


@dataclass(frozen=True, slots=True)
class AdcBand:
    """The accuracy the ADC asks of its input: full scale and resolution."""

    full_scale_v: float
    bits: int

    def __post_init__(self) -> None:
        check(math.isfinite(self.full_scale_v) and self.full_scale_v > 0, "full_scale_v",
              self.full_scale_v, "a finite voltage > 0 V")
        check(1 <= self.bits <= 16, "adc_bits", self.bits, "an integer from 1 to 16")

    @property
    def lsb_v(self) -> float:
        return self.full_scale_v / (1 << self.bits)

    @property
    def half_lsb_v(self) -> float:
        return 0.5 * self.lsb_v


def adc_band(sized: SizedReadout) -> AdcBand:
    """The ADC band of a sized readout."""
    return AdcBand(sized.full_scale_v, sized.bits)


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
    """The integral of ``p`` from ``t[0]`` to ``t_end``: Simpson's rule on the given (uneven)
    points up to the last point before ``t_end``, then the quadratic through the three points
    around it over the rest (past the last point: the last power)."""
    return float(window_energies(t, np.asarray(p, float)[None], t_end)[0])


def window_energies(t: np.ndarray, p: np.ndarray, t_end: float) -> np.ndarray:
    """:func:`window_energy` of each row of ``p`` (waveforms on the one time grid ``t``), in one
    pass: a column's source groups share their time points."""
    t, p = np.asarray(t, float), np.asarray(p, float)
    if t_end <= t[0] or len(t) < 2 or len(p) == 0:
        return np.zeros(len(p))
    if len(t) == 2:  # too few points for a quadratic: the line through them
        span = min(t_end, t[1]) - t[0]
        slope = (p[:, 1] - p[:, 0]) / (t[1] - t[0])
        return p[:, 0] * span + 0.5 * slope * span**2 + p[:, 1] * max(t_end - t[1], 0.0)
    running = _cumulative_simpson(t, p)
    if t_end >= t[-1]:
        return running[:, -1] + p[:, -1] * (t_end - t[-1])
    k = int(np.searchsorted(t, t_end, side="right")) - 1  # t[k] <= t_end < t[k + 1]
    lo = min(max(k - 1, 0), len(t) - 3)
    # The quadratic through the three points around t_end, integrated from t[k] to t_end in
    # Lagrange form (x from t[k]): each point's weight is its basis polynomial's integral.
    x, h = t[lo:lo + 3] - t[k], t_end - t[k]
    weights = np.empty(3)
    for j in range(3):
        a, b = np.delete(x, j)
        weights[j] = (h**3 / 3 - (a + b) * h**2 / 2 + a * b * h) / ((x[j] - a) * (x[j] - b))
    return running[:, k] + p[:, lo:lo + 3] @ weights


def _cumulative_simpson(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """scipy's ``cumulative_simpson(p, x=t, axis=-1, initial=0)`` for 3 or more points, the same
    operations in the same order without its argument handling (which cost 20x the arithmetic
    on a column's few hundred points)."""
    dx = np.diff(t)
    forward = _simpson_intervals(p, dx)
    backward = _simpson_intervals(p[:, ::-1], dx[::-1])[:, ::-1]
    sub = np.empty((len(p), len(t) - 1))
    sub[:, :-1:2] = forward[:, ::2]
    sub[:, 1::2] = backward[:, ::2]
    sub[:, -1] = backward[:, -1]  # the last interval has no point after it
    out = np.zeros((len(p), len(t)))
    np.cumsum(sub, axis=-1, out=out[:, 1:])
    return out


def _simpson_intervals(p: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Each interval's integral of the quadratic through its two points and the next (Cartwright,
    "Simpson's rule cumulative integration with MS Excel and irregularly-spaced data", eqn 8)."""
    return simpson_points(dx[:-1], dx[1:], p[:, :-2], p[:, 1:-1], p[:, 2:])


def simpson_points(x21: np.ndarray, x32: np.ndarray, f1: np.ndarray, f2: np.ndarray,
                   f3: np.ndarray) -> np.ndarray:
    """:func:`_simpson_intervals` with its points given (``x21``, ``x32`` the spacings, ``f1``..
    ``f3`` the values; broadcast elementwise, so a batch of columns gets the same operations in
    the same order: :mod:`spicecim.measure_batch`)."""
    x31 = x21 + x32
    x21_x31 = x21 / x31
    x21_x32 = x21 / x32
    x21x21_x31x32 = x21_x31 * x21_x32
    coeff1 = 3 - x21_x31
    coeff2 = 3 + x21x21_x31x32 + x21_x31
    coeff3 = -x21x21_x31x32
    return x21 / 6 * (coeff1 * f1 + coeff2 * f2 + coeff3 * f3)


@dataclass(frozen=True, slots=True)
class ColumnMeasure:
    """A column activation's figures. ``energy_j`` has one entry per source group of the
    netlist plus ``sh`` (the sample-and-hold's clock) and ``adc`` (one conversion);
    ``power_end_w`` each source group's settled power."""

    latency_s: float
    settle_s: float
    threshold_s: float
    v_final_v: float
    window_s: float
    snr_db: float
    energy_j: Mapping[str, float] = field(default_factory=dict)
    power_end_w: Mapping[str, float] = field(default_factory=dict)

    @property
    def energy_total_j(self) -> float:
        return float(sum(self.energy_j.values()))


def measure_column(t: np.ndarray, v_out: np.ndarray, v_in: np.ndarray,
                   power_w: Mapping[str, np.ndarray], sized: SizedReadout,
                   threshold_fraction: float = DEFAULT_THRESHOLD_FRACTION,
                   rise_s: float = 0.0) -> ColumnMeasure:
    """Every figure of one column from its waveforms (see the module docstring); ``rise_s``
    the input edge's length."""
    check(0 < threshold_fraction < 1, "threshold_fraction", threshold_fraction, "a value in (0, 1)")
    check(len(t) >= 2, "waveform length", len(t), ">= 2 points")
    band = adc_band(sized)
    v_final = float(v_out[-1])
    edge = edge_time(t, v_in)
    settle = settle_time(t, v_out, v_final, band.half_lsb_v)
    threshold = (crossing_time(t, v_out, threshold_fraction * v_final) - edge
                 if v_final != 0 else math.nan)
    in_final = float(v_in[-1])
    input_done = float(t[0]) if in_final == 0 else crossing_time(t, v_in, in_final)
    window = max(settle, input_done, rise_s) if math.isfinite(settle) else float(t[-1])
    names = list(power_w)
    powers = np.array([power_w[n] for n in names], float).reshape(len(names), len(t))
    energy = dict(zip(names, window_energies(t, powers, window).tolist(), strict=True))
    energy["sh"] = sized.readout.sample_hold.clock_energy_j
    energy["adc"] = sized.readout.adc.e_conv_j
    latency = max(settle - edge, 0.0) if math.isfinite(settle) else math.nan
    snr = 20 * math.log10(abs(v_final) / sized.noise_v) if v_final != 0 else -math.inf
    return ColumnMeasure(latency_s=latency, settle_s=settle, threshold_s=threshold,
                         v_final_v=v_final, window_s=window, snr_db=snr, energy_j=energy,
                         power_end_w={name: float(p[-1]) for name, p in power_w.items()})


# --- layer schedules -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnFigures:
    """What a schedule needs of each column (NaN where a column did not end ``ok``): its
    latency from the input edge, its activation window from t = 0, the window's energy of the
    array (the row DACs' delivery), the front end and the word line, and their settled
    powers."""

    latency_s: np.ndarray
    window_s: np.ndarray
    energy_array_j: np.ndarray
    energy_frontend_j: np.ndarray
    power_array_w: np.ndarray
    power_frontend_w: np.ndarray

    def __post_init__(self) -> None:
        n = np.asarray(self.latency_s).shape
        for name in ("window_s", "energy_array_j", "energy_frontend_j",
                     "power_array_w", "power_frontend_w"):
            shape = np.asarray(getattr(self, name)).shape
            check(shape == n, f"{name}.shape", shape, f"{n} (one per column)")

    def __len__(self) -> int:
        return int(np.asarray(self.latency_s).size)

    def head(self, n: int) -> ColumnFigures:
        """The first ``n`` columns."""
        return ColumnFigures(*(np.asarray(getattr(self, f))[:n] for f in _FIGURE_FIELDS))


_FIGURE_FIELDS = ("latency_s", "window_s", "energy_array_j", "energy_frontend_j",
                  "power_array_w", "power_frontend_w")


@dataclass(frozen=True, slots=True)
class LayerSchedule:
    """One way to read a layer's columns out through its ADCs (see the module docstring).

    ``t_sample_s``: when every sample is held, from t = 0; ``rows_on_s``: how long the rows and
    front ends stay on. Missing columns (NaN) make the row NaN."""

    schedule: str
    policy: str
    adc_share: int
    rounds: int
    conversions: int
    latency_s: float
    t_sample_s: float
    rows_on_s: float
    energy_dac_j: float
    energy_array_j: float
    energy_frontend_j: float
    energy_sh_j: float
    energy_adc_j: float
    energy_rowbias_j: float = 0.0
    energy_wordline_j: float = 0.0
    energy_adcref_j: float = 0.0

    def __post_init__(self) -> None:
        check(self.schedule in SCHEDULES, "schedule", self.schedule, f"one of {SCHEDULES}")
        check(self.policy in ROW_POLICIES, "policy", self.policy, f"one of {ROW_POLICIES}")

    @property
    def energy_j(self) -> float:
        """Every part (:data:`ENERGY_PARTS`) added up."""
        return float(sum(getattr(self, f"energy_{part}_j") for part in ENERGY_PARTS))


def schedule_layer(columns: ColumnFigures, adc: AdcModel, adc_share: int, *,
                   rows: int, dac_e_conv_j: float, sh_e_clock_j: float,
                   row_bias_w: float = 0.0, wordline_e_j: float = 0.0,
                   policies: tuple[str, ...] = ROW_POLICIES) -> list[LayerSchedule]:
    """Every schedule under every row policy for ``columns`` read out by ``adc`` (see the
    module docstring); ``rows`` driven rows start the activation, each with one DAC conversion
    (``dac_e_conv_j``), its word line (``wordline_e_j``) and its buffer's static power
    (``row_bias_w``) while the rows are on; each conversion charges the ADC's reference buffer
    (``adc.ref_e_conv_j``)."""
    n = len(columns)
    check(n >= 1, "columns", n, ">= 1")
    check(isinstance(adc_share, int) and adc_share >= 1, "adc_share", adc_share,
          "an integer >= 1")
    for policy in policies:
        check(policy in ROW_POLICIES, "policy", policy, f"one of {ROW_POLICIES}")
    c = columns
    latency = float(np.max(c.latency_s))  # NaN (a missing column) wins
    t_sample = float(np.max(c.window_s))
    # Each column until every sample is held: its window, then its settled power.
    array = float(np.sum(c.energy_array_j + c.power_array_w * (t_sample - c.window_s)))
    frontend = float(np.sum(c.energy_frontend_j + c.power_frontend_w * (t_sample - c.window_s)))
    p_array, p_frontend = float(np.sum(c.power_array_w)), float(np.sum(c.power_frontend_w))
    out = []
    for schedule, k in (("fully_parallel", 1), ("adc_shared", min(adc_share, n)),
                        ("serialized", n)):
        converting = k * adc.t_conv_s
        for policy in policies:
            extra = converting if policy == "driven" else 0.0
            out.append(LayerSchedule(
                schedule=schedule, policy=policy, adc_share=k, rounds=k, conversions=n,
                latency_s=latency + converting, t_sample_s=t_sample,
                rows_on_s=t_sample + extra, energy_dac_j=rows * dac_e_conv_j,
                energy_array_j=array + p_array * extra,
                energy_frontend_j=frontend + p_frontend * extra,
                energy_sh_j=n * sh_e_clock_j, energy_adc_j=n * adc.e_conv_j,
                energy_rowbias_j=rows * row_bias_w * (t_sample + extra),
                energy_wordline_j=rows * wordline_e_j,
                energy_adcref_j=n * adc.ref_e_conv_j))
    return out


def ops_per_read(rows: int, outputs: int) -> int:
    """The operations of one read at the tile's precision: 2 (a multiply and an add) per
    multiply-accumulate, ``rows`` of them into each of ``outputs`` outputs."""
    check(isinstance(rows, int) and rows >= 1, "rows", rows, "an integer >= 1")
    check(isinstance(outputs, int) and outputs >= 1, "outputs", outputs, "an integer >= 1")
    return 2 * rows * outputs


def tops_per_w(ops: float, energy_j: float) -> float:
    """Tera-operations per joule (TOPS/W): ``ops`` over the energy they took, every part of it
    (:attr:`LayerSchedule.energy_j`); NaN where the energy is (a layer with a missing column
    is not guessed)."""
    if math.isnan(energy_j):
        return math.nan
    check(energy_j > 0, "energy_j", energy_j, "an energy > 0 J")
    return ops / energy_j / 1e12


PERIPHERY_ATTRS = (("row_buffer_i_q_a", "A"), ("row_bias_w", "W"), ("wordline_e_j", "J"),
                   ("adc_ref_e_conv_j", "J"))
"""What :func:`periphery` finds for a tile, as a run's tile attributes store it (name, unit)."""


def periphery(tile: Tile) -> dict[str, float]:
    """A tile's periphery (:mod:`spicecim.devices.periphery`), one value per
    :data:`PERIPHERY_ATTRS`: its row buffer sized for the largest row current (every cell of the
    row at its conductance, the input at full scale) and the row wire, drawing its bias from the
    rows' rail; one row's word line; one conversion's reference buffer."""
    spec, d = tile.spec, tile.spec.driver
    i_row = float(np.max(np.asarray(tile.g_s, float).sum(axis=1))) * d.v_full_v
    buffer = periph.row_buffer(i_row, spec.cols * spec.wire.c_row_f, d.v_full_v, d.dac_bits,
                               d.r_out_ohm)
    assert buffer.i_q_a is not None
    return {"row_buffer_i_q_a": buffer.i_q_a, "row_bias_w": buffer.i_q_a * d.rail_v,
            "wordline_e_j": periph.wordline_e_j(spec.cols, spec.wire.c_row_f,
                                                spec.cell.access),
            "adc_ref_e_conv_j": spec.readout.adc.ref_e_conv_j}


TIME_CONSTANTS = ("row", "column", "frontend", "sample_hold")
"""The time constants a column's latency is set by, as the simulator estimated them."""


class LatencyBreakdown(TypedDict):
    """What :func:`latency_breakdown` finds."""

    set_by: list[str]
    latency_median_s: float
    latency_max_s: float
    set_by_share: dict[str, float]


def latency_breakdown(latency_s: np.ndarray, taus_s: Mapping[str, np.ndarray]
                      ) -> LatencyBreakdown:
    """Per column, which of :data:`TIME_CONSTANTS` dominates (``set_by``); for the layer, the
    median and largest latency and the share of columns each one sets. ``taus_s`` maps each
    name to one value per column."""
    names = [n for n in TIME_CONSTANTS if n in taus_s]
    stack = np.array([np.asarray(taus_s[n], float) for n in names])
    set_by = [names[k] for k in np.argmax(np.nan_to_num(stack, nan=-1.0), axis=0)]
    lat = np.asarray(latency_s, float)
    ok = np.isfinite(lat)
    return {
        "set_by": set_by,
        "latency_median_s": float(np.median(lat[ok])) if ok.any() else math.nan,
        "latency_max_s": float(np.max(lat[ok])) if ok.any() else math.nan,
        "set_by_share": {n: set_by.count(n) / max(len(set_by), 1) for n in names},
    }
