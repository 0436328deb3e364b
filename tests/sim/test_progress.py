"""Progress shows life: a run's bar is redrawn at least every 2 s from its first line to its
last, even while no column has finished yet (the co-simulation's bar once sat at 0 % for a
minute), and its estimate is the average rate since the start."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from spicecim.progress import ticking

LIFE_S = 2.0


class _Bar:
    """What :func:`ticking` needs of a tqdm bar: its redraws, counted."""

    disable = False

    def __init__(self) -> None:
        self.redrawn: list[float] = []
        self.closed = False

    def refresh(self) -> None:
        self.redrawn.append(time.monotonic())

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True


def test_a_bar_is_redrawn_every_tick_while_nothing_finishes_and_stops_with_its_block() -> None:
    bar = _Bar()
    start = time.monotonic()
    with ticking(bar, every_s=0.2):
        time.sleep(1.1)
    threads = [t.name for t in threading.enumerate()]
    assert bar.closed and "progress" not in threads
    assert len(bar.redrawn) >= 3 and bar.redrawn[0] - start < LIFE_S
    count = len(bar.redrawn)
    time.sleep(0.5)
    assert len(bar.redrawn) == count  # the ticks end with the block


def _updates(folder: Path, args: list[str]) -> tuple[list[tuple[float, str]], int]:
    """Every redraw of the run's stderr, with the time it arrived."""
    with subprocess.Popen([sys.executable, "-c", "from spicecim.cli import main; main()",
                           *args], cwd=folder, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE) as proc:
        assert proc.stderr is not None
        seen: list[tuple[float, str]] = []
        while chunk := os.read(proc.stderr.fileno(), 4096):
            now = time.monotonic()
            seen += [(now, part) for part in chunk.decode().replace("\r", "\n").split("\n")
                     if part.strip()]
        return seen, proc.wait(timeout=300)


@pytest.mark.ngspice
@pytest.mark.slow
def test_a_runs_bar_shows_life_every_2_s_from_its_first_line(tmp_path: Path) -> None:
    # one worker: its start and its first task of columns take seconds, no column finishing
    updates, code = _updates(tmp_path, ["simulate", "--rows", "32", "--cols", "32",
                                        "--workers", "1", "--progress", "--out", "run.h5"])
    assert code == 0, updates
    bar = [(t, text) for t, text in updates if text.startswith("columns:")]
    assert bar and "100%" in bar[-1][1], updates
    gaps = [b[0] - a[0] for a, b in zip(bar, bar[1:], strict=False)]
    assert max(gaps, default=0.0) < LIFE_S, (gaps, bar)
