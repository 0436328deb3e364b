"""The analog forward pass of a mapped MLP, against the ideal digital one.

Each layer's weights are cut into the tiles of :func:`spicecim.cost.mapping.map_layer` and
mapped to conductances by the tile's :class:`WeightMapping` and the mapping's slices and copies
(:class:`spicecim.cost.slicing.WeightCode`; one ``w_max`` per layer, so the digital partial
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
   currents the workload produces; currents beyond it clip. With ``range_floor`` (default) that
   range is raised to the noise floor of the front end the circuit sizes for the tile
   (:func:`spicecim.solve.adc_range_a`: the least range at which its thermal noise within half
   an LSB still lets a full-scale step settle in the read's window), so the LSB here is the
   circuit's. ``acam_edges`` (an ACAM converter's
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
scale undone and the bias added, all digitally and exactly. Steps 1 to 2 (programming) are
here; steps 3 to 7 (the read) are :func:`spicecim.analog.forward.read_layer`, the one forward
that the accuracy pass, the renders and fine-tuning share. The variation draws come from a
``numpy.random.Generator`` seeded by ``seed`` and do not depend on the variation scale or the
ADC; the read-noise draws come from JAX keys folded from ``seed`` and do not depend on the ADC,
so a sweep compares the same devices and the same noise. :mod:`spicecim.analog.scoring` scores
this pass against the ideal one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from spicecim.analog import forward, programming
from spicecim.cost.mapping import LayerMapping, ModelMapping
from spicecim.cost.slicing import WeightCode
from spicecim.errors import check, raise_if_stopped
from spicecim.models.mlp import Mlp
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import (
    DEFAULT_VARIATION_MODEL,
    VARIATION_MODELS,
    VARIATION_SOURCES,
    WeightMapping,
    programming_sigma_s,
)
from spicecim.solve import adc_range_a, calibration_drive

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
    range_floor: bool = True  # the calibrated ADC range raised to the front end's noise floor

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
            floor = (", raised to the front end's noise floor where it would not settle in "
                     "its window" if self.range_floor else "")
            adc = (f"ADC range calibrated per tile on {points} calibration points (largest "
                   f"column current, beyond it clipped; {_STANDARD}){floor}")
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
    adc_full_a: float  # the ADC full scale: workload_full_a, raised to the noise floor (A)
    sized_full_a: float  # the readout's sizing: the tile's worst-case column current (A)
    gain: np.ndarray  # (cols,): per-column digital correction a * I + b ...
    offset: np.ndarray  # (cols,): ... fitted on the calibration batch (b in A)
    ir_error: float = math.nan  # column-current error vs target, calibration batch, nominal G
    ir_error_raw: float = math.nan  # the same without IR-drop-aware programming
    workload_full_a: float = math.nan  # calibrated: largest noiseless column current (A)


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
    input on ``copies`` rows (:class:`~spicecim.cost.slicing.WeightCode`)."""
    return np.repeat(WeightCode(weights, bits, slices, copies).to_conductances(w, w_max),
                     copies, axis=0)


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
    drive = calibration_drive(np.asarray(calibration_x, float) / scale, m.input_phases,
                              spec.driver.v_full_v)
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
            raise_if_stopped()  # a tile's solves take up to seconds: a stop waits for one
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
            with jax.enable_x64(True):
                g = np.asarray(forward.vary(nominal, sigma, z, settings.variation, mem.g_off_s,
                                            mem.g_on_s))
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
                workload = float(analog[:, :n_cols].max(initial=0.0))
                tiles.append(ProgrammedTile(
                    slice(row0 + i0, row0 + i0 + ni), slice(out0, out0 + n_out), n_cols,
                    transfer, fold(g[rows.start:] ** 2),
                    adc_range_a(spec, g, workload) if settings.range_floor else workload,
                    float(g[rows].sum(axis=0).max()) * spec.driver.v_full_v, gain, offset,
                    ir_error=errors[0], ir_error_raw=errors[1], workload_full_a=workload))
            out0 += n_out
        row0 += n_in
    return ProgrammedLayer(tuple(tiles), w_max, scale, m.input_phases, code)


def range_use(layers: Mapping[str, ProgrammedLayer]) -> tuple[tuple[str, float], ...]:
    """Per layer, the fraction of the worst-case full scale (every input at full scale, no IR
    drop: the readout's sizing without a calibrated range) that the ADC range takes (the
    calibrated one, raised to the front end's noise floor where ``range_floor``), the largest
    over the layer's tiles. :func:`spicecim.solve.with_calibrated_range` sizes a tile's front
    end for this range, as the co-simulation does for each of its tiles (README, "One ADC
    range")."""
    return tuple((name, max((t.adc_full_a / t.sized_full_a for t in layer.tiles
                             if t.sized_full_a > 0), default=math.nan))
                 for name, layer in layers.items())


def program(mlp: Mlp, mapping: ModelMapping, spec: specs.CrossbarSpec, weights: WeightMapping,
            settings: Nonideality, calibration: Mapping[str, np.ndarray],
            done: Callable[[int], object] | None = None) -> dict[str, ProgrammedLayer]:
    """Every layer programmed onto its tiles; input scales, ADC ranges and column calibrations
    from the ideal pass's layer inputs on ``calibration`` (the read-time choices of
    ``settings``, ADC and DAC bits, read noise, ``adc_range`` and ``calibrate``, do not change
    the result). ``done(tiles)`` is told of each layer programmed (a progress bar's update)."""
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
    layers = {}
    for layer in mlp.layers:
        layers[layer.name] = _program(mapping.layer(layer.name), layer.weight,
                                      peaks[layer.name] or 1.0, spec, weights, settings, rng,
                                      inputs[layer.name])
        if done is not None:
            done(len(layers[layer.name].tiles))
    return layers


def analog_matmul(layers: Mapping[str, ProgrammedLayer], spec: specs.CrossbarSpec,
                  weights: WeightMapping, settings: Nonideality, dtype: type = np.float64
                  ) -> forward.AnalogMatmul:
    """The ``matmul`` hook of :meth:`Mlp.forward` (and :meth:`NerfField.field`) that reads
    each layer off its programmed tiles (:func:`spicecim.analog.forward.read_layer`); its read
    noise starts afresh from ``settings.seed``."""
    return forward.AnalogMatmul(layers, spec.driver.v_full_v, weights, settings, dtype)
