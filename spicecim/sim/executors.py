"""Where the sweep's tasks run: the local process pool, or a Dask cluster.

:func:`local_executor` is the local pool (forkserver workers, each with its own ngspice). Its
workers never outlive the process that made them, however it ends (``kill -9`` included), and
never hold its standard streams open: each watches its parent's PID (a Linux pidfd, polled
elsewhere) and exits the instant that process is gone, and points its own stdin, stdout and
stderr at ``/dev/null``. Without that, the forkserver's workers (whose parent is the forkserver,
kept alive by the workers themselves) wait on their task queue forever, holding the output pipe
of whoever ran spicecim. Ctrl-C reaches only the main process; it stops the workers.

:func:`open_pool` turns a :class:`Cluster` (the ``--workers``, ``--scheduler`` and
``--dask-local`` options) into a :class:`Pool`: a ``concurrent.futures`` executor for
:func:`spicecim.sim.sweep.sweep` and the number of worker processes it batches columns for. It
shuts the executor (and a cluster it started) down on the way out, also on an error.

On Dask every task runs on one worker process and comes back to the caller, the one process
that writes the HDF5 file. The scheduler reruns the tasks of a worker that dies on another
worker (up to ``distributed.scheduler.allowed-failures`` times); each task's result still
arrives exactly once, because the sweep reads each future once. What Dask raises is turned
into spicecim's errors, naming the worker where one is at fault:

- before the sweep, every worker must find ngspice (:func:`spicecim.sim.ngspice.find_library`)
  and run this spicecim version, else :class:`SimulatorNotFoundError` or :class:`ClusterError`
  lists the workers that fail;
- a worker that joins later and lacks ngspice fails its task with the worker's address;
- a task whose every worker died (Dask's ``KilledWorker``) is a :class:`SimulationError`.

Dask is imported only when a cluster is asked for: the local pool does not need it.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import multiprocessing
import os
import re
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import spicecim
from spicecim.errors import ClusterError, SimulationError, SimulatorNotFoundError, check
from spicecim.sim.ngspice import find_library

SCHEDULER_ENV = "SPICECIM_SCHEDULER"
"""A scheduler address used when no executor option is given on the command line."""

# dask's own schemes for a remote scheduler; inproc:// only exists inside one process.
_ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")
ADDRESS_FORMAT = "tcp://HOST:PORT (or tls://HOST:PORT)"

WORKER_WAIT_S = 60.0
"""How long to wait for a scheduler's first worker (batch jobs may start after the client)."""

MIN_TASK_S = 0.3
"""The least work per Dask task: each costs milliseconds of scheduling and a network round
trip, a few percent of this."""
COLUMN_S_PER_ROW = 0.08e-3
"""A column's ngspice CPU time per row, to size Dask tasks: the median over the columns of
16x64 to 256x64 tiles of memristor cells (coupled drive) on one core of the development
machine is 0.08 ms per row; the first column of a worker also loads ngspice (~40 ms)."""


PARENT_POLL_S = 0.2
"""How often a worker checks that its parent lives, where no pidfd can tell it at once."""


BATCHED_PRELOAD = "spicecim.sim.batched.solver"
"""What a pool for the batched engine preloads besides the column module: JAX (importing it
costs 1-2.5 s of CPU, once in the server instead of once per worker; importing JAX starts no
thread, so the server still forks safely)."""


def local_executor(workers: int | None = None, *, batched: bool = False
                   ) -> cf.ProcessPoolExecutor:
    """A process pool of ``workers`` (default: one per core), each with its own ngspice.

    Workers never inherit a loaded ngspice: forkserver forks them from a clean server process
    that has imported this module (and, ``batched``, JAX: :data:`BATCHED_PRELOAD`), so each
    starts in milliseconds. Nor do they import the caller's main module (:func:`main_hidden`).
    The server is one per process: what it preloads is what its first pool asked for.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["spicecim.sim.column", *([BATCHED_PRELOAD] if batched
                                                             else [])])
    return _Pool(max_workers=workers or os.cpu_count() or 1, mp_context=context,
                 initializer=_guard_worker, initargs=(os.getpid(),))


class _Pool(cf.ProcessPoolExecutor):
    """A process pool whose workers, started as tasks are submitted, skip the main module."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        with main_hidden():
            _start_server()
            return super().submit(fn, *args, **kwargs)


def _start_server() -> None:
    """Start the forkserver, if it is not running, with its standard output and error on
    ``/dev/null``. It inherits this process's streams, and a terminal's Ctrl-C reaches the whole
    process group: landing while the server still imports its preloads (it ignores SIGINT only
    after them), or while it forks a worker for a run that has just ended, it printed a
    traceback beside the run's one line; and a run killed while the server imported its
    preloads (seconds on a loaded machine) left the caller's output pipe open until the
    imports ended. The workers point their streams at ``/dev/null`` anyway
    (:func:`_guard_worker`); this process's own streams are restored at once."""
    from multiprocessing import forkserver

    # The server's PID is None until it is started (CPython keeps it on this private object).
    if getattr(forkserver._forkserver, "_forkserver_pid", None) is not None:
        return
    null = os.open(os.devnull, os.O_WRONLY)
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    try:
        for fd in saved:
            os.dup2(null, fd)
        forkserver.ensure_running()
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(null)


@contextmanager
def main_hidden() -> Iterator[None]:
    """While worker processes start, hide where the main module came from, so they do not
    import it: a script that calls spicecim at its top level, without an ``if __name__ ==
    "__main__":`` guard, would run again in every worker (multiprocessing's spawn and
    forkserver re-import the main module in each child). The workers run spicecim's
    functions only and need nothing of it."""
    main = sys.modules.get("__main__")
    saved: dict[str, Any] = {k: main.__dict__[k] for k in ("__file__", "__spec__")
             if main is not None and k in main.__dict__}
    if main is not None:
        main.__dict__.pop("__file__", None)
        main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)
            if "__spec__" not in saved:
                main.__dict__.pop("__spec__", None)


def _guard_worker(parent: int) -> None:
    """Run first in each worker: die with ``parent``, hold none of its streams, leave Ctrl-C
    to it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    threading.Thread(target=_exit_with, args=(parent,), name="spicecim-parent-watch",
                     daemon=True).start()


def _exit_with(parent: int) -> None:
    """Block until process ``parent`` ends, then end this one at once."""
    try:
        fd = os.pidfd_open(parent)
    except ProcessLookupError:
        os._exit(1)  # gone before this worker started
    except (AttributeError, OSError):  # no pidfd here: poll
        while _alive(parent):
            time.sleep(PARENT_POLL_S)
    else:
        select.select([fd], [], [])  # readable once the process has ended
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def stopping(executor: cf.Executor) -> Iterator[cf.Executor]:
    """Shut ``executor`` down on the way out; on an error or an interrupt, first kill a local
    pool's workers, whose columns are lost anyway, so the stop never waits on a running task."""
    try:
        yield executor
    except BaseException:
        if isinstance(executor, cf.ProcessPoolExecutor):
            # ProcessPoolExecutor.kill_workers() is Python 3.14's; its processes, before.
            for process in list((getattr(executor, "_processes", None) or {}).values()):
                with suppress(OSError):
                    process.kill()
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class Cluster:
    """Where to run: ``scheduler`` (an address), ``dask_local`` (a LocalCluster of that many
    worker processes) or, with neither, a local pool of ``workers`` processes (default: one
    per core). At most one of the three is given."""

    scheduler: str | None = None
    dask_local: int | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        given = [f"{n}={v!r}" for n, v in (("scheduler", self.scheduler),
                                          ("dask_local", self.dask_local),
                                          ("workers", self.workers)) if v is not None]
        check(len(given) <= 1, "executor", ", ".join(given),
              "one of scheduler, dask_local or workers, not several")
        if self.scheduler is not None:
            m = _ADDRESS.match(self.scheduler)
            check(m is not None and 1 <= int(m[3]) <= 65535, "scheduler", self.scheduler,
                  ADDRESS_FORMAT)
        for name in ("dask_local", "workers"):
            n = getattr(self, name)
            check(n is None or (isinstance(n, int) and n >= 1), name, n, "an integer >= 1")

    @classmethod
    def from_options(cls, scheduler: str | None, dask_local: int | None, workers: int | None,
                     environ: Mapping[str, str]) -> Cluster:
        """The cluster the options ask for; :data:`SCHEDULER_ENV` only when none of them is
        given, so an option on the command line always wins over the environment."""
        if scheduler is None and dask_local is None and workers is None:
            scheduler = environ.get(SCHEDULER_ENV) or None
        return cls(scheduler, dask_local, workers)


@dataclass(frozen=True, slots=True)
class Pool:
    """An open executor and the worker processes behind it (what the sweep batches for)."""

    executor: cf.Executor
    workers: int
    description: str
    min_task_s: float = 0.0

    def __post_init__(self) -> None:
        check(self.workers >= 1, "workers", self.workers, "an integer >= 1")
        check(self.min_task_s >= 0, "min_task_s", self.min_task_s, "a time >= 0 s")

    def columns_per_task(self, rows: int, columns: int) -> int | None:
        """Columns per task for ``columns`` columns of ``rows`` rows; None leaves the batching
        to the sweep (a few tasks per worker, which a local pool runs at no cost each).

        With ``min_task_s``: as many tasks as the work fills with ``min_task_s`` each, at most
        4 per worker (the sweep's own balance) and a multiple of the workers where there are
        enough, so no worker waits on a last, lone task."""
        if not self.min_task_s:
            return None
        check(rows >= 1 and columns >= 1, "rows, columns", (rows, columns), "integers >= 1")
        work_s = columns * rows * COLUMN_S_PER_ROW
        tasks = min(4 * self.workers, columns, math.floor(work_s / self.min_task_s))
        if tasks >= self.workers:
            tasks -= tasks % self.workers
        return math.ceil(columns / max(tasks, 1))


@contextmanager
def open_pool(cluster: Cluster, *, batched: bool = False) -> Iterator[Pool]:
    """The executor ``cluster`` describes, checked and ready; shut down on exit. ``batched``:
    its tasks run the batched engine (a local pool preloads JAX)."""
    if cluster.scheduler is None and cluster.dask_local is None:
        workers = cluster.workers or os.cpu_count() or 1
        with stopping(local_executor(workers, batched=batched)) as executor:
            yield Pool(executor, workers, f"local pool of {workers} processes")
        return
    with ExitStack() as stack:
        client = stack.enter_context(_client(cluster))
        addresses = check_workers(client)
        what = (f"Dask scheduler {cluster.scheduler}" if cluster.scheduler
                else "Dask LocalCluster")
        executor = stack.enter_context(DaskExecutor(client))
        yield Pool(executor, len(addresses), f"{what}, {len(addresses)} workers", MIN_TASK_S)


@contextmanager
def _client(cluster: Cluster) -> Iterator[Any]:
    """A connected ``distributed.Client`` (and the LocalCluster it owns, if any)."""
    import distributed

    with ExitStack() as stack:
        if cluster.dask_local is not None:
            # One thread per worker process: ngspice is not re-entrant, so a second thread would
            # only wait on the session lock. Any free port for the scheduler's web page: its
            # default, 8787, may belong to another cluster on this machine.
            with main_hidden():  # its worker processes start here (see main_hidden)
                local = distributed.LocalCluster(n_workers=cluster.dask_local,
                                                 threads_per_worker=1, processes=True,
                                                 dashboard_address="127.0.0.1:0")
            stack.enter_context(local)
            address = local.scheduler_address
        else:
            assert cluster.scheduler is not None  # the one mode left
            address = cluster.scheduler
        try:
            client = distributed.Client(address, set_as_default=False)
        except OSError as exc:  # dask's connection time-out is an OSError too
            raise ClusterError(f"cannot reach the Dask scheduler at {address} ({exc}): start it "
                               f"with 'dask scheduler' or fix --scheduler/{SCHEDULER_ENV}") from exc
        stack.enter_context(client)
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except TimeoutError as exc:
            raise ClusterError(f"the Dask scheduler at {address} has no workers after "
                               f"{WORKER_WAIT_S:g} s: start some with 'dask worker {address} "
                               "--nthreads 1'") from exc
        yield client


def _probe_worker() -> str:
    """Run on every worker: its spicecim version, once it has found ngspice."""
    find_library()
    return spicecim.__version__


def check_workers(client: Any) -> list[str]:
    """The workers' addresses, once every one has found ngspice and runs this spicecim."""
    answers = client.run(_probe_worker, on_error="return")
    missing = {a: r for a, r in answers.items() if isinstance(r, SimulatorNotFoundError)}
    if missing:
        raise SimulatorNotFoundError(
            f"ngspice is missing on {len(missing)} of {len(answers)} Dask workers: "
            + "; ".join(f"{a}: {r}" for a, r in sorted(missing.items())))
    wrong = {a: r for a, r in answers.items() if r != spicecim.__version__}
    if wrong:
        raise ClusterError(
            f"{len(wrong)} of {len(answers)} Dask workers cannot run spicecim "
            f"{spicecim.__version__}: "
            + "; ".join(f"{a}: {_describe(r)}" for a, r in sorted(wrong.items())))
    return sorted(answers)


def _describe(answer: object) -> str:
    if isinstance(answer, BaseException):
        return f"{type(answer).__name__}: {answer}"
    return f"spicecim {answer}"


def _on_worker(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a task; a missing ngspice names the worker (one may join after the check)."""
    try:
        return fn(*args)
    except SimulatorNotFoundError as exc:
        from distributed import get_worker

        raise SimulatorNotFoundError(f"Dask worker {get_worker().address}: {exc}") from None


class _Relay(cf.Future):
    """The caller's side of a Dask task: cancelling it cancels the task on the cluster."""

    def __init__(self, task: Any) -> None:
        super().__init__()
        self._task = task

    def cancel(self) -> bool:
        cancelled = super().cancel()
        if cancelled and self._task is not None:
            self._task.cancel()
        return cancelled

    def settle(self) -> None:
        """Take the finished task's outcome (in Dask's callback thread), then let the task go,
        so the worker frees its copy of the result instead of keeping it for the whole sweep.

        The outcome is fetched with ``result()``, never judged from ``status``: a worker that
        dies holding the result turns a finished task back into a pending one, and
        ``result()`` waits for the rerun."""
        from distributed.scheduler import KilledWorker

        task, self._task = self._task, None
        if self.done():  # cancelled by the caller
            return
        try:
            outcome = task.result()
        except KilledWorker as exc:
            error: BaseException = SimulationError(
                f"every Dask worker that ran task {exc.task} died ({exc.allowed_failures + 1} "
                "tries: ngspice crashed or the workers were killed); rerun the same command "
                "to resume")
        except BaseException as exc:  # Dask's CancelledError is a BaseException
            error = exc
            if task.cancelled():
                error = SimulationError("the Dask scheduler cancelled a task (it shut down or "
                                        "lost this client); rerun the same command to resume")
        else:
            with suppress(cf.InvalidStateError):  # the caller cancelled meanwhile
                self.set_result(outcome)
            return
        with suppress(cf.InvalidStateError):
            self.set_exception(error)


class DaskExecutor(cf.Executor):
    """``concurrent.futures`` over a ``distributed.Client``, with spicecim's errors.

    Unlike ``Client.get_executor()``, a task lost with every worker that ran it is a
    :class:`SimulationError` (the CLI's one line), not Dask's ``KilledWorker``; a result
    leaves the worker's memory once it has arrived; and tasks are never pure (two tasks with
    equal arguments both run).
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._running: set[Any] = set()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        task = self._client.submit(_on_worker, fn, *args, pure=False, **kwargs)
        relay = _Relay(task)
        self._running.add(task)

        def done(finished: Any) -> None:
            relay.settle()
            self._running.discard(finished)

        task.add_done_callback(done)
        return relay

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        running = list(self._running)
        if cancel_futures or not wait:
            self._client.cancel(running)
        elif running:
            self._client.gather(running, errors="skip")
