"""``spicecim acam simulate`` stopped by a signal mid-netlist: its ngspice runs in a worker, so
the command stops within the grace (a netlist of a large array takes minutes, and ngspice
running in the main process held a SIGTERM until it ended), says in one line what it kept,
exits 130 or 143 and leaves no process; the rerun reads the kept netlists back and ends in the
run file, the kept folder gone."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import h5py
import marked_runs
import numpy as np
import psutil
import pytest

from spicecim.store import schema

# 16 rows of 64 cells: one search per netlist (over CELLS_PER_RUN cells), three netlists of a
# few seconds each, so the signal lands while the second one runs.
ACAM = ["acam", "simulate", "--rows", "16", "--cells", "64", "--out", "a.h5"]


def _start(folder: Path, tag: str) -> subprocess.Popen[bytes]:
    return marked_runs.start(ACAM, folder, tag)


@pytest.mark.ngspice
@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_netlist_stops_at_once_keeping_finished_netlists(
        sig: signal.Signals, code: int, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    proc = _start(tmp_path, tag)
    kept = tmp_path / "a.h5.searches"
    deadline = time.monotonic() + 300
    while not list(kept.glob("*.npz")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1].decode()  # the second netlist is running
    sent = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    assert took < marked_runs.GRACE_S, f"stopped {took:.1f} s after the signal"
    assert proc.returncode == code, err.decode()
    count = len(list(kept.glob("*.npz")))
    assert err.decode() == (f"interrupted: {count} finished search netlist(s) kept in "
                            f"{kept.name}; rerun the same command to resume\n")
    assert out == b"" and 1 <= count < 3
    assert marked_runs.left(tag) == []
    assert not (tmp_path / "a.h5").exists()
    first = next(iter(sorted(kept.glob("*.npz"), key=lambda p: p.stat().st_mtime)))
    with np.load(first) as f:
        kept_v = f["v_ml_v"].copy()

    rerun = _start(tmp_path, uuid.uuid4().hex)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err.decode()
    assert not kept.exists()
    with h5py.File(tmp_path / "a.h5") as f:
        v_ml = f[schema.ACAM_SEARCH]["v_ml_v"][()]
    # the kept netlist's searches are one case's of the run file, as simulated before the stop
    assert any(np.array_equal(kept_v[0], row) for row in v_ml)


@pytest.mark.ngspice
@pytest.mark.slow
def test_sigterm_during_the_transfer_measurement_stops_at_once(tmp_path: Path) -> None:
    """The memristor cell's transfer sweep (seconds of ngspice) runs in the worker too: a
    SIGTERM landing in it stops the command at once, with no traceback from ngspice's
    callbacks."""
    tag = uuid.uuid4().hex
    proc = marked_runs.start([*ACAM, "--device", "memristor", "--rows", "2", "--cells", "8"],
                             tmp_path, tag)
    deadline = time.monotonic() + 60
    # the worker is up (a grandchild, by way of the forkserver): the sweep has begun
    while len(psutil.Process(proc.pid).children(recursive=True)) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
        time.sleep(0.05)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - sent < marked_runs.GRACE_S
    assert proc.returncode == 143, err.decode()
    assert err.decode() == ("interrupted: 0 finished search netlist(s) kept in a.h5.searches; "
                            "rerun the same command to resume\n")
    assert marked_runs.left(tag) == [] and os.listdir(tmp_path) == []
