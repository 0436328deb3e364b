"""A real ``spicecim nerf`` signalled in the middle of its crossbar render (SIGTERM, Ctrl-C)
stops within the grace: its documented exit code, the one "interrupted" line and no traceback
on stderr, no process of it left. The render's compiled batches are each well under a second,
and each batch is a checkpoint (:func:`spicecim.errors.raise_if_stopped`), so a stop waits for
at most one batch; before, the render was seen ignoring SIGTERM for over 10 s."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import marked_runs
import pytest

from spicecim.cli import INTERRUPTED_EARLY, INTERRUPTED_EXIT, TERMINATED_EXIT

# Ideal tiles program without a solve (a second), so the render comes within seconds; 48x48
# pixels x 16 samples: about 20 batches of the compiled MLP, several seconds of render.
ARGS = ["--resolution", "48x48", "--samples-per-ray", "16", "--calibration-points", "256",
        "--ideal", "--progress", "--out", "renders"]

# The render's bar past its first batch: the compiled function is past its compilation.
BATCH_READ = re.compile(rb"crossbar: render:[^|]*\|[^|]*\| [1-9][0-9]*/")


def _start(folder: Path, args: list[str], tag: str) -> subprocess.Popen[bytes]:
    """``spicecim nerf`` in ``folder``, its processes marked by ``tag``."""
    return marked_runs.start(["nerf", *args], folder, tag, stdout=subprocess.DEVNULL)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, TERMINATED_EXIT),
                                              (signal.SIGINT, INTERRUPTED_EXIT)])
def test_a_signal_mid_render_stops_within_the_grace(fitted_nerf, synthetic64: Path,  # noqa: ANN001
                                                    tmp_path: Path, signum: int,
                                                    code: int) -> None:
    cache, _, steps = fitted_nerf
    shutil.copytree(cache, tmp_path / "cache", ignore=shutil.ignore_patterns("*.lock"))
    tag = uuid.uuid4().hex
    proc = _start(tmp_path, [str(synthetic64), "--cache-dir", "cache", "--fit-steps",
                             str(steps), *ARGS], tag)
    assert proc.stderr is not None
    err = bytearray()
    rendering = threading.Event()

    def read() -> None:  # stderr read as it comes: the bar's redraws end in \r, not \n
        assert proc.stderr is not None
        while chunk := proc.stderr.read1(4096):
            err.extend(chunk)
            if BATCH_READ.search(err):
                rendering.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert rendering.wait(120), err.decode(errors="replace")[-2000:]
    sent = time.monotonic()
    proc.send_signal(signum)
    try:
        proc.wait(timeout=marked_runs.GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"{signal.Signals(signum).name} mid-render ignored for {marked_runs.GRACE_S} s")
    stopped_s = time.monotonic() - sent
    reader.join(marked_runs.GRACE_S)
    proc.stderr.close()
    text = err.decode(errors="replace")
    assert proc.returncode == code, text[-2000:]
    assert "Traceback" not in text and "Exception ignored" not in text, text[-2000:]
    assert text.replace("\r", "\n").rstrip().splitlines()[-1] == INTERRUPTED_EARLY
    assert text.count(INTERRUPTED_EARLY) == 1
    assert not (tmp_path / "renders" / "crossbar.png").exists()
    assert marked_runs.left(tag) == []
    print(f"{signal.Signals(signum).name}: stopped {stopped_s:.2f} s after the signal")
