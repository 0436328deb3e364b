"""``spicecim tables`` says what a file is: a run, a partial run (with its counts), an ACAM
search file, an evaluation report, a nodal solve, or not a spicecim file (one line, exit 2);
and a Monte Carlo spread prints with the digits that tell its percentiles apart."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from spicecim.analog.scoring import _output_error
from spicecim.cli import cli, limits
from spicecim.errors import SpecError
from spicecim.models.presets import preset_mlp
from spicecim.report.text import layer_digits
from spicecim.store import schema
from spicecim.store.hdf5 import RunWriter

TILE = ["--rows", "4", "--cols", "4"]


def tables(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["tables", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.ngspice
def test_a_run_and_what_else_spicecim_writes_are_each_named(finished_run: Path,
                                                            tmp_path: Path) -> None:
    code, text, _ = tables(str(finished_run))
    assert code == 0 and "layer0 (tile0):" in text and "partial" not in text
    assert json.loads(tables(str(finished_run), "--json")[1])["kind"] == "run"

    report = tmp_path / "report.h5"
    made = CliRunner().invoke(cli, ["evaluate", str(finished_run), "--model", "mlp:4-2",
                                    "--no-accuracy", "--no-baseline", "--out", str(report)])
    assert made.exit_code == 0, made.output
    code, text, _ = tables(str(report))
    assert code == 0 and "evaluation report" in text and "'mlp:4-2'" in text
    assert "fully_parallel" in text  # its totals, one row per schedule

    solved = tmp_path / "solve.h5"
    assert CliRunner().invoke(cli, ["solve", *TILE, "--out", str(solved)]).exit_code == 0
    code, text, _ = tables(str(solved))
    assert code == 0 and "nodal solve" in text and "column_current_a (4,)" in text

    acam = tmp_path / "acam.h5"
    made = CliRunner().invoke(cli, ["acam", "simulate", "--cells", "2", "--rows", "1", "--out",
                                    str(acam)])
    assert made.exit_code == 0, made.output
    code, text, _ = tables(str(acam))
    assert code == 0 and "ACAM search file" in text
    assert [line.split()[0] for line in text.splitlines()[-3:]] == ["match", "lower", "upper"]


def test_a_partial_run_gives_its_counts(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    writer = RunWriter(out, {"spec": {"rows": 2}}, {schema.ATTR_COMMAND: "spicecim simulate"})
    writer.add_tile("tile0", 3, {})
    writer.write_columns("tile0", {0: {"status": "ok"}})
    writer.close()  # stopped: one column of three in the journal
    code, text, _ = tables(str(out))
    assert code == 0
    assert text.startswith(f"{out.with_name('run.h5.journal')}: partial run, 1 of 3 columns "
                           "done (interrupted; rerun the same command to resume)")
    info = json.loads(tables(str(out), "--json")[1])
    assert (info["kind"], info["columns_done"], info["columns_total"]) == ("partial run", 1, 3)


@pytest.mark.parametrize("make, fragment", [
    (lambda f: f.attrs.update({"schema_version": 2}), "it has a 'schema_version' attribute "
                                                      "but no run (/config, /tiles missing)"),
    (lambda f: f.create_dataset("x", data=np.arange(3)), "an HDF5 file without spicecim's"),
])
def test_a_file_that_is_not_ours_is_one_line(make, fragment: str, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        make(f)
    code, text, err = tables(str(path))
    assert code == 2 and text == "" and err.count("\n") == 1
    assert f"{path} is not a spicecim file: {fragment}" in err


def test_monte_carlo_percentiles_print_distinct() -> None:
    def rows(latency: float) -> list[dict]:
        return [{"latency_s": latency, "energy_j": 1e-12, "energy_dac_j": 1e-13,
                 "energy_array_j": 2e-13, "energy_frontend_j": 3e-13, "energy_sh_j": 0.0,
                 "energy_adc_j": 4e-13, "energy_rowbias_j": 0.0, "energy_wordline_j": 0.0,
                 "energy_adcref_j": 0.0}]

    spread = [rows(19.77e-9), rows(19.7701e-9), rows(19.77013e-9), rows(19.77013e-9)]
    digits = layer_digits(spread)
    assert digits["latency"] == 7 and digits["energy"] == 4  # equal values need no more
    assert layer_digits([rows(1e-9), rows(2e-9)])["latency"] == 4


def test_a_nan_error_is_no_psnr_and_an_exact_match_infinite() -> None:
    mlp = preset_mlp("nerf")  # its rgb output is a sigmoid: PSNR defined
    ref = np.full((4, 3), 0.5)
    assert math.isnan(_output_error(mlp, "rgb", np.full((4, 3), np.nan), ref).psnr_db)
    assert _output_error(mlp, "rgb", ref.copy(), ref).psnr_db == math.inf
    assert _output_error(mlp, "rgb", ref + 0.1, ref).psnr_db == pytest.approx(20.0)


def test_netlists_beyond_the_disk_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"netlists of a 1000000x1000000 tile need about 512 TB"
                                        r" of disk, more than the .* free under"):
        limits.check_netlist_disk(tmp_path / "net", 10**6, 10**6)
    limits.check_netlist_disk(tmp_path / "net", 4, 4)
