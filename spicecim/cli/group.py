"""The ``spicecim`` command group: one line per error, commands imported when first asked
for (:data:`spicecim.cli.program.COMMANDS`), warnings held to the command's end (the package's
docstring says what a user sees)."""

from __future__ import annotations

import importlib
import logging
import sys
import warnings
from typing import Any

import click

from spicecim import __version__
from spicecim.cli.program import COMMANDS, INTERRUPTED_EARLY, USAGE_ERROR, interrupted_exit
from spicecim.errors import InputFileError, SpiceCimError


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


def show_notes() -> None:
    """Notes from the store (a damaged journal, a lock taken over) as lines on stderr."""
    notes = logging.StreamHandler(sys.stderr)
    notes.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger("spicecim").addHandler(notes)
