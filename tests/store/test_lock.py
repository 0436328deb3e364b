"""One writer per output: a live holder refuses a second writer (with or without overwrite),
naming itself; a dead one's lock is taken over, and said so; one process may nest locks."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from spicecim.cli import cli
from spicecim.store import schema
from spicecim.store.hdf5 import RunWriter
from spicecim.store.lock import RunLock, RunLockedError, check_not_in_use

CONFIG = {"spec": {"rows": 2}}
PROVENANCE = {schema.ATTR_NGSPICE: "ngspice-39", schema.ATTR_COMMAND: "spicecim simulate"}
HOLD = """
import sys
from spicecim.store.hdf5 import RunWriter
writer = RunWriter(sys.argv[1], {"spec": {"rows": 2}}, {"command_line": "the first run"})
writer.add_tile("tile0", 2, {})
writer.write_columns("tile0", {0: {"status": "ok"}})
print("holding", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process writing ``tmp_path / "run.h5"``, until its stdin closes."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "run.h5")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    with proc:
        assert proc.stdout is not None and proc.stdout.readline() == "holding\n"
        yield proc
        proc.kill()


def test_a_second_writer_is_refused_naming_the_first(tmp_path: Path,
                                                     holder: subprocess.Popen[str]) -> None:
    out = tmp_path / "run.h5"
    journal = out.with_name("run.h5.journal").read_bytes()
    for overwrite in (False, True):
        with pytest.raises(RunLockedError, match=rf"being written by process {holder.pid} on "
                                                 r".*the first run\).*--overwrite does not"):
            RunWriter(out, CONFIG, PROVENANCE, overwrite=overwrite)
    assert out.with_name("run.h5.journal").read_bytes() == journal  # overwrite removed nothing


def test_the_lock_of_a_killed_writer_is_taken_over_and_said(
        tmp_path: Path, holder: subprocess.Popen[str], caplog: pytest.LogCaptureFixture) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    out = tmp_path / "run.h5"
    assert out.with_name("run.h5.lock").exists()
    with caplog.at_level(logging.WARNING, "spicecim"):
        writer = RunWriter(out, CONFIG, PROVENANCE)
    assert f"took over the lock of process {holder.pid}" in caplog.text
    assert writer.resumed and writer.pending("tile0") == [1]
    writer.write_columns("tile0", {1: {"status": "ok"}})
    writer.finish()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]


def test_one_process_nests_its_locks(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    lock = out.with_name("run.h5.lock")
    with RunLock(out, "the whole command"):
        writer = RunWriter(out, CONFIG, PROVENANCE)
        writer.finish()
        assert lock.exists()  # still held around the writer
        again = RunWriter(out, CONFIG, PROVENANCE)
        again.close()
    assert not lock.exists()


def test_overwrite_never_replaces_a_file_a_live_run_writes(tmp_path: Path,
                                                           holder: subprocess.Popen[str]) -> None:
    out = tmp_path / "run.h5"
    with pytest.raises(RunLockedError, match=rf"being written by process {holder.pid}"):
        check_not_in_use(out)
    check_not_in_use(tmp_path / "other.h5")  # no lock: nothing said, nothing made
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(cli, ["solve", "--rows", "4", "--cols", "4", "--out", str(out),
                                      "--overwrite"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and f"process {holder.pid}" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_tables_tells_a_run_being_written_from_an_interrupted_one(
        tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    out = tmp_path / "run.h5"
    live = CliRunner().invoke(cli, ["tables", str(out)])
    assert live.exit_code == 0, live.output
    assert (f"partial run, 1 of 2 columns done (running: being written by process {holder.pid} "
            "on ") in live.stdout
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    dead = CliRunner().invoke(cli, ["tables", str(out)])
    assert dead.exit_code == 0, dead.output
    assert ("partial run, 1 of 2 columns done (interrupted; rerun the same command to resume)"
            in dead.stdout)
