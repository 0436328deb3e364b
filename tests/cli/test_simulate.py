"""``spicecim simulate`` and ``spicecim tables`` end to end: output, failures, refusals (runs
killed, interrupted and raced are tests/cli/test_kill.py's)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from spicecim.cli import cli
from spicecim.sim.sweep import UNCONVERGEABLE_ENV
from spicecim.store import schema
from spicecim.store.hdf5 import open_run

SMALL = ["--rows", "8", "--cols", "8", "--workers", "2"]


def _invoke(*args: str, env: dict[str, str] | None = None):  # noqa: ANN202
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.mark.ngspice
def test_simulate_writes_a_run_and_tables_prints_its_schedules(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    result = _invoke("simulate", *SMALL, "--out", str(out), "--adc-share", "4", "--waveforms")
    assert result.exit_code == 0, result.output
    assert "8 columns simulated" in result.stdout
    for schedule in ("fully_parallel", "adc_shared", "serialized"):
        assert schedule in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]  # no journal, no lock
    with open_run(out) as run:
        assert run.complete
        assert run.config["simulation"]["drive"] == "coupled"
        assert run.provenance[schema.ATTR_NGSPICE].startswith("ngspice-")
        assert "--adc-share 4" in run.provenance[schema.ATTR_COMMAND]
        table = run.columns("tile0")
        assert list(table["status"]) == ["ok"] * 8
        assert np.all(table["latency_s"] > 0) and np.all(table["energy_drivers_j"] > 0)
        assert len(run.waveform("tile0", 7)["time_s"]) > 10
        layer = run.layer("layer0")
        assert list(layer["adc_share"]) == [1, 1, 4, 4, 8, 8]  # k columns per ADC: k rounds
        assert list(layer["rounds"]) == [1, 1, 4, 4, 8, 8]
        assert list(layer["policy"]) == ["hold", "driven"] * 3
    tables = _invoke("tables", str(out))
    assert tables.exit_code == 0
    assert tables.stdout.strip() in result.stdout
    info = json.loads(_invoke("tables", str(out), "--json").stdout)
    assert [r["schedule"] for r in info["layers"]["layer0"]][::2] == ["fully_parallel",
                                                                      "adc_shared", "serialized"]
    again = json.loads(_invoke("simulate", *SMALL, "--out", str(out), "--adc-share", "4",
                               "--waveforms", "--json").stdout)
    assert (again["simulated"], again["kept"]) == (0, 8)


@pytest.mark.ngspice
def test_a_failed_column_is_named_and_the_exit_code_is_one(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    result = _invoke("simulate", *SMALL, "--out", str(out), env={UNCONVERGEABLE_ENV: "3"})
    assert result.exit_code == 1
    assert "1 column(s) failed: 3" in result.stderr
    assert "column 3: failed: ngspice failed" in result.stdout
    with open_run(out) as run:
        status = list(run.columns("tile0")["status"])
        assert status == ["ok"] * 3 + ["failed"] + ["ok"] * 4
        assert "missing" in _invoke("tables", str(out)).stdout  # a layer with a hole is not guessed


@pytest.mark.ngspice
def test_a_changed_parameter_is_refused_in_one_line_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    args = ["simulate", "--rows", "4", "--cols", "4", "--cell", "linear", "--workers", "1",
            "--out", str(out)]
    assert _invoke(*args).exit_code == 0
    refused = _invoke(*[a if a != "linear" else "memristor" for a in args])
    assert refused.exit_code == 2
    assert refused.stderr.count("\n") == 1
    assert "spec.cell.kind: 'linear' -> 'memristor'" in refused.stderr
    assert _invoke(*args, "--drive", "isolated", "--overwrite").exit_code == 0
    with open_run(out) as run:
        assert run.config["simulation"]["drive"] == "isolated"


def test_user_mistakes_exit_two_with_one_line(tmp_path: Path) -> None:
    pulse = _invoke("simulate", "--rows", "4", "--cols", "4", "--encoding", "pulse_width",
                    "--out", str(tmp_path / "x.h5"))
    assert pulse.exit_code == 2 and "'pulse_width' is not 'amplitude'" in pulse.stderr
    missing = _invoke("tables", str(tmp_path / "nothing.h5"))
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    assert _invoke("simulate", "--rows", "4", "--out", "x.h5", "--drive", "magic").exit_code == 2


@pytest.mark.ngspice
def test_a_part_of_a_model_first_and_a_long_run_refused_before_any_work(tmp_path: Path) -> None:
    """--layers / --max-tiles co-simulate a part: the run says so and evaluate refuses it in
    one line. A run estimated beyond the limit is refused with its estimate (one line, exit 2,
    nothing written) unless --yes."""
    x = np.random.default_rng(0).normal(0, 1, (4, 16))
    np.save(tmp_path / "x.npy", x)
    base = ["simulate", *SMALL[:4], "--model", "mlp:16-8-8", "--inputs-file",
            str(tmp_path / "x.npy"), "--inputs", "1"]
    part = tmp_path / "part.h5"
    # 8x8 tiles: fc0 (16 -> 8) takes 2 x 2 of them, fc1 (8 -> 8) 1 x 2
    result = CliRunner().invoke(cli, [*base, "--layers", "fc1", "--max-tiles", "1", "--out",
                                      str(part)])
    assert result.exit_code == 0, result.output
    assert "8 column transients on ngspice, a part: 1 of the model's 6 tiles (layers fc1)" in (
        result.output)
    with open_run(part) as run:
        assert run.model is not None and run.model["layers"] == ["fc1"]
        assert run.model["partial"] == "1 of the model's 6 tiles (layers fc1)"
        assert run.tiles() == ["fc1.r0c0.k0p0"]
    refused = CliRunner().invoke(cli, ["evaluate", str(part), "--model", "mlp:16-8-8",
                                       "--no-accuracy", "--no-baseline"])
    assert refused.exit_code == 2 and refused.output.count("\n") == 1
    assert "is a partial co-simulation" in refused.output

    big = tmp_path / "big.npy"
    np.save(big, np.random.default_rng(1).normal(0, 1, (1024, 16)))
    long = ["simulate", "--rows", "256", "--cols", "256", "--model", "mlp:16-8-8",
            "--inputs-file", str(big), "--inputs", "1024", "--workers", "1",
            "--out", str(tmp_path / "long.h5")]
    result = CliRunner().invoke(cli, long)
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "estimated at" in result.output and "--yes" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.npy", "part.h5", "x.npy"]
    bad = CliRunner().invoke(cli, [*base, "--layers", "fc9", "--out", str(tmp_path / "b.h5")])
    assert bad.exit_code == 2 and "layers='fc9' is invalid" in bad.output
    assert not (tmp_path / "b.h5").exists()


@pytest.mark.ngspice
def test_a_design_point_co_simulated_is_evaluated_as_that_design_point(tmp_path: Path) -> None:
    """simulate --model --slices 2 --copies 2 --rows-per-read 4 on 8x8 tiles: evaluate
    costs it given the same design choices (every layer co-simulated) and refuses it, in one
    line naming what was simulated, given others."""
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(0, 1, (4, 8)))
    run = tmp_path / "sliced.h5"
    design = ["--slices", "2", "--copies", "2", "--rows-per-read", "4"]
    made = _invoke("simulate", *SMALL, "--model", "mlp:8-4-4", "--inputs-file",
                   str(tmp_path / "x.npy"), "--inputs", "1", *design, "--out", str(run))
    assert made.exit_code == 0, made.output
    # fc0: 8 signed inputs, 4 per tile (2 copies) -> 2 row tiles x 2 column tiles (2 outputs
    # of 4 columns each), 2 phases, 2 row groups; fc1: 4 inputs -> 1 x 2 tiles, 2 groups
    assert "160 column transients" in made.output
    args = ["evaluate", str(run), "--model", "mlp:8-4-4", "--no-accuracy", "--no-baseline"]
    same = _invoke(*args, *design)
    assert same.exit_code == 0, same.output
    assert all(line.endswith("co-simulated") for line in same.stdout.splitlines()
               if line.startswith(("fc0 ", "fc1 ")))
    other = CliRunner().invoke(cli, [*args, "--slices", "2"])
    assert other.exit_code == 2 and other.output.count("\n") == 1
    assert "expected its slices=2, copies=2, rows_per_read=4" in other.output
