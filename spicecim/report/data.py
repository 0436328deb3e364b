"""A user's own data for the accuracy pass: an ``.npz`` of inputs and, optionally, labels or
targets, split into the rows scored and the rows that calibrate (``spicecim evaluate --data``).

The file holds one array per model input, named as the model names it (``x`` for an
``mlp:IN-...-OUT`` preset); a model with one input also takes the name ``inputs``. Each input
is ``(N, width)``; ``labels`` are ``N`` class ids (integers, ``0 <= id < classes`` of the
model's logits output) and ``targets`` are ``(N, width)`` of its first output (``(N,)`` for a
width of 1). Every row must be finite.

Calibration (the DAC input scales, the ADC ranges and the column gains of
:mod:`spicecim.analog.accuracy`) is fitted on rows that are not scored: a second file, or a
fraction of this one held out by a seeded shuffle, so the figures are not fitted to the rows
they are measured on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spicecim.errors import InputFileError, SpecError, check
from spicecim.models.mlp import Mlp
from spicecim.store import npy

DEFAULT_CALIBRATION_FRACTION = 0.2
"""The share of ``--data`` rows held out to calibrate when no ``--calibration`` file is given:
the usual validation split, enough rows (256 of 1280) to fit a column's gain and offset."""
_KNOWN = ("inputs", "labels", "targets")


@dataclass(frozen=True, slots=True, eq=False)
class Data:
    """Rows of a model's inputs (name -> ``(N, width)`` float32), their labels or targets
    (``None`` if the file has none) and where they came from (``source``: the file and the
    rows, for the report)."""

    inputs: Mapping[str, np.ndarray]
    labels: np.ndarray | None
    targets: np.ndarray | None
    source: str

    @property
    def rows(self) -> int:
        return len(next(iter(self.inputs.values())))

    def take(self, index: np.ndarray, source: str) -> Data:
        """The rows at ``index``."""
        return Data({k: v[index] for k, v in self.inputs.items()},
                    None if self.labels is None else self.labels[index],
                    None if self.targets is None else self.targets[index], source)


def read_arrays(path: Path, option: str = "--data") -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path`` (:mod:`spicecim.store.npy`: finite real
    numbers, never a pickle), checked to be of one row count and at least one row."""
    arrays = npy.load_npz(path, option, "an .npz of the model's inputs (np.savez)")
    if not arrays:
        raise InputFileError(f"{option} {str(path)!r} holds no arrays: expected the model's "
                             "inputs (and labels or targets)")
    rows = set()
    for key, a in arrays.items():
        if a.ndim not in (1, 2) or len(a) == 0:
            raise InputFileError(f"{option} {str(path)!r}: array {key!r} has shape {a.shape}: "
                                 "expected one row per sample (1 or 2 dimensions), at least "
                                 "one row")
        rows.add(len(a))
    if len(rows) > 1:
        raise InputFileError(f"{option} {str(path)!r}: the arrays have {sorted(rows)} rows: "
                             "expected one row count for all ({})".format(
                                 ", ".join(f"{k} {len(a)}" for k, a in arrays.items())))
    return arrays


def as_data(arrays: Mapping[str, np.ndarray], mlp: Mlp, path: Path,
            option: str = "--data") -> Data:
    """``arrays`` (from :func:`read_arrays`) as ``mlp``'s inputs, labels and targets."""
    widths = mlp.input_widths()
    named = dict(arrays)
    if len(widths) == 1 and "inputs" in named and next(iter(widths)) not in named:
        named[next(iter(widths))] = named.pop("inputs")
    accepted = (f"arrays {sorted(widths)}" + (" (or 'inputs')" if len(widths) == 1 else "")
                + " and optionally 'labels' or 'targets'")
    where = f"{option} {str(path)!r}"
    extra = sorted(set(named) - set(widths) - set(_KNOWN))
    missing = sorted(set(widths) - set(named))
    if missing or extra:
        have = ", ".join(sorted(arrays))
        raise InputFileError(f"{where} holds {have}: expected {accepted}")
    inputs = {}
    for name, width in widths.items():
        a = named[name]
        if a.ndim != 2 or a.shape[1] != width:
            raise InputFileError(f"{where}: array {name!r} has shape {a.shape}: expected "
                                 f"(N, {width}), the model's input width")
        inputs[name] = a.astype(np.float32)
    labels = named.get("labels")
    targets = named.get("targets")
    if labels is not None and targets is not None:
        raise InputFileError(f"{where} holds both 'labels' and 'targets': expected one of them")
    if labels is not None:
        labels = _labels(labels, mlp, where)
    if targets is not None:
        out = mlp.outputs[0]
        width = mlp.widths()[out]
        targets = targets.reshape(-1, 1) if targets.ndim == 1 and width == 1 else targets
        if targets.ndim != 2 or targets.shape[1] != width:
            raise InputFileError(f"{where}: 'targets' has shape {named['targets'].shape}: "
                                 f"expected (N, {width}), the width of output {out!r}")
        targets = targets.astype(np.float64)
    rows = len(next(iter(inputs.values())))
    return Data(inputs, labels, targets, f"{path} ({rows} rows)")


def _labels(labels: np.ndarray, mlp: Mlp, where: str) -> np.ndarray:
    from spicecim.analog.scoring import is_logits

    logits = [name for name in mlp.outputs if is_logits(mlp, name)]
    if not logits:
        raise InputFileError(f"{where} holds 'labels', but the model has no logits output "
                             f"(outputs {list(mlp.outputs)}): expected 'targets' for a model "
                             "without a class output")
    classes = mlp.widths()[logits[0]]
    whole = labels.ndim == 1 and bool(np.all(labels == np.round(labels)))
    if not whole or labels.min() < 0 or labels.max() >= classes:
        raise InputFileError(f"{where}: 'labels' (shape {labels.shape}, from {labels.min():g} "
                             f"to {labels.max():g}) is invalid: expected one integer class id "
                             f"per row, from 0 to {classes - 1} (output {logits[0]!r})")
    return labels.astype(np.int64)


def split(data: Data, fraction: float, seed: int) -> tuple[Data, Data]:
    """(scored, calibration): ``fraction`` of the rows, chosen by a shuffle seeded with
    ``seed``, held out to calibrate; the rest scored. Each side keeps at least one row."""
    check(math.isfinite(fraction) and 0 < fraction < 1, "calibration_fraction", fraction,
          "a number between 0 and 1 (exclusive): the share of --data rows held out")
    n, name = data.rows, data.source.rsplit(" (", 1)[0]
    if n < 2:
        raise SpecError(f"--data {name!r} has 1 row: expected at least 2 to hold some out "
                        "for calibration, or a --calibration file")
    held = min(max(1, round(fraction * n)), n - 1)
    order = np.random.default_rng([seed, 4]).permutation(n)
    cal, scored = np.sort(order[:held]), np.sort(order[held:])
    return (data.take(scored, f"{name}: {n - held} of {n} rows (the rest held out to "
                              "calibrate)"),
            data.take(cal, f"{name}: {held} of {n} rows held out ({fraction:g}, shuffle "
                           f"seed {seed}), none of them scored"))
