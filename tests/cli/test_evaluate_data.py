"""``spicecim evaluate --data``: a classifier scored on the user's own labelled rows, top-1
against the labels, calibrated on rows it does not score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from spicecim.cli import cli
from spicecim.models.mlp import Dense, Mlp, save_mlp

CLASSES, FEATURES = 3, 8
FAST = ["--no-baseline", "--schedule", "serialized", "--json"]


def _blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three well separated Gaussian blobs in 8 dimensions, centres at corners of [-1, 1]^8."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).choice([-1.0, 1.0], size=(CLASSES, FEATURES))
    labels = rng.integers(0, CLASSES, n)
    return (centres[labels] + rng.normal(scale=0.3, size=(n, FEATURES))).astype(np.float32), labels


def _fitted(tmp_path: Path) -> Path:
    """A linear classifier fitted in closed form (least squares on one-hot targets), saved as
    the weights of ``mlp:8-3``."""
    x, labels = _blobs(400, 1)
    design = np.hstack([x, np.ones((len(x), 1))])
    solution = np.linalg.lstsq(design, np.eye(CLASSES)[labels], rcond=None)[0]
    mlp = Mlp({"x": FEATURES}, (Dense("fc0", ("x",), solution[:-1].astype(np.float32),
                                      solution[-1].astype(np.float32), "none"),))
    assert np.mean(mlp.forward({"x": x})["fc0"].argmax(axis=1) == labels) > 0.95
    save_mlp(mlp, tmp_path / "classifier.npz")
    return tmp_path / "classifier.npz"


def _evaluate(*args: str):  # noqa: ANN202
    return CliRunner().invoke(cli, ["evaluate", *args])


def test_top1_on_the_labels_calibrated_on_a_held_out_split(synthetic: Path,
                                                          tmp_path: Path) -> None:
    weights = _fitted(tmp_path)
    x, labels = _blobs(250, 2)
    data = tmp_path / "blobs.npz"
    np.savez(data, x=x, labels=labels)
    # the model file brings its own graph: no preset to name
    result = _evaluate(str(synthetic), "--model", str(weights), "--data", str(data), *FAST)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["model"] == "npz:classifier.npz"
    accuracy = report["accuracy"]
    assert accuracy["points"] == 200 and accuracy["calibration_points"] == 50
    assert accuracy["ideal_label_accuracy"] > 0.95
    assert accuracy["label_accuracy"] > 0.9  # 8x8 tiles, 4-bit ADC: close to the float pass
    assert report["scored_on"] == f"{data}: 200 of 250 rows (the rest held out to calibrate)"
    assert "50 of 250 rows held out (0.2, shuffle seed 0), none of them scored" in (
        report["calibrated_on"])
    text = _evaluate(str(synthetic), "--model", f"mlp:{FEATURES}-{CLASSES}", "--weights",
                     str(weights), "--data", str(data), "--no-baseline").stdout
    assert "classification accuracy on the labels: crossbar" in text
    assert f"scored on: {data}: 200 of 250 rows" in text


def test_a_calibration_file_calibrates_and_every_data_row_scores(synthetic: Path,
                                                                 tmp_path: Path) -> None:
    weights = _fitted(tmp_path)
    for name, seed, n in (("test.npz", 3, 120), ("cal.npz", 4, 40)):
        x, labels = _blobs(n, seed)
        np.savez(tmp_path / name, inputs=x, labels=labels)
    result = _evaluate(str(synthetic), "--model", f"mlp:{FEATURES}-{CLASSES}", "--weights",
                       str(weights), "--data", str(tmp_path / "test.npz"), "--calibration",
                       str(tmp_path / "cal.npz"), *FAST)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["accuracy"]["points"] == 120
    assert report["accuracy"]["calibration_points"] == 40
    assert report["calibrated_on"] == f"{tmp_path / 'cal.npz'} (40 rows)"


def test_targets_give_the_error_against_them(synthetic: Path, tmp_path: Path) -> None:
    x = np.random.default_rng(5).uniform(-1, 1, (60, 4)).astype(np.float32)
    np.savez(tmp_path / "reg.npz", x=x, targets=x[:, :2] * 0.5)
    result = _evaluate(str(synthetic), "--model", "mlp:4-2", "--data",
                       str(tmp_path / "reg.npz"), *FAST)
    assert result.exit_code == 0, result.output
    accuracy = json.loads(result.stdout)["accuracy"]
    assert accuracy["target_rmse"] > 0 and accuracy["ideal_target_rmse"] > 0


def test_without_data_the_report_says_the_inputs_were_drawn(synthetic: Path) -> None:
    result = _evaluate(str(synthetic), "--model", "mlp:4-2", "--points", "16",
                       "--calibration-points", "16", *FAST)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["scored_on"].startswith("16 uniform random inputs in [-1, 1]")
    assert "not the model's own data" in report["calibrated_on"]


@pytest.mark.parametrize(("arrays", "extra", "message"), [
    ({"y": np.zeros((4, 8))}, [], "holds y: expected arrays ['x'] (or 'inputs')"),
    ({"x": np.zeros((4, 5))}, [], "has shape (4, 5): expected (N, 8)"),
    ({"x": np.zeros((4, 8)), "labels": np.array([0, 1, 2, 3])}, [],
     "expected one integer class id per row, from 0 to 2"),
    ({"x": np.zeros((4, 8)), "labels": np.zeros(3)}, [], "expected one row count"),
    ({"x": np.full((4, 8), np.nan)}, [], "non-finite"),
    ({"x": np.zeros((1, 8))}, [], "has 1 row: expected at least 2"),
    ({"x": np.zeros((4, 8))}, ["--points", "10"], "--points is invalid with --data"),
    ({"x": np.zeros((4, 8))}, ["--calibration-fraction", "1"], "--calibration-fraction"),
])
def test_bad_data_is_one_line(synthetic: Path, tmp_path: Path, arrays: dict,
                              extra: list[str], message: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    result = _evaluate(str(synthetic), "--model", f"mlp:{FEATURES}-{CLASSES}", "--data",
                       str(tmp_path / "bad.npz"), *extra, *FAST)
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(("model", "extra", "message"), [
    ("{d}/missing.npz", [], "--model '{d}/missing.npz' does not exist"),
    ("{d}/classifier.npz", ["--weights", "{d}/classifier.npz"],
     "--weights is invalid with --model"),
    ("{d}/blobs.npz", [], "not a readable spicecim MLP file"),
])
def test_a_bad_model_file_is_one_line(synthetic: Path, tmp_path: Path, model: str,
                                      extra: list[str], message: str) -> None:
    _fitted(tmp_path)
    np.savez(tmp_path / "blobs.npz", x=np.zeros((4, FEATURES)))
    result = _evaluate(str(synthetic), "--model", model.format(d=tmp_path),
                       *(e.format(d=tmp_path) for e in extra), *FAST)
    assert result.exit_code == 2, result.output
    assert message.format(d=tmp_path) in result.output
    assert len(result.output.strip().splitlines()) == 1
