"""Progress a person waits through: a bar over counted work (tqdm) or one line per stage, on
stderr only, so a command's output (``--json`` included) stays clean on stdout. Shown when
stderr is a terminal unless a command says otherwise (``--progress/--no-progress``); a script,
a pipe or a test sees none of it."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

_shown: bool | None = None


def show(on: bool | None) -> None:
    """Show progress (True), hide it (False), or show it when stderr is a terminal (None)."""
    global _shown
    _shown = on


def shown() -> bool:
    return sys.stderr.isatty() if _shown is None else _shown


def stage(message: str) -> None:
    """One line saying what is being done now (and, where it is long, about how long)."""
    if shown():
        print(message, file=sys.stderr, flush=True)


def bar(total: int, unit: str, desc: str) -> Any:  # noqa: ANN401 - tqdm's type
    """A tqdm bar over ``total`` units of work (a no-op one when progress is hidden), its
    estimate from the average rate since the start (``smoothing=0``): tqdm's default, a moving
    average over the last few updates, swings whenever the units' times vary (the first
    compiles) and never settles."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, disable=not shown(), file=sys.stderr,
                leave=False, smoothing=0)


TICK_S = 1.0
"""How often a long step's bar is redrawn while no unit of it has finished."""


@contextmanager
def ticking(bar: Any, every_s: float = TICK_S) -> Iterator[Any]:  # noqa: ANN401 - tqdm's type
    """``bar`` (a tqdm bar), redrawn every ``every_s`` on a thread until the block ends: a bar
    otherwise redraws only when a unit of work finishes, so one whose first units are long (a
    co-simulation's tasks of many columns) sat at 0 % with no sign of life for a minute. The
    elapsed time now moves every second from the start."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every_s):
            bar.refresh()

    thread = threading.Thread(target=tick, name="progress", daemon=True)
    with bar:
        if not bar.disable:
            thread.start()
        try:
            yield bar
        finally:
            stop.set()
            if thread.is_alive():
                thread.join()


def counting(total: int, unit: str, desc: str) -> AbstractContextManager[Any]:
    """:func:`bar` redrawn every second by :func:`ticking`: a long step's bar, alive within
    :data:`TICK_S` of its start, its estimate from the average rate."""
    return ticking(bar(total, unit, desc), TICK_S)
