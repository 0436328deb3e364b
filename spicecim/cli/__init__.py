"""The ``spicecim`` command line: a thin click layer over the pipeline modules.

Every user mistake, whether click finds it (a non-numeric value) or spicecim does (a
:class:`~spicecim.errors.SpiceCimError`), ends as one line on stderr and exit code 2; so does
an ``OSError`` (an output that cannot be written), and an input file that ends early (never
click's "Aborted."). Warnings are held to the command's end: shown after its output, dropped
when it ends in an error, so the error's line is all it prints. Ctrl-C exits 130 and SIGTERM
143, both after the command has stopped cleanly (``simulate`` keeps every finished column and
says so); notes from the store (a damaged journal, a lock taken over) are lines on stderr.
"""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING, Any

from spicecim.cli.program import (
    COMMANDS,
    INTERRUPTED_EARLY,
    INTERRUPTED_EXIT,
    TERMINATED_EXIT,
    USAGE_ERROR,
    interrupted_exit,
)
from spicecim.errors import Terminated, quiet_dropped_stop, stop

if TYPE_CHECKING:
    from spicecim.cli.group import OneLineErrors, cli

__all__ = ["COMMANDS", "INTERRUPTED_EARLY", "INTERRUPTED_EXIT", "TERMINATED_EXIT", "USAGE_ERROR",
           "OneLineErrors", "cli", "interrupted_exit", "main"]

def _terminate(signum: int, frame: object) -> None:
    stop(Terminated)


def _interrupt(signum: int, frame: object) -> None:
    stop(KeyboardInterrupt)


def main() -> None:
    """The ``spicecim`` program. Its handlers come first and the command line's libraries
    (click and the group) after them, so a signal that lands while they load is the same one
    line and exit code as one in a command, never a traceback or a silent kill."""
    try:
        sys.unraisablehook = quiet_dropped_stop
        signal.signal(signal.SIGTERM, _terminate)
        # Ctrl-C handled as SIGTERM is (kept for the run's checkpoints), unless this process
        # was started with it ignored (a background job), which it then stays.
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _interrupt)
        from spicecim.cli.group import cli, show_notes

        show_notes()
    except (KeyboardInterrupt, Terminated) as exc:
        sys.stderr.write(INTERRUPTED_EARLY + "\n")
        sys.exit(interrupted_exit(exc))
    cli()


def __getattr__(name: str) -> Any:  # noqa: ANN401 - the command group, loaded when first used
    # The group and its libraries load when first asked for (by main, after its handlers, or
    # by a caller), so importing this package to reach main loads nothing but the stdlib.
    if name in ("cli", "OneLineErrors"):
        from spicecim.cli import group

        return getattr(group, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
