"""A stop that Python drops: a signal handler's exception raised inside a ``__del__`` (or a
weakref callback) is printed as "Exception ignored" and lost. The CLI's handlers keep it for the
run's checkpoints, so Ctrl-C or SIGTERM still stops the run (once seen in CI: a Ctrl-C landing
in ``WeakSet._remove`` let a simulate run finish and exit 0)."""

from __future__ import annotations

import signal
import sys
from typing import Any

import pytest

from spicecim import cli as program
from spicecim.errors import Terminated, quiet_dropped_stop, raise_if_stopped


class _SignalledWhileCollected:
    """Its ``__del__`` is where the signal lands: the handler runs (and raises) inside it."""

    def __init__(self, sig: int, handler: Any) -> None:  # noqa: ANN401 - a signal handler
        self.sig, self.handler = sig, handler

    def __del__(self) -> None:
        self.handler(self.sig, None)


@pytest.mark.parametrize(("sig", "handler", "kind"), [
    (signal.SIGINT, program._interrupt, KeyboardInterrupt),
    (signal.SIGTERM, program._terminate, Terminated),
], ids=["SIGINT", "SIGTERM"])
def test_a_stop_python_drops_is_raised_at_the_next_checkpoint(
        monkeypatch: pytest.MonkeyPatch, sig: int, handler: Any, kind: type) -> None:  # noqa: ANN401
    dropped: list[type] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: dropped.append(u.exc_type))
    _SignalledWhileCollected(sig, handler)  # collected at once; its handler's raise is dropped
    assert dropped == [kind]
    with pytest.raises(kind):
        raise_if_stopped()
    raise_if_stopped()  # raised once: the checkpoint after it passes


def test_no_signal_no_stop() -> None:
    raise_if_stopped()


def test_a_dropped_stop_prints_nothing_and_other_errors_print(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "unraisablehook", quiet_dropped_stop)
    _SignalledWhileCollected(signal.SIGTERM, program._terminate)
    assert capsys.readouterr().err == ""  # the run's one line stays the only one
    with pytest.raises(Terminated):
        raise_if_stopped()
    _Failing()  # not a stop: Python's own "Exception ignored" report
    assert "Exception ignored" in capsys.readouterr().err


class _Failing:
    def __del__(self) -> None:
        raise RuntimeError("not a stop")
