"""What the ``spicecim`` program is, apart from its libraries: its commands, where each lives,
and its exit codes (stdlib only, so :func:`spicecim.cli.main` sets its handlers before
anything heavier loads)."""

from __future__ import annotations

import signal

from spicecim.errors import Terminated

USAGE_ERROR = 2
INTERRUPTED_EXIT = 128 + signal.SIGINT
TERMINATED_EXIT = 128 + signal.SIGTERM


INTERRUPTED_EARLY = "interrupted before any result was kept; rerun the same command"
"""What a signal says that lands before a command's own handler (simulate's says what it kept)."""


def interrupted_exit(exc: BaseException) -> int:
    """The exit code of a command stopped by ``exc`` (Ctrl-C or SIGTERM)."""
    return TERMINATED_EXIT if isinstance(exc, Terminated) else INTERRUPTED_EXIT


COMMANDS = {
    "acam": "spicecim.cli.acam:acam",
    "evaluate": "spicecim.cli.evaluate:evaluate",
    "generate": "spicecim.cli.generate:generate",
    "macro": "spicecim.cli.macro:macro",
    "nerf": "spicecim.cli.nerf:nerf_cmd",
    "plot": "spicecim.cli.plot:plot",
    "simulate": "spicecim.cli.simulate:simulate",
    "solve": "spicecim.cli.solve:solve_cmd",
    "tables": "spicecim.cli.tables:tables",
}
"""Each command and where it lives: imported only when it runs (or ``--help`` lists it), so
``spicecim --version`` loads neither SciPy, h5py, matplotlib nor JAX."""
