"""What the simulation tests share: an executor whose workers start dying mid-run."""

from __future__ import annotations

import concurrent.futures as cf
import threading

import pytest

from spicecim.errors import SimulationError


class FailsAfter(cf.Executor):
    """Runs every task on ``inner`` but reports each after the first ``n`` as failed once it
    has run, as a pool whose workers start dying mid-run does."""

    def __init__(self, inner: cf.Executor, n: int) -> None:
        self._inner, self._n, self._lock = inner, n, threading.Lock()

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:  # noqa: ANN001, ANN003
        real = self._inner.submit(fn, *args, **kwargs)
        with self._lock:
            self._n -= 1
            if self._n >= 0:
                return real
        failed: cf.Future = cf.Future()
        real.add_done_callback(
            lambda _: failed.set_exception(SimulationError("a simulation worker died")))
        return failed


@pytest.fixture
def fails_after() -> type[FailsAfter]:
    """:class:`FailsAfter`, for a test to wrap a real pool's executor."""
    return FailsAfter
