"""Progress a person waits through: a bar over counted work (tqdm) or one line per stage, on
stderr only, so a command's output (``--json`` included) stays clean on stdout. Shown when
stderr is a terminal unless a command says otherwise (``--progress/--no-progress``); a script,
a pipe or a test sees none of it."""

from __future__ import annotations

import sys
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
    """A tqdm bar over ``total`` units of work (a no-op one when progress is hidden)."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, disable=not shown(), file=sys.stderr,
                leave=False)
