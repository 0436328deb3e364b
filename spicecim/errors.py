"""The error tree. The CLI turns every :class:`SpiceCimError` into one line and exit code 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


class SpiceCimError(Exception):
    """Base of every error spicecim raises on purpose."""


class SpecError(SpiceCimError, ValueError):
    """A specification or option has a value outside what is accepted."""


def check(condition: object, field: str, value: object, accepted: str) -> None:
    """Raise :class:`SpecError` naming ``field``, the bad ``value`` and what is ``accepted``."""
    if not condition:
        raise SpecError(f"{field}={value!r} is invalid: expected {accepted}")


class NetlistError(SpiceCimError):
    """A netlist cannot be built from the given specification."""


class SimulatorNotFoundError(SpiceCimError):
    """ngspice (the shared library) cannot be found or loaded."""


class SimulationError(SpiceCimError):
    """ngspice failed on a netlist; carries its run directory and output."""

    def __init__(self, message: str, output: str = "", run_dir: Path | None = None) -> None:
        super().__init__(message)
        self.output = output
        self.run_dir = run_dir


class ClusterError(SpiceCimError):
    """A Dask cluster cannot be reached, has no workers, or its workers cannot run spicecim."""


class ResultFileError(SpiceCimError):
    """A result file is missing, foreign, corrupt or does not match the request."""


class InputFileError(SpecError, ResultFileError):
    """A user's input file (an array, a model's weights) is missing, unreadable, or holds what
    is not accepted: a bad option value and a bad file at once."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C raises :class:`KeyboardInterrupt`, so a
    terminated run stops the way an interrupted one does (finished work kept)."""


# The stop a signal handler raised, kept until a checkpoint re-raises it: an exception raised
# by a handler while the main thread runs a weakref callback or a ``__del__`` is printed as
# "Exception ignored" and dropped by Python, and the run would go on to exit 0.
_pending_stop: list[type[KeyboardInterrupt]] = []


def stop(kind: type[KeyboardInterrupt]) -> None:
    """Raise ``kind`` from a signal handler, kept for :func:`raise_if_stopped` as well."""
    _pending_stop[:] = [kind]
    raise kind


def raise_if_stopped() -> None:
    """A loop's checkpoint: raise again a stop that a signal handler raised and Python dropped."""
    if _pending_stop:
        raise _pending_stop.pop()


def quiet_dropped_stop(unraisable: Any) -> None:  # noqa: ANN401 - sys.UnraisableHookArgs
    """``sys.unraisablehook``: a stop Python dropped (kept for :func:`raise_if_stopped`) prints
    nothing, where Python would print "Exception ignored" and a traceback beside the run's one
    line; anything else as Python prints it."""
    if _pending_stop and isinstance(unraisable.exc_value, KeyboardInterrupt):
        return
    sys.__unraisablehook__(unraisable)
