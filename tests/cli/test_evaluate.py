"""``spicecim evaluate`` end to end on real tables from ``spicecim simulate``."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from spicecim.cli import cli
from spicecim.cli.evaluate import parse_size, parse_sweep
from spicecim.errors import SpecError
from spicecim.evaluate.schedule import read_tables
from spicecim.measure import schedule_layer

FAST = ["--points", "64", "--calibration-points", "64", "--baseline-batch", "256"]
LAYERS = ("fc0", "fc1", "fc2", "fc3", "sigma", "rgb_hidden", "rgb")


def _invoke(*args: str):  # noqa: ANN202
    return CliRunner().invoke(cli, ["evaluate", *args], catch_exceptions=False)


@pytest.mark.ngspice
def test_report_on_real_tables(real_tables: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.h5"
    result = _invoke("--model", "nerf-4x256", "--tables", str(real_tables), *FAST,
                     "--out", str(out))
    assert result.exit_code == 0, result.output
    text = result.stdout
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("layer"))
    for schedule in ("parallel latency", "adc-shared latency", "serialized latency"):
        assert schedule in header
    for name in LAYERS:
        row = next(line for line in lines if line.startswith(f"{name} "))
        assert row.count(" ns") == 3 and row.count("J") == 3 and "missing" not in row
    for total in ("per sample", "per ray (192 samples)", "per frame (800x800 px)"):
        assert any(line.startswith(total) for line in lines), total
    assert "accuracy vs the ideal float64 pass, 64 points" in text
    batch1 = next(line for line in lines if "eager fp32 batch 1," in line)
    batched = next(line for line in lines if "eager fp32 batch 256," in line)
    assert "! batch-1 eager" in batch1 and "measured in this run" in batch1
    assert "! batch-1" not in batched
    with h5py.File(out) as f:
        assert f.attrs["format"] == "spicecim-evaluate-report-v1"
        assert f["layers/serialized/latency_s"].attrs["units"] == "s"
        assert list(f["layers/serialized/name"].asstr()[...]) == list(LAYERS)
        assert json.loads(f["report"].asstr()[()])["model"] == "nerf-4x256"


@pytest.mark.ngspice
def test_json_figures_are_the_tables_figures(real_tables: Path) -> None:
    """fc1 on 16x16 tiles: 512 columns = 32 tiles of 16 columns in parallel, 16 row tiles;
    each tile's figures are spicecim.measure's for the table's 16 columns."""
    result = _invoke("--tables", str(real_tables), "--no-accuracy", "--no-baseline",
                     "--adder-latency", "0", "--adder-energy", "0", "--json",
                     "--schedule", "serialized")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (table,) = read_tables(real_tables)
    tile = {s.schedule: s for s in schedule_layer(
        table.columns, table.adc, table.adc_share, rows=table.spec.rows,
        dac_e_conv_j=table.dac_e_conv_j, sh_e_clock_j=table.sh_e_clock_j,
        policies=("hold",))}["serialized"]
    fc1 = report["layers"]["serialized"][1]
    assert fc1["name"] == "fc1"
    assert fc1["latency_s"] == pytest.approx(tile.latency_s)
    assert fc1["energy_j"] == pytest.approx(16 * 32 * tile.energy_j)
    assert list(report["layers"]) == ["serialized"]
    assert report["mapping"]["arrays"] == sum(m["arrays"] for m in report["mapping"]["layers"])


@pytest.mark.ngspice
def test_sweep_prints_one_row_per_setting(real_tables: Path) -> None:
    result = _invoke("--tables", str(real_tables), *FAST, "--no-baseline", "--no-accuracy",
                     "--sweep", "adc_bits=4:8:2", "--sweep", "variation=0,1")
    assert result.exit_code == 0, result.output
    rows = result.stdout.split("sweep:\n")[1].splitlines()[1:5]
    assert [row.split()[:2] for row in rows] == [["4", "0"], ["4", "1"], ["6", "0"], ["6", "1"]]


@pytest.mark.ngspice
def test_a_missing_tile_size_is_reported_then_simulated(real_tables: Path,
                                                         tmp_path: Path) -> None:
    args = ["--tables", str(real_tables), "--tile", "8x8", "--no-accuracy", "--no-baseline",
            "--simulate-dir", str(tmp_path)]
    missing = _invoke(*args)
    assert missing.exit_code == 0, missing.output
    assert "tile figures: missing: no table of 8x8 tiles" in missing.stdout
    assert "--simulate-missing" in missing.stdout
    assert "missing" in next(line for line in missing.stdout.splitlines()
                             if line.startswith("per sample"))
    simulated = _invoke(*args, "--simulate-missing", "--workers", "2")
    assert simulated.exit_code == 0, simulated.output
    made = list(tmp_path.glob("xbar8x8-*.h5"))
    assert len(made) == 1 and f"tile figures: {made[0]}:tile0" in simulated.stdout
    # found again without simulating
    again = _invoke(*args)
    assert f"tile figures: {made[0]}:tile0" in again.stdout


@pytest.mark.ngspice
def test_a_gpu_baseline_file_joins_the_comparison(real_tables: Path, tmp_path: Path) -> None:
    from spicecim.evaluate.baseline import Baseline, gpu_baseline_json

    figures = [Baseline("torch", "NVIDIA H100", "compile", "fp16", 1 << 20, 1e-3, 5, "x")]
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(gpu_baseline_json("nerf-4x256", figures, torch_version="2",
                                                 cuda_version="12", created_utc="now")))
    result = _invoke("--tables", str(real_tables), "--no-accuracy", "--no-baseline",
                     "--gpu-baseline", str(path))
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "NVIDIA H100" in line)
    assert "honest: compiled, half precision, batched" in row and "[file gpu.json]" in row


@pytest.mark.parametrize("args", [
    ["--model", "resnet"],
    ["--tables", "no/such/file.h5"],
    ["--sweep", "adc_bits"],
    ["--sweep", "adc_bits=10:2"],
    ["--sweep", "adc_bits=2:10:0"],
    ["--sweep", "colour=1:2"],
    ["--sweep", "variation=a,b"],
    ["--resolution", "0x5"],
    ["--resolution", "800"],
    ["--tile", "16"],
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], tmp_path: Path) -> None:
    tables = ["--tables", str(tmp_path / "missing.h5")] if "--tables" not in args else []
    result = CliRunner().invoke(cli, ["evaluate", *tables, *args])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("Error: ")


def test_option_parsers() -> None:
    assert parse_size("800x600", "resolution") == (800, 600)
    assert parse_sweep("adc_bits=2:10") == ("adc_bits", [float(b) for b in range(2, 11)])
    name, values = parse_sweep("variation=0:2:0.5")
    assert name == "variation"
    np.testing.assert_allclose(values, [0, 0.5, 1, 1.5, 2])
    assert parse_sweep("read_noise=0.01,0.02") == ("read_noise", [0.01, 0.02])
    with pytest.raises(SpecError, match="sweep"):
        parse_sweep("adc_bits=1:1000000")


@pytest.mark.ngspice
def test_acam_readout_replaces_the_adc(real_tables: Path) -> None:
    args = ["--tables", str(real_tables), *FAST, "--no-baseline", "--adc-bits", "4",
            "--schedule", "parallel"]
    adc = _invoke(*args)
    acam = _invoke(*args, "--readout", "acam")
    assert adc.exit_code == 0 and acam.exit_code == 0, acam.output
    assert "readout: ADC (tables)" in adc.stdout
    line = next(line for line in acam.stdout.splitlines() if line.startswith("readout:"))
    assert line.startswith("readout: ACAM 6T2M, 4 bits, ")
    assert line.endswith("pJ per conversion from ngspice")
    assert "ACAM 4 bit (ngspice edges)" in acam.stdout

    def per_sample(text: str) -> list[str]:
        return next(line for line in text.splitlines() if line.startswith("per sample")).split()

    assert per_sample(acam.stdout) != per_sample(adc.stdout)
    assert "missing" not in per_sample(acam.stdout)
