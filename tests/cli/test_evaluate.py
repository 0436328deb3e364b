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
from spicecim.cost.schedule import DEFAULT_POLICY, read_tables
from spicecim.errors import SpecError
from spicecim.measure import schedule_layer

FAST = ["--points", "64", "--calibration-points", "64", "--baseline-batch", "256"]
LAYERS = ("fc0", "fc1", "fc2", "fc3", "sigma", "rgb_hidden", "rgb")


def _invoke(*args: str):  # noqa: ANN202
    return CliRunner().invoke(cli, ["evaluate", *args], catch_exceptions=False)


@pytest.mark.ngspice
def test_report_on_real_tables(real_tables: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.h5"
    result = _invoke("--model", "nerf-4x256", str(real_tables), *FAST,
                     "--out", str(out))
    assert result.exit_code == 0, result.output
    text = result.stdout
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("layer"))
    for schedule in ("fully_parallel latency", "adc_shared latency", "serialized latency"):
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
    each tile's figures are spicecim.measure's for the table's 16 columns, its row buffers and
    word lines as the run sized them."""
    result = _invoke(str(real_tables), "--no-accuracy", "--no-baseline",
                     "--adder-latency", "0", "--adder-energy", "0", "--json",
                     "--schedule", "serialized")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (table,) = read_tables(real_tables)
    tile = {s.schedule: s for s in schedule_layer(
        table.columns, table.adc, table.adc_share, rows=table.spec.rows,
        dac_e_conv_j=table.dac_e_conv_j, sh_e_clock_j=table.sh_e_clock_j,
        row_bias_w=table.row_bias_w, wordline_e_j=table.wordline_e_j,
        policies=(DEFAULT_POLICY,))}["serialized"]
    assert table.row_bias_w > 0 and table.wordline_e_j > 0  # the run's periphery
    fc1 = report["layers"]["serialized"][1]
    assert fc1["name"] == "fc1"
    assert fc1["latency_s"] == pytest.approx(tile.latency_s)
    assert fc1["energy_j"] == pytest.approx(16 * 32 * tile.energy_j)
    assert list(report["layers"]) == ["serialized"]
    assert report["mapping"]["arrays"] == sum(m["arrays"] for m in report["mapping"]["layers"])


@pytest.mark.ngspice
def test_sweep_prints_one_row_per_setting(real_tables: Path) -> None:
    # the rows of any model's sweep: a small MLP (one 16x16 tile a layer), not nerf-4x256's
    # 2,000 tiles programmed again for each variation
    result = _invoke(str(real_tables), "--model", "mlp:16-16-16", *FAST, "--no-baseline",
                     "--no-accuracy", "--sweep", "adc_bits=4:6:2", "--sweep", "variation=0,1")
    assert result.exit_code == 0, result.output
    rows = result.stdout.split("sweep:\n")[1].splitlines()[1:5]
    assert [row.split()[:2] for row in rows] == [["4", "0"], ["4", "1"], ["6", "0"], ["6", "1"]]


@pytest.mark.ngspice
def test_a_missing_tile_size_is_reported_then_simulated(real_tables: Path,
                                                         tmp_path: Path) -> None:
    args = [str(real_tables), "--tile", "8x8", "--no-accuracy", "--no-baseline",
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
    from spicecim.models.baseline import Baseline, gpu_baseline_json

    figures = [Baseline("torch", "NVIDIA H100", "compile", "fp16", 1 << 20, 1e-3, 5, "x")]
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(gpu_baseline_json("nerf-4x256", figures, torch_version="2",
                                                 cuda_version="12", created_utc="now")))
    result = _invoke(str(real_tables), "--no-accuracy", "--no-baseline",
                     "--gpu-baseline", str(path))
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "NVIDIA H100" in line)
    assert "honest: compiled, half precision, batched" in row and "[file gpu.json]" in row


@pytest.mark.parametrize("args", [
    ["--model", "resnet"],
    ["no/such/file.h5"],
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
    tables = [] if args[0].endswith(".h5") else [str(tmp_path / "missing.h5")]
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
    args = [str(real_tables), *FAST, "--no-baseline", "--adc-bits", "4",
            "--schedule", "fully_parallel"]
    adc = _invoke(*args)
    acam = _invoke(*args, "--converter", "acam")
    assert adc.exit_code == 0 and acam.exit_code == 0, acam.output
    assert "readout: ADC 4 bit: the tables' 8-bit ADC" in adc.stdout
    line = next(line for line in acam.stdout.splitlines() if line.startswith("readout:"))
    assert line.startswith("readout: ACAM 6T2M, 4 bits, ")
    assert line.endswith("pJ per conversion from ngspice")
    assert "ACAM 4 bit (ngspice edges)" in acam.stdout

    def per_sample(text: str) -> list[str]:
        return next(line for line in text.splitlines() if line.startswith("per sample")).split()

    assert per_sample(acam.stdout) != per_sample(adc.stdout)
    assert "missing" not in per_sample(acam.stdout)


@pytest.mark.ngspice
def test_a_model_s_co_simulation_gives_every_layer_its_own_figures(tmp_path: Path) -> None:
    """mlp:16-8-8 co-simulated on 16x16 tiles, then evaluated: each layer's figures are its
    co-simulated layer's plus the digital stage; the same preset with other weights (another
    seed) is refused in one line."""
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(0, 1, (8, 16)))
    run = tmp_path / "model.h5"
    result = CliRunner().invoke(cli, ["simulate", "--rows", "16", "--cols", "16", "--workers",
                                      "2", "--model", "mlp:16-8-8", "--inputs-file",
                                      str(tmp_path / "x.npy"), "--inputs", "1", "--out",
                                      str(run)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    args = [str(run), "--model", "mlp:16-8-8", "--no-accuracy", "--no-baseline"]
    result = _invoke(*args, "--adder-latency", "0", "--adder-energy", "0", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["table"].startswith(f"co-simulated: {run}")
    with h5py.File(run) as f:
        fc1 = {n: f[f"layers/fc1.mean/{n}"][()] for n in ("schedule", "policy", "latency_s")}
    want = [lat for s, p, lat in zip(fc1["schedule"], fc1["policy"], fc1["latency_s"],
                                     strict=True) if s == b"serialized" and p == b"hold"]
    got = report["layers"]["serialized"][1]
    assert got["name"] == "fc1" and got["source"] == "co-simulated"
    assert got["latency_s"] == pytest.approx(want[0], rel=1e-12)
    text = _invoke(*args).stdout
    assert all(line.endswith("co-simulated") for line in text.splitlines()
               if line.startswith(("fc0 ", "fc1 ")))
    other = CliRunner().invoke(cli, ["evaluate", *args, "--seed", "1"])
    assert other.exit_code == 2 and other.output.count("\n") == 1
    assert "with other weights" in other.output


@pytest.mark.ngspice
def test_the_noise_floor_only_raises_ranges_and_can_be_turned_off(real_tables: Path) -> None:
    """Each tile's ADC range is the calibrated one raised to the front end's noise floor;
    ``--no-range-floor`` scores the calibrated ranges alone, so no layer's range use is lower
    with the floor than without it."""
    uses = {}
    for flag in ("--range-floor", "--no-range-floor"):
        result = _invoke(str(real_tables), "--model", "nerf-4x256", "--no-baseline", *FAST, flag)
        assert result.exit_code == 0, result.output
        text = result.stdout
        assert ("raised to the front end's noise floor" in text) == (flag == "--range-floor")
        line = next(x for x in text.splitlines() if x.startswith("ADC range use per layer"))
        uses[flag] = {name: float(use) for name, use in
                      (item.split() for item in line.split("):", 1)[1].rstrip("%").split("%,"))}
    assert set(uses["--range-floor"]) == set(LAYERS)
    assert all(uses["--range-floor"][n] >= uses["--no-range-floor"][n] for n in LAYERS)
    assert any(uses["--range-floor"][n] > uses["--no-range-floor"][n] for n in LAYERS)
