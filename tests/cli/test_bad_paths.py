"""Outputs and inputs that are not plain files, and folders no file can be made in, for every
command that writes or reads one: one line on stderr, exit code 2, and nothing made, changed or
replaced, all before any work (so none of these runs a simulation).

An output that is a FIFO or a device (here a symbolic link to ``/dev/null``) is refused with
``--overwrite`` too: the rename that writes a file would replace the node, and ``simulate``
would open a FIFO at ``--out`` as a run to resume and block for ever. A folder is tried by
making a file in it, since permission bits say nothing to root: ``/proc`` refuses every new
file, for root as for anyone else.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from spicecim.cli import cli

UNWRITABLE = "/proc/spicecim-test-output"
TILE = ("--rows", "4", "--cols", "4")
# Each command that writes a file, with {out} its output and {run} a finished 4x4 run.
FILE_OUTPUTS = {
    "acam simulate": ("acam", "simulate", "--out", "{out}"),
    "acam transfer": ("acam", "transfer", "--out", "{out}"),
    "simulate": ("simulate", *TILE, "--out", "{out}"),
    "solve": ("solve", *TILE, "--out", "{out}"),
    "evaluate": ("evaluate", "{run}", "--no-accuracy", "--no-baseline", "--out", "{out}"),
}
# Each folder a command writes into.
FOLDER_OUTPUTS = {
    "generate --out": ("generate", *TILE, "--out", "{out}"),
    "nerf --out": ("nerf", "{run}", "--out", "{out}", "--cache-dir", "{d}/cache"),
    "nerf --cache-dir": ("nerf", "{run}", "--out", "{d}/renders", "--cache-dir", "{out}"),
    "plot --out": ("plot", "{run}", "--out", "{out}"),
    "simulate --cache-dir": ("simulate", *TILE, "--model", "nerf", "--scene", "--out",
                             "{d}/run.h5", "--cache-dir", "{out}"),
}


def _listing(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() if p.is_file() and not p.is_symlink()
            else os.readlink(p).encode() if p.is_symlink() else b"<special>"
            for p in sorted(d.rglob("*"))}


def _refused(args: tuple[str, ...], d: Path, run: Path, out: str, *fragments: str) -> None:
    before = _listing(d)
    result = CliRunner().invoke(cli, [a.format(d=d, run=run, out=out) for a in args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert _listing(d) == before


@pytest.fixture
def d(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "null").symlink_to("/dev/null")
    return tmp_path


@pytest.mark.parametrize("special, kind", [("fifo", "is a pipe (FIFO)"), ("null", "is a device")])
@pytest.mark.parametrize("overwrite", [False, True], ids=["", "--overwrite"])
@pytest.mark.parametrize("command", FILE_OUTPUTS)
def test_an_output_that_is_a_special_file_is_never_written(
        command: str, overwrite: bool, special: str, kind: str, d: Path,
        finished_run: Path) -> None:
    args = (*FILE_OUTPUTS[command], *(["--overwrite"] if overwrite else []))
    _refused(args, d, finished_run, str(d / special), kind, "never written or replaced")
    assert (d / "fifo").is_fifo() and Path("/dev/null").is_char_device()


@pytest.mark.parametrize("command", [*FILE_OUTPUTS, *FOLDER_OUTPUTS])
def test_an_output_in_a_folder_that_takes_no_new_file_is_refused_before_work(
        command: str, d: Path, finished_run: Path) -> None:
    args = FILE_OUTPUTS.get(command) or FOLDER_OUTPUTS[command]
    _refused(args, d, finished_run, UNWRITABLE, "folder '/proc' is not writable",
             "expected a folder this user can write")


@pytest.mark.parametrize("macro", ["{d}/fifo", "/dev/null", "{d}/missing.toml"])
def test_macro_reads_no_special_file(macro: str, d: Path, finished_run: Path) -> None:
    (d / "fifo.toml").unlink(missing_ok=True)
    _refused(("macro", macro), d, finished_run, "", "MACRO")


@pytest.mark.parametrize("name, why", [("fifo.npz", "is not a regular file"),
                                       ("missing.onnx", "does not exist")])
def test_a_model_file_that_is_no_regular_file_is_refused_unread(
        name: str, why: str, d: Path, finished_run: Path) -> None:
    os.mkfifo(d / "fifo.npz")
    np.save(d / "inputs.npy", np.zeros((2, 4)))
    _refused(("simulate", *TILE, "--model", "{d}/" + name, "--inputs-file", "{d}/inputs.npy",
              "--out", "{d}/run.h5"), d, finished_run, "", f"model file '{d / name}' {why}")


@pytest.mark.parametrize("stop, step, points", [("1", "1e-15", "1e+15"), ("1e300", "1e-11", "inf")])
def test_a_transient_of_more_print_points_than_ngspice_can_hold_is_refused(
        stop: str, step: str, points: str, d: Path, finished_run: Path) -> None:
    _refused(("generate", *TILE, "--stop", stop, "--step", step, "--out", "{d}/net"), d,
             finished_run, "", f"stop_s / step_s='{points}' is invalid", "at most 1e+07")
