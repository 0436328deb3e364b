"""Real ``spicecim`` runs for the signal and kill tests, started as a shell starts a foreground
command and marked by a tag in their environment, so every process of theirs (the forkserver's
workers included) can be found afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

PROGRAM = [sys.executable, "-c", "from spicecim.cli import main; main()"]
"""The ``spicecim`` program, run by this interpreter."""
GRACE_S = 5.0
"""How long a stopped run's processes may outlive it."""


def start(args: list[str], folder: Path, tag: str, **popen: object) -> subprocess.Popen[bytes]:
    """``spicecim args`` in ``folder``, its processes marked by ``tag``; both output streams
    piped unless ``popen`` says otherwise."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "SPICECIM_TEST_RUN": tag}
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    # SIGINT not ignored, as a shell starts a foreground command: a pytest-xdist worker ignores
    # SIGINT, and an ignored signal stays ignored across exec (Python then installs no
    # KeyboardInterrupt handler), so Ctrl-C would never reach the run. A handled signal is reset
    # to its default by exec. (Not a preexec_fn: it forks a process that may hold JAX's threads.)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen([*PROGRAM, *args], cwd=folder, env=env,
                                **streams)  # type: ignore[call-overload]
    finally:
        signal.signal(signal.SIGINT, previous)


def processes(tag: str) -> list[psutil.Process]:
    """Every live process of the run marked ``tag``."""
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get("SPICECIM_TEST_RUN") == tag and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:
            continue
    return found


def left(tag: str) -> list[psutil.Process]:
    """Wait up to :data:`GRACE_S` for the run's processes to end; those that did not."""
    deadline = time.monotonic() + GRACE_S
    while (alive := processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive
