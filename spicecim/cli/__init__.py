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

import importlib
import logging
import signal
import sys
import warnings
from typing import Any

import click

from spicecim import __version__
from spicecim.errors import InputFileError, SpiceCimError, Terminated

USAGE_ERROR = 2
INTERRUPTED_EXIT = 128 + signal.SIGINT
TERMINATED_EXIT = 128 + signal.SIGTERM


INTERRUPTED_EARLY = "interrupted before any result was kept; rerun the same command"
"""What a signal says that lands before a command's own handler (simulate's says what it kept)."""


def interrupted_exit(exc: BaseException) -> int:
    """The exit code of a command stopped by ``exc`` (Ctrl-C or SIGTERM)."""
    return TERMINATED_EXIT if isinstance(exc, Terminated) else INTERRUPTED_EXIT


class OneLineErrors(click.Group):
    """A group whose errors are one line each, with click's usage-error exit code, and whose
    commands (:data:`COMMANDS`) are imported when first asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr = COMMANDS[cmd_name].split(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EOFError as exc:  # click would take it for Ctrl-D: "Aborted.", exit 130
            raise InputFileError(f"an input file ended early ({exc or 'end of file'}): "
                                 "expected a complete file") from exc
        except KeyboardInterrupt as exc:
            # Ctrl-C or SIGTERM before a command's own handler (simulate's, which says what it
            # kept): one line, not click's empty line and "Aborted."
            click.echo(INTERRUPTED_EARLY, err=True)
            sys.exit(interrupted_exit(exc))

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # Warnings wait for the command's end: shown after its output, dropped before an
        # error, whose one line says what went wrong.
        with warnings.catch_warnings(record=True) as caught:
            try:
                result = self._one_line_errors(*args, **kwargs)
            except SystemExit as exc:
                if exc.code not in (0, None):
                    raise
                _show(caught)
                raise
        _show(caught)
        return result

    def _one_line_errors(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort as exc:
            # click turns a Ctrl-C or SIGTERM that lands while it parses the command line (before
            # invoke) into Abort: the same one line as one that lands in the command
            interrupted = isinstance(exc.__cause__, KeyboardInterrupt)
            click.echo(INTERRUPTED_EARLY if interrupted else "Aborted.", err=True)
            sys.exit(interrupted_exit(exc.__cause__ or exc))
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(USAGE_ERROR if isinstance(exc, click.UsageError) else exc.exit_code)
        except SpiceCimError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(USAGE_ERROR)
        except OSError as exc:  # an output the system refuses (a folder that is a file, a full
            # disk): the user's to fix, like a bad option value
            click.echo(f"Error: {exc}", err=True)
            sys.exit(USAGE_ERROR)


def _show(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="spicecim")
def cli() -> None:
    """Memristor compute-in-memory: SPICE crossbars to model-level latency, energy, accuracy."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    notes = logging.StreamHandler(sys.stderr)
    notes.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger("spicecim").addHandler(notes)
    cli()


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
