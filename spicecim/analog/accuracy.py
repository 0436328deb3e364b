"""The analog forward pass of a mapped MLP, against the ideal digital one.

Each layer's weights are cut into the tiles of :func:`spicecim.cost.mapping.map_layer` and
mapped to conductances by the tile's :class:`WeightMapping` and the mapping's slices and copies
(:class:`spicecim.analog.slicing.WeightCode`; one ``w_max`` per layer, so the digital partial
sums of row tiles add up). Then, in the order the hardware meets them:

1. **Conductances** quantised to ``2^weight_bits`` levels per device (``None``: continuous).
   With ``ir_aware`` (IR-drop-aware programming, :mod:`spicecim.analog.programming`) the
   targets are then pre-distorted so the tile's transfer matrix matches them.
2. **Programming variation**: ``G + variation * sigma_G(G) * z``, ``z`` standard normal, with
   ``sigma_G`` of ``variation_model`` (:mod:`spicecim.netlist.weights`: NeuRRAM's RRAM after
   write-verify, Wan et al. 2022 via aihwkit, by default; or Milo et al. 2021), clipped to the
   memristor's physical range. Unused cells of a tile are programmed to ``g_min`` and vary too.
3. **Inputs** scaled into the DAC's [0, 1]: each layer's input is divided by its largest
   magnitude on a calibration batch (values beyond it saturate); a layer with signed inputs is
   read in two phases, positive parts then magnitudes of the negative parts
   (:mod:`spicecim.cost.mapping`). DAC quantisation to ``2^dac_bits`` levels.
4. **IR drop**: column currents from :func:`spicecim.solve.transfer_matrix` of the programmed
   tile with the tile's wire, driver and readout resistances (one factorisation per tile, or
   per row group of a row-parallel tile, per configuration; each input is then a matrix
   product). A row-parallel tile (``rows_per_read``) is read one group of rows at a time with
   the other rows disconnected (1T1R, access transistors off); each group is converted and
   calibrated on its own and the groups' results are added digitally. Cells are linear at
   their chord conductance: the memristor's sinh I-V below the read voltage and any access
   transistor are not modelled here. The column ends see the readout's DC input resistance
   (:func:`spicecim.solve.termination_ohm`). ``ir_drop=False`` sets wire and driver resistances
   to 0 and the column ends to an ideal virtual ground.
5. **Read noise**: every device's current varies by ``read_noise`` (relative sigma) on every
   read, independently; the column's current gets the resulting Gaussian, whose sigma is exact
   without wire resistance (with it, the noise's own IR drop is neglected).
6. **ADC**: the column's current (the readout's output is proportional to it) rounded to
   ``2^adc_bits`` levels of a full scale, clipped to [0, full scale]. ``adc_range="worst"``: the
   readout's sizing (:func:`spicecim.netlist.spec.sized_readout`: the tile's worst-case column
   current, every input at full scale; the latency tables' LSB). ``adc_range="calibrated"``
   (default; ADC range calibration, standard practice in analog in-memory computing): per tile,
   the largest noiseless column current over the calibration batch, so the codes span the
   currents the workload produces; currents beyond it clip. ``acam_edges`` (an ACAM converter's
   code edges, :mod:`spicecim.acam.converter`, as fractions of its input range): the edges are
   mapped linearly onto ``[0, full scale]`` and a current reads as the centre of its interval
   (the ends: 0 and the full scale) instead of the nearest of ``2^adc_bits`` uniform levels.
7. **Gain calibration** (``calibrate=True``, default; per-column output calibration, standard
   practice in analog in-memory computing): each column's ADC output ``I`` is corrected
   digitally to ``a * I + b``, with ``a`` and ``b`` fitted by least squares on the calibration
   batch between the noiseless analog column currents (IR drop and variation included, DAC not
   quantised) and the ideal ones (the target conductances without wires). It removes the
   systematic loss of IR drop that is linear in the column's current; what depends on the input
   pattern, the noise and the device-by-device variation remains.

The pairs (or reference column) are then subtracted, partial sums and phases added, the input
scale undone and the bias added, all digitally and exactly. Random numbers come from
``numpy.random.Generator``s seeded by ``seed``: the variation draws do not depend on the
variation scale or the ADC, and the read-noise draws not on the ADC, so a sweep compares the
same devices and the same noise.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spicecim.analog import programming
from spicecim.analog.slicing import WeightCode
from spicecim.cost.mapping import LayerMapping, ModelMapping
from spicecim.errors import check
from spicecim.models.mlp import Matmul, Mlp, batch_size
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import (
    DEFAULT_VARIATION_MODEL,
    VARIATION_MODELS,
    VARIATION_SOURCES,
    WeightMapping,
    programming_sigma_s,
)

# Read noise: 1 % relative sigma per device per read, the short-term read noise aihwkit
# suggests beside its NeuRRAM programming-noise model ("To account for short-term read noise
# (about 1%) one should additional set the forward.w_noise parameter to about 0.01",
# ReRamWan2022NoiseModel; docs/sources.md section 6).
DEFAULT_READ_NOISE = 0.01
SWEEP_AXES = ("adc_bits", "dac_bits", "weight_bits", "variation", "read_noise", "ir_drop")
ADC_RANGES = ("worst", "calibrated")
_RESIDUAL_POINTS = 1024  # calibration points on which IR-drop-aware programming is reported
_STANDARD = "standard practice in analog in-memory computing"


@dataclass(frozen=True, slots=True)
class Nonideality:
    """What the analog pass includes; ``None`` bits mean no quantisation, 0 means none."""

    weight_bits: int | None
    dac_bits: int | None
    adc_bits: int | None
    variation: float = 1.0
    read_noise: float = DEFAULT_READ_NOISE
    ir_drop: bool = True
    seed: int = 0
    adc_range: str = "calibrated"
    calibrate: bool = True
    acam_edges: tuple[float, ...] | None = None  # ACAM code edges as fractions of full scale
    variation_model: str = DEFAULT_VARIATION_MODEL
    ir_aware: bool = False  # IR-drop-aware programming (spicecim.analog.programming)

    def __post_init__(self) -> None:
        check(self.variation_model in VARIATION_MODELS, "variation_model",
              self.variation_model, f"one of {VARIATION_MODELS}")
        for name in ("weight_bits", "dac_bits", "adc_bits"):
            bits = getattr(self, name)
            check(bits is None or (isinstance(bits, int) and 1 <= bits <= 16), name, bits,
                  "None or an integer from 1 to 16")
        check(self.variation >= 0, "variation", self.variation, "a scale >= 0 of sigma_G")
        check(self.read_noise >= 0, "read_noise", self.read_noise, "a relative sigma >= 0")
        check(self.adc_range in ADC_RANGES, "adc_range", self.adc_range, f"one of {ADC_RANGES}")
        if self.acam_edges is not None:
            n = None if self.adc_bits is None else (1 << self.adc_bits) - 1
            check(len(self.acam_edges) == n, "acam_edges", f"{len(self.acam_edges)} edges",
                  f"2^adc_bits - 1 = {n} edges")

    @classmethod
    def ideal(cls, seed: int = 0) -> Nonideality:
        return cls(None, None, None, variation=0.0, read_noise=0.0, ir_drop=False, seed=seed)

    @classmethod
    def of(cls, spec: specs.CrossbarSpec, weights: WeightMapping, **overrides: Any
           ) -> Nonideality:
        """The tile's own bits, the default variation and read noise, IR drop on, then
        ``overrides`` (field names; each field's own type, checked in ``__post_init__``)."""
        base = cls(weights.bits, spec.driver.dac_bits, spec.readout.adc.bits)
        return dataclasses.replace(base, **overrides)

    def describe(self) -> str:
        def bits(b: int | None) -> str:
            return "ideal" if b is None else f"{b} bit"

        ir = "on" if self.ir_drop else "off"
        adc = (f"ACAM {bits(self.adc_bits)} (ngspice edges)" if self.acam_edges is not None
               else f"ADC {bits(self.adc_bits)}")
        return (f"weights {bits(self.weight_bits)}, DAC {bits(self.dac_bits)}, "
                f"{adc}, variation x{self.variation:g} "
                f"({VARIATION_SOURCES[self.variation_model]}), "
                f"read noise {100 * self.read_noise:g} %, IR drop {ir}"
                f"{' (IR-drop-aware programming)' if self.ir_aware and self.ir_drop else ''}, "
                f"seed {self.seed}")

    def describe_calibration(self, points: int) -> str:
        """The ADC range and the column calibration, ``points`` the calibration batch."""
        if self.adc_bits is None:
            adc = "ADC range: none (no ADC quantisation)"
        elif self.adc_range == "calibrated":
            adc = (f"ADC range calibrated per tile on {points} calibration points (largest "
                   f"column current, beyond it clipped; {_STANDARD})")
        else:
            adc = ("ADC range as the readout is sized: each tile's worst-case column current "
                   "(every input at full scale), the latency tables' LSB")
        cal = (f"gain-calibrated per column on {points} calibration points (least-squares gain "
               f"and offset, applied after the ADC; {_STANDARD})" if self.calibrate
               else "uncalibrated")
        return f"{adc}; {cal}"


def accuracy_spec(spec: specs.CrossbarSpec, ir_drop: bool) -> specs.CrossbarSpec:
    """The tile as the linear solver models it (see the module docstring, step 4)."""
    cell = dataclasses.replace(spec.cell, kind="linear", access=None)
    if ir_drop:
        return dataclasses.replace(spec, cell=cell)
    wire = dataclasses.replace(spec.wire, r_row_ohm=0.0, r_col_ohm=0.0)
    # The integrator's column end is the solver's ideal virtual ground (termination 0 ohm).
    return dataclasses.replace(
        spec, cell=cell, wire=wire, driver=dataclasses.replace(spec.driver, r_out_ohm=0.0),
        readout=dataclasses.replace(spec.readout, front_end="integrator"))


@dataclass(frozen=True, slots=True)
class ProgrammedTile:
    """One tile as programmed: which inputs and outputs of its layer it holds, and its
    circuit, reduced to the transfer matrix of the rows it uses."""

    rows: slice  # of the layer's inputs
    outputs: slice  # of the layer's outputs
    used_cols: int
    transfer: np.ndarray  # (rows used, cols): column currents per volt on each row
    g_sq: np.ndarray  # (rows used, cols): programmed conductances squared, for read noise
    adc_full_a: float  # calibrated ADC full scale: largest noiseless column current (A)
    sized_full_a: float  # the readout's sizing: the tile's worst-case column current (A)
    gain: np.ndarray  # (cols,): per-column digital correction a * I + b ...
    offset: np.ndarray  # (cols,): ... fitted on the calibration batch (b in A)
    ir_error: float = math.nan  # column-current error vs target, calibration batch, nominal G
    ir_error_raw: float = math.nan  # the same without IR-drop-aware programming


@dataclass(frozen=True, slots=True)
class ProgrammedLayer:
    """A layer's tiles, its weight scale (``w_max`` maps to ``g_max - g_min``), the calibrated
    input scale (maps to the DAC's full scale) and its input phases."""

    tiles: tuple[ProgrammedTile, ...]
    w_max: float
    input_scale: float
    phases: int
    code: WeightCode | None = None  # None: one device per weight (the WeightMapping's own)


def target_conductances(weights: WeightMapping, w: np.ndarray, w_max: float, bits: int | None,
                        slices: int = 1, copies: int = 1) -> np.ndarray:
    """The conductances ``w`` (scaled by ``w_max``) is programmed to: ``weights``' mapping at
    ``bits`` levels per device (None: continuous), each weight on ``slices`` bit slices and each
    input on ``copies`` rows (:class:`~spicecim.analog.slicing.WeightCode`)."""
    return np.repeat(WeightCode(weights, bits, slices, copies).to_conductances(w, w_max),
                     copies, axis=0)


def _calibration_drive(x: np.ndarray, scale: float, phases: int, v_full: float) -> np.ndarray:
    """The row voltages of the calibration batch, both phases stacked."""
    u = np.asarray(x, float) / scale
    parts = [np.clip(u, 0.0, 1.0)] + ([np.clip(-u, 0.0, 1.0)] if phases == 2 else [])
    return np.concatenate(parts) * v_full


def _fit_columns(analog: np.ndarray, ideal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column, least-squares ``a, b`` of ``ideal ~ a * analog + b``; a column whose analog
    current does not vary gets the ratio of the means (or 1) and no offset."""
    ma, mi = analog.mean(axis=0), ideal.mean(axis=0)
    da, di = analog - ma, ideal - mi
    var, cov = np.mean(da * da, axis=0), np.mean(da * di, axis=0)
    flat = var <= 1e-24 * np.maximum(ma * ma, 1e-300)
    gain = np.where(flat, np.divide(mi, ma, out=np.ones_like(ma), where=ma > 0),
                    cov / np.where(flat, 1.0, var))
    offset = np.where(flat, 0.0, mi - gain * ma)
    return gain, offset


def _program(m: LayerMapping, weight: np.ndarray, scale: float, spec: specs.CrossbarSpec,
             weights: WeightMapping, settings: Nonideality, rng: np.random.Generator,
             calibration_x: np.ndarray) -> ProgrammedLayer:
    w = np.asarray(weight, float)
    drive = _calibration_drive(calibration_x, scale, m.input_phases, spec.driver.v_full_v)
    w_max = float(np.max(np.abs(w))) or 1.0
    solver_spec = accuracy_spec(spec, settings.ir_drop)
    mem = spec.cell.memristor
    code = WeightCode(weights, settings.weight_bits, m.tile.slices, m.tile.copies)
    copies = m.tile.copies
    tiles, row0 = [], 0
    for n_in in m.row_counts:
        out0, n_rows = 0, n_in * copies  # the physical rows used: each input on its copies
        groups = programming.row_groups(n_rows, m.tile.rows_per_read, spec.rows)
        for n_out, n_cols in zip(m.output_counts, m.column_counts, strict=True):
            target = np.full((spec.rows, spec.cols), weights.g_min_s)
            target[:n_rows, :n_cols] = np.repeat(code.to_conductances(
                w[row0:row0 + n_in, out0:out0 + n_out], w_max), copies, axis=0)
            nominal, fit = target, None
            if settings.ir_aware and settings.ir_drop:
                fit = programming.predistort(solver_spec, target, groups, mem.g_off_s,
                                             mem.g_on_s)
                nominal = fit.g_s
            z = rng.standard_normal(target.shape)  # drawn whatever the scale: common numbers
            sigma = programming_sigma_s(nominal, weights.g_max_s, settings.variation_model)
            g = np.clip(nominal + settings.variation * sigma * z, mem.g_off_s, mem.g_on_s)
            for k, rows in enumerate(groups):
                n = min(rows.stop, n_rows) - rows.start
                i0, ni = rows.start // copies, n // copies  # the group's inputs

                def fold(a: np.ndarray, n: int = n, ni: int = ni) -> np.ndarray:
                    """The group's first ``n`` rows (used cells), each input's copies summed."""
                    return a[:n].reshape(ni, copies, -1).sum(axis=1)

                transfer = fold(programming.group_transfer(solver_spec, g, rows))
                v = drive[:, row0 + i0:row0 + i0 + ni]
                ideal = fold(target[rows.start:])
                analog = v @ transfer
                gain, offset = _fit_columns(analog, v @ ideal)
                # Column-current error of the nominal programming (no variation), with and
                # without the pre-distortion: what IR-drop-aware programming achieved.
                errors = (math.nan, math.nan) if fit is None else tuple(
                    programming.current_error(v[:_RESIDUAL_POINTS], fold(t[k]), ideal)
                    for t in (fit.transfers, fit.initial))
                tiles.append(ProgrammedTile(
                    slice(row0 + i0, row0 + i0 + ni), slice(out0, out0 + n_out), n_cols,
                    transfer, fold(g[rows.start:] ** 2), float(analog[:, :n_cols].max(initial=0.0)),
                    float(g[rows].sum(axis=0).max()) * spec.driver.v_full_v, gain, offset,
                    *errors))
            out0 += n_out
        row0 += n_in
    return ProgrammedLayer(tuple(tiles), w_max, scale, m.input_phases, code)


def program(mlp: Mlp, mapping: ModelMapping, spec: specs.CrossbarSpec, weights: WeightMapping,
            settings: Nonideality, calibration: Mapping[str, np.ndarray]
            ) -> dict[str, ProgrammedLayer]:
    """Every layer programmed onto its tiles; input scales, ADC ranges and column calibrations
    from the ideal pass's layer inputs on ``calibration`` (the read-time choices of
    ``settings``, ADC and DAC bits, read noise, ``adc_range`` and ``calibrate``, do not change
    the result)."""
    check(spec.rows == mapping.tile.rows and spec.cols == mapping.tile.cols, "spec tile",
          f"{spec.rows}x{spec.cols}", f"{mapping.tile.rows}x{mapping.tile.cols}")
    check(spec.driver.encoding == "amplitude", "encoding", spec.driver.encoding, "'amplitude'")
    peaks: dict[str, float] = {}
    inputs: dict[str, np.ndarray] = {}

    def record(name: str, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        peaks[name] = float(np.max(np.abs(x)))
        inputs[name] = np.asarray(x, float)
        return np.asarray(x, float) @ np.asarray(weight, float)

    mlp.forward(calibration, record)
    rng = np.random.default_rng([settings.seed, 0])
    return {layer.name: _program(mapping.layer(layer.name), layer.weight,
                                 peaks[layer.name] or 1.0, spec, weights, settings, rng,
                                 inputs[layer.name])
            for layer in mlp.layers}


class _AnalogMatmul:
    """The ``matmul`` hook of :meth:`Mlp.forward` that runs each layer on its tiles."""

    def __init__(self, layers: Mapping[str, ProgrammedLayer], spec: specs.CrossbarSpec,
                 weights: WeightMapping, settings: Nonideality) -> None:
        self.layers, self.weights, self.settings = layers, weights, settings
        self.v_full = spec.driver.v_full_v
        self.rng = np.random.default_rng([settings.seed, 1])
        self.z: dict[str, np.ndarray] = {}
        self.groups: dict[str, tuple[_Group, ...]] = {}

    def __call__(self, name: str, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        layer = self.layers[name]
        u = np.asarray(x, float) / layer.input_scale
        if name not in self.groups:
            self.groups[name] = _fused(layer, self.settings.adc_range == "calibrated")
        out = self._read(layer, self.groups[name], np.clip(u, 0.0, 1.0), weight.shape[1])
        if layer.phases == 2:
            out -= self._read(layer, self.groups[name], np.clip(-u, 0.0, 1.0), weight.shape[1])
        z = layer.input_scale * out
        self.z[name] = z
        return z

    def _read(self, layer: ProgrammedLayer, groups: tuple[_Group, ...], u: np.ndarray,
              fan_out: int) -> np.ndarray:
        s = self.settings
        out = np.zeros((len(u), fan_out))
        code = layer.code or WeightCode(self.weights, self.weights.bits)
        for group in groups:
            x = u[:, group.rows]
            if s.dac_bits is not None:
                x = specs.quantise_unit(x, s.dac_bits)
            # The read in float32, in place: rounding 1e-7 of a current, far below any LSB and
            # the read noise, at half the memory traffic (this loop is the render's time).
            v = (x * self.v_full).astype(np.float32)
            current = v @ group.transfer
            if s.read_noise > 0:
                sigma = np.square(v, out=v) @ group.g_sq
                np.sqrt(sigma, out=sigma)
                sigma *= np.float32(s.read_noise)
                noise = self.rng.standard_normal(current.shape, dtype=np.float32)
                noise *= sigma
                current += noise
                del sigma, noise
            if s.adc_bits is not None:
                if s.acam_edges is not None:
                    edges = np.asarray(s.acam_edges)
                    centres = 0.5 * (np.concatenate([[0.0], edges]) + np.concatenate([edges,
                                                                                     [1.0]]))
                    fraction = current / group.full_a
                    current = (centres[np.searchsorted(edges, fraction, side="right")]
                               * group.full_a).astype(np.float32)
                else:
                    top = (1 << s.adc_bits) - 1
                    lsb = group.lsb(s.adc_bits)
                    current /= lsb
                    np.round(current, out=current)
                    np.clip(current, 0, top, out=current)
                    current *= lsb
            if s.calibrate:
                current *= group.gain
                current += group.offset
            current /= self.v_full
            if group.contiguous and code.weights.scheme == "differential":
                first, last = group.segments[0][0], group.segments[-1][0]
                out[:, first.start:last.stop] += code.to_weights(current, layer.w_max)
                continue
            for outputs, cols in group.segments:
                out[:, outputs] += code.to_weights(current[:, cols], layer.w_max)
        return out


@dataclass(frozen=True, slots=True)
class _Group:
    """The tiles of a layer that read the same inputs, side by side: their used columns
    concatenated so one product, one noise draw and one rounding serve them all."""

    rows: slice
    transfer: np.ndarray
    g_sq: np.ndarray
    full_a: np.ndarray  # per column: the ADC full scale of its tile
    gain: np.ndarray
    offset: np.ndarray
    segments: tuple[tuple[slice, slice], ...]  # (layer outputs, columns here) of each tile

    @property
    def contiguous(self) -> bool:
        """The tiles hold consecutive outputs in column order."""
        return all(a[0].stop == b[0].start for a, b in zip(self.segments, self.segments[1:],
                                                           strict=False))

    def lsb(self, bits: int) -> np.ndarray:
        return (self.full_a / (1 << bits)).astype(np.float32)


def _fused(layer: ProgrammedLayer, calibrated: bool) -> tuple[_Group, ...]:
    """``layer``'s tiles as :class:`_Group` s, each ADC at the calibrated full scale of its tile
    (``calibrated``; where there is one) or the readout's sizing."""
    groups: dict[tuple[int, int], list[ProgrammedTile]] = {}
    for tile in layer.tiles:
        groups.setdefault((tile.rows.start, tile.rows.stop), []).append(tile)
    fused = []
    for tiles in groups.values():
        n = [t.used_cols for t in tiles]
        edges = np.concatenate([[0], np.cumsum(n)])
        full = [t.adc_full_a if calibrated and t.adc_full_a > 0 else t.sized_full_a
                for t in tiles]
        fused.append(_Group(
            tiles[0].rows,
            np.concatenate([t.transfer[:, :t.used_cols] for t in tiles], axis=1, dtype=np.float32),
            np.concatenate([t.g_sq[:, :t.used_cols] for t in tiles], axis=1, dtype=np.float32),
            np.repeat(full, n),
            np.concatenate([t.gain[:t.used_cols] for t in tiles], dtype=np.float32),
            np.concatenate([t.offset[:t.used_cols] for t in tiles], dtype=np.float32),
            tuple((t.outputs, slice(a, b)) for t, a, b in zip(tiles, edges, edges[1:],
                                                              strict=False))))
    return tuple(fused)


def analog_matmul(layers: Mapping[str, ProgrammedLayer], spec: specs.CrossbarSpec,
                  weights: WeightMapping, settings: Nonideality) -> Matmul:
    """The ``matmul`` hook of :meth:`Mlp.forward` (and :meth:`NerfField.field`) that runs
    each layer on its programmed tiles; its read noise starts afresh from ``settings.seed``."""
    return _AnalogMatmul(layers, spec, weights, settings)


@dataclass(frozen=True, slots=True)
class OutputError:
    """Analog vs ideal for one output: RMS error over RMS of the ideal value, absolutes, RMSE;
    PSNR (peak 1) for a sigmoid output (values in [0, 1], such as colours), and for a logits
    output (width >= 2, no activation) the fraction of samples whose largest logit is the ideal
    pass's (top-1 agreement); NaN where not defined."""

    name: str
    rel_rms: float
    mean_abs: float
    max_abs: float
    rmse: float
    psnr_db: float = math.nan
    agreement: float = math.nan


@dataclass(frozen=True, slots=True)
class AccuracyResult:
    """The analog pass against the ideal one on ``points`` samples; with labels, the fraction
    classified right by each (``label_accuracy``: analog; ``ideal_label_accuracy``: float);
    with targets, the RMS error of the first output against them (``target_rmse``: analog;
    ``ideal_target_rmse``: float)."""

    settings: Nonideality
    points: int
    outputs: tuple[OutputError, ...]
    layers: tuple[tuple[str, float], ...]  # (layer, relative RMS error of its pre-activation)
    calibration_points: int = 0
    label_accuracy: float = math.nan
    ideal_label_accuracy: float = math.nan
    target_rmse: float = math.nan
    ideal_target_rmse: float = math.nan

    def output(self, name: str) -> OutputError:
        return next(o for o in self.outputs if o.name == name)


def _rel_rms(a: np.ndarray, ref: np.ndarray) -> float:
    err, scale = math.sqrt(float(np.mean((a - ref) ** 2))), math.sqrt(float(np.mean(ref**2)))
    if scale > 0:
        return err / scale
    return 0.0 if err == 0 else math.inf


def _ideal_matmul(store: dict[str, np.ndarray]):  # noqa: ANN202 - a Matmul
    def matmul(name: str, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        z = np.asarray(x, float) @ np.asarray(weight, float)
        store[name] = z
        return z

    return matmul


def is_logits(mlp: Mlp, name: str) -> bool:
    layer = mlp.layer(name)
    return layer.fan_out >= 2 and layer.activation == "none"


def _output_error(mlp: Mlp, name: str, got: np.ndarray, ref: np.ndarray) -> OutputError:
    diff = got - ref
    rmse = math.sqrt(float(np.mean(diff**2)))
    psnr = math.nan
    if mlp.layer(name).activation == "sigmoid":
        # a NaN error stays NaN (never "inf dB"); an exact match is inf
        psnr = math.inf if rmse == 0 else float(-20 * np.log10(rmse))
    agreement = (float(np.mean(got.argmax(axis=1) == ref.argmax(axis=1)))
                 if is_logits(mlp, name) else math.nan)
    return OutputError(name, _rel_rms(got, ref), float(np.mean(np.abs(diff))),
                       float(np.max(np.abs(diff))), rmse, psnr, agreement)


def compare(mlp: Mlp, layers: Mapping[str, ProgrammedLayer], spec: specs.CrossbarSpec,
            weights: WeightMapping, settings: Nonideality, points: Mapping[str, np.ndarray],
            calibration_points: int = 0, labels: np.ndarray | None = None,
            targets: np.ndarray | None = None) -> AccuracyResult:
    """Run the analog and the ideal (float64) forward pass on ``points`` and compare; with
    ``labels`` (one class per point), also the classification accuracy of the model's logits
    output (the first output that is logits, see :class:`OutputError`); with ``targets``
    (``(points, width)``), the RMS error of the first output against them."""
    ideal_z: dict[str, np.ndarray] = {}
    ideal = mlp.forward(points, _ideal_matmul(ideal_z))
    hook = _AnalogMatmul(layers, spec, weights, settings)
    analog = mlp.forward(points, hook)
    outputs = tuple(_output_error(mlp, name, analog[name], ideal[name]) for name in mlp.outputs)
    per_layer = tuple((layer.name, _rel_rms(hook.z[layer.name], ideal_z[layer.name]))
                      for layer in mlp.layers)
    scores: tuple[float, ...] = (math.nan, math.nan)  # accuracy: analog, ideal
    if labels is not None:
        logits = [name for name in mlp.outputs if is_logits(mlp, name)]
        check(bool(logits), "labels", "given", f"a model with a logits output, not {mlp.outputs}")
        labels = np.asarray(labels)
        check(labels.shape == (batch_size(points),), "labels.shape", labels.shape,
              f"({batch_size(points)},): one class per point")
        scores = tuple(float(np.mean(out[logits[0]].argmax(axis=1) == labels))
                       for out in (analog, ideal))
    errors: tuple[float, ...] = (math.nan, math.nan)  # against the targets: analog, ideal
    if targets is not None:
        first = mlp.outputs[0]
        check(np.shape(targets) == analog[first].shape, "targets.shape", np.shape(targets),
              f"{analog[first].shape}: output {first!r} per point")
        errors = tuple(math.sqrt(float(np.mean((out[first] - targets) ** 2)))
                       for out in (analog, ideal))
    return AccuracyResult(settings, batch_size(points), outputs, per_layer, calibration_points,
                          *scores, *errors)


def evaluate_accuracy(mlp: Mlp, mapping: ModelMapping, spec: specs.CrossbarSpec,
                      weights: WeightMapping, settings: Nonideality,
                      points: Mapping[str, np.ndarray], calibration: Mapping[str, np.ndarray],
                      labels: np.ndarray | None = None, targets: np.ndarray | None = None
                      ) -> AccuracyResult:
    layers = program(mlp, mapping, spec, weights, settings, calibration)
    return compare(mlp, layers, spec, weights, settings, points, batch_size(calibration), labels,
                   targets)


def sweep_accuracy(mlp: Mlp, mapping: ModelMapping, spec: specs.CrossbarSpec,
                   weights: WeightMapping, base: Nonideality,
                   axes: Mapping[str, Sequence[float | int]], points: Mapping[str, np.ndarray],
                   calibration: Mapping[str, np.ndarray], labels: np.ndarray | None = None,
                   targets: np.ndarray | None = None) -> list[AccuracyResult]:
    """Every combination of the ``axes`` values (names in SWEEP_AXES) on top of ``base``;
    tiles are programmed once per distinct (weight bits, variation, IR drop)."""
    programmed: dict[tuple, dict[str, ProgrammedLayer]] = {}
    results = []
    for settings in sweep_settings(base, axes):
        key = (settings.weight_bits, settings.variation, settings.ir_drop, settings.seed)
        if key not in programmed:
            programmed[key] = program(mlp, mapping, spec, weights, settings, calibration)
        results.append(compare(mlp, programmed[key], spec, weights, settings, points,
                               batch_size(calibration), labels, targets))
    return results


def sweep_settings(base: Nonideality, axes: Mapping[str, Sequence[float | int]]
                   ) -> list[Nonideality]:
    """Every combination of the ``axes`` values (names in SWEEP_AXES) on top of ``base``, the
    last axis varying fastest; bits must be integers, ``ir_drop`` is read as a truth value."""
    for name in axes:
        check(name in SWEEP_AXES, "sweep", name, f"one of {SWEEP_AXES}")
    return [dataclasses.replace(base, **_typed(dict(zip(axes, values, strict=True))))
            for values in itertools.product(*axes.values())]


def _typed(values: dict[str, float | int]) -> dict[str, Any]:
    """The axes' values as their fields' types (a value's type depends on its axis)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name.endswith("_bits"):
            check(float(value).is_integer(), name, value, "an integer number of bits")
            out[name] = int(value)
        elif name == "ir_drop":
            out[name] = bool(value)
        else:
            out[name] = float(value)
    return out
