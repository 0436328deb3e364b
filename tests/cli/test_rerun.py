"""The command line a run file stores reruns the run as written."""

from __future__ import annotations

import shlex
from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner

from spicecim.cli import cli
from spicecim.store import schema


@pytest.mark.ngspice
@pytest.mark.parametrize("args", [["--rows", "4", "--cols", "4", "--workers", "1"],
                                  ["--rows", "4", "--cols", "4", "--workers", "1",
                                   "--mc", "2"]], ids=["tile", "monte-carlo"])
def test_the_stored_command_line_reruns_the_run(tmp_path: Path, args: list[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the stored --out is as the user gave it: relative to their folder
    first = CliRunner().invoke(cli, ["simulate", *args, "--out", "run.h5"])
    assert first.exit_code == 0, first.output
    with h5py.File("run.h5") as f:
        command = str(f.attrs[schema.ATTR_COMMAND])
        columns = f["tiles/tile0/columns/latency_s"][()]
    words = shlex.split(command)
    assert words[:2] == ["spicecim", "simulate"]
    Path("run.h5").unlink()
    again = CliRunner().invoke(cli, words[1:])
    assert again.exit_code == 0, again.output
    with h5py.File("run.h5") as f:
        assert str(f.attrs[schema.ATTR_COMMAND]) == command
        assert (f["tiles/tile0/columns/latency_s"][()] == columns).all()
