"""The analog pass scored against the ideal one: per output the relative RMS error, RMSE,
PSNR of a sigmoid output and top-1 agreement of a logits output; with labels, the accuracy of
each; and sweeps of the settings (:data:`SWEEP_AXES`), each programmed once per distinct tile
programming.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spicecim.analog.accuracy import (
    Nonideality,
    ProgrammedLayer,
    analog_matmul,
    program,
    range_use,
)
from spicecim.cost.mapping import ModelMapping
from spicecim.errors import check, raise_if_stopped
from spicecim.models.mlp import Mlp, batch_size
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import WeightMapping

SWEEP_AXES = ("adc_bits", "dac_bits", "weight_bits", "variation", "read_noise", "ir_drop")


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
    range_use: tuple[tuple[str, float], ...] = ()  # (layer, accuracy.range_use)

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
    hook = analog_matmul(layers, spec, weights, settings)
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
                          label_accuracy=scores[0], ideal_label_accuracy=scores[1],
                          target_rmse=errors[0], ideal_target_rmse=errors[1],
                          range_use=range_use(layers))


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
        raise_if_stopped()
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
