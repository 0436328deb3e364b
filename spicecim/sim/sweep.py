"""The sweep: a tile's columns batched into tasks on any ``concurrent.futures`` executor.

A local process pool by default (forkserver workers, so none inherits a loaded ngspice); a Dask
``Client.get_executor()`` works the same. The task function :func:`simulate_task` is top level
and takes and returns plain picklable data; results come back to the caller's process.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import math
import os
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np

from spicecim.errors import SimulationError, SpecError, check, raise_if_stopped
from spicecim.netlist.crossbar import RowDrive, isolated_drive
from spicecim.netlist.spec import Tile
from spicecim.sim.column import ColumnRun, simulate_column, simulate_column_inputs
from spicecim.sim.executors import local_executor, stopping
from spicecim.sim.ngspice import NgspiceSession
from spicecim.sim.scales import SimOptions

COLUMN_DRIVES = ("coupled", "solver", "isolated")
"""The column decompositions: each column alone, its rows as Thevenin sources
(:func:`solve_drives`)."""
DRIVES = ("array", *COLUMN_DRIVES)
"""Every drive: ``array`` is no decomposition, the whole tile one circuit (batched engine)."""
BEST_COLUMN_DRIVE = "coupled"
"""The decomposition whose columns agree best with the full-array transient
(tests/sim/test_column.py: 32x32 latencies within 1.5 %, 64x64 within 3.8 %; solver 2.9 % and
9.2 %); the ngspice engine's default."""
ENGINE_DRIVES = {"ngspice": BEST_COLUMN_DRIVE, "batched": "array"}
"""Each engine's default drive. The batched engine solves the whole tile at about the columns'
cost, and the coupled decomposition is 7.1 % off the full array in median latency at 256x256
(15.3 % at worst; README, "The full array as one circuit"). ngspice's full array is out of
reach (about 40 h at 128x128), and its deck reports the sources' power for the whole array, not
each column's share, so ngspice runs the decomposition."""

ENGINES = ("ngspice", "batched")
"""The simulators a column can run on: ngspice (the reference) or the batched engine
(:mod:`spicecim.sim.batched`), which solves a task's columns together."""
DEFAULT_ENGINE = "ngspice"

# Test hook: comma-separated column indices whose netlist gains a current 1e6 (|v(out)| + 1 mV)^2
# A into the sampling capacitor: positive feedback with no operating point, so no tolerance
# converges.
# Read where the sweep starts, so pool workers (started earlier, with another environment)
# still see it.
UNCONVERGEABLE_ENV = "SPICECIM_TEST_UNCONVERGEABLE"


def unconvergeable_columns() -> frozenset[int]:
    """The columns the test hook (:data:`UNCONVERGEABLE_ENV`) breaks."""
    text = os.environ.get(UNCONVERGEABLE_ENV, "")
    return frozenset(int(c) for c in text.split(",") if c.strip())


@dataclass(frozen=True, slots=True)
class ColumnTask:
    """A batch of columns of one tile: what a worker needs, as plain picklable data."""

    tile: Tile
    columns: tuple[int, ...]
    drives: tuple[RowDrive, ...]
    options: SimOptions
    unconvergeable: frozenset[int] = frozenset()
    engine: str = "ngspice"


@dataclass(frozen=True, slots=True)
class ArrayTask:
    """A whole tile as one circuit on the batched engine; ``columns``: the runs to return."""

    tile: Tile
    columns: tuple[int, ...]
    options: SimOptions
    unconvergeable: frozenset[int] = frozenset()


def choose_drive(drive: str | None, engine: str, tile: Tile) -> str:
    """The drive a run uses: ``drive``, or the engine's default (:data:`ENGINE_DRIVES`; the
    coupled decomposition where the batched full array cannot solve ``tile``). A full array the
    engine cannot run is refused."""
    from spicecim.sim.batched.array import unsupported_array

    check(drive is None or drive in DRIVES, "drive", drive, f"one of {DRIVES}")
    check(engine in ENGINES, "engine", engine, f"one of {ENGINES}")
    reason = unsupported_array(tile)
    if drive is None:
        drive = ENGINE_DRIVES[engine]
        return BEST_COLUMN_DRIVE if drive == "array" and reason is not None else drive
    if drive == "array":
        check(engine == "batched", "drive", drive, f"a column drive {COLUMN_DRIVES} on ngspice "
              "(its full array reports no column's energy and takes ~40 h at 128x128); the "
              "array drive runs on --engine batched")
        if reason is not None:
            raise SpecError(f"drive='array' is invalid for this tile: {reason}; expected a "
                            f"column drive {COLUMN_DRIVES}")
    return drive


def simulate_array_task(task: ArrayTask) -> list[ColumnRun]:
    """The worker function of the array drive: one full-array transient, each asked column's
    run (:func:`~spicecim.sim.batched.array.array_column_runs`). Where Newton fails on it (or
    the test hook breaks a column: an element of each column's netlist), the tile's columns
    run on the coupled decomposition instead, each saying so in its message."""
    from spicecim.sim.batched.array import array_column_runs

    try:
        if task.unconvergeable:
            raise SimulationError("the test hook breaks columns "
                                  f"{sorted(task.unconvergeable)}")
        runs = array_column_runs(task.tile, task.options)
        return [runs[j] for j in task.columns]
    except SimulationError as exc:
        drives = row_drives(task.tile, BEST_COLUMN_DRIVE)
        runs = _batched([(task.tile, j, drives[j]) for j in task.columns], task.options,
                        task.unconvergeable)
        why = f"full array failed ({exc}): coupled decomposition"
        return [dataclasses.replace(r, message=f"{why}; {r.message}" if r.message else why)
                for r in runs]


@dataclass(frozen=True, slots=True)
class GroupTask:
    """A batch of columns of tiles that share their conductances: ``drives[k][c]`` is tile
    ``k``'s drive of column ``columns[c]``, None where that tile does not need the column."""

    keys: tuple[str, ...]
    tiles: tuple[Tile, ...]
    columns: tuple[int, ...]
    drives: tuple[tuple[RowDrive | None, ...], ...]
    options: SimOptions
    unconvergeable: frozenset[int] = frozenset()
    engine: str = "ngspice"


def simulate_group_task(task: GroupTask) -> list[tuple[str, ColumnRun]]:
    """The worker function of a group: each column loaded once, run for each input (the
    batched engine: every column and input of the task solved together)."""
    if task.engine == "batched":
        keyed = [(task.keys[k], (task.tiles[k], j, d))
                 for c, j in enumerate(task.columns) for k in range(len(task.tiles))
                 if (d := task.drives[k][c]) is not None]
        runs = _batched([c for _, c in keyed], task.options, task.unconvergeable)
        return [(key, run) for (key, _), run in zip(keyed, runs, strict=True)]
    session = NgspiceSession()
    out = []
    for c, j in enumerate(task.columns):
        wanted = [k for k in range(len(task.tiles)) if task.drives[k][c] is not None]
        drives = [task.drives[k][c] for k in wanted]
        runs = simulate_column_inputs([task.tiles[k] for k in wanted], j,
                                      [d for d in drives if d is not None], task.options,
                                      session, unconvergeable=j in task.unconvergeable)
        out += [(task.keys[k], r) for k, r in zip(wanted, runs, strict=True)]
    return out


def simulate_task(task: ColumnTask) -> list[ColumnRun]:
    """The worker function: every column of a task, one after another, in this process (the
    batched engine: all of them together)."""
    if task.engine == "batched":
        return _batched([(task.tile, j, d) for j, d in zip(task.columns, task.drives,
                                                           strict=True)],
                        task.options, task.unconvergeable)
    session = NgspiceSession()
    return [simulate_column(task.tile, j, d, task.options, session,
                            unconvergeable=j in task.unconvergeable)
            for j, d in zip(task.columns, task.drives, strict=True)]


def _batched(columns: Sequence[tuple[Tile, int, RowDrive]], options: SimOptions,
             unconvergeable: frozenset[int]) -> list[ColumnRun]:
    """Columns on the batched engine. A column it fails to converge is run in ngspice (which
    retries it relaxed, or records it failed with its message), and so is a column of a
    circuit it does not solve (:func:`~spicecim.sim.batched.circuit.unsupported`) or that the
    test hook breaks (:data:`UNCONVERGEABLE_ENV`: the hook is an element of the netlist). Each
    column's ``ngspice_options`` say which engine ran it."""
    from spicecim.sim.batched.circuit import unsupported  # JAX only where it runs
    from spicecim.sim.batched.engine import simulate_columns

    runs: list[ColumnRun | None] = [None] * len(columns)
    solvable = [n for n, (t, j, _) in enumerate(columns)
                if j not in unconvergeable and unsupported(t) is None]
    if solvable:
        for n, run in zip(solvable, simulate_columns([columns[n] for n in solvable], options),
                          strict=True):
            runs[n] = None if run.status == "failed" else run
    session = NgspiceSession()
    return [run if run is not None else simulate_column(
        tile, j, d, options, session, unconvergeable=j in unconvergeable)
        for run, (tile, j, d) in zip(runs, columns, strict=True)]


_SOLVED: dict[tuple[str, str], list[RowDrive]] = {}


def row_drives(tile: Tile, mode: str) -> list[RowDrive]:
    """:func:`solve_drives`, kept for the last few tiles (by digest): a batched run's spot
    check asks again for the drives its sweep solved."""
    key = (tile.digest(), mode)
    if key not in _SOLVED:
        if len(_SOLVED) >= 8:
            _SOLVED.pop(next(iter(_SOLVED)))
        _SOLVED[key] = solve_drives(tile, mode)
    return list(_SOLVED[key])


def solve_drives(tile: Tile, mode: str) -> list[RowDrive]:
    """Each column's rows as Thevenin sources, one :class:`RowDrive` per column.

    - ``isolated``: the row's own DAC, driver and wire up to the column; no other column.
    - ``solver``: :func:`spicecim.solve.row_drives`: same resistance, source raised so the DC
      row-node voltages are the full array's (IR drop of every other column).
    - ``coupled``: the same DC row-node voltages, behind the row's common-mode resistance
      ``sum_k (r_out + (min(j, k) + 1) r_row)``: the drop the row node sees when every column
      of the row draws the current this one draws. All columns settle together, so in the full
      array the row voltage recovers as they all settle; a column alone behind its own series
      resistance misses that, and settles faster than it does in the array.
    """
    check(mode in COLUMN_DRIVES, "drive", mode, f"one of {COLUMN_DRIVES}")
    if mode == "isolated":
        return [isolated_drive(tile, j) for j in range(tile.spec.cols)]
    from spicecim import solve  # scipy stays out of the workers' imports

    if mode == "solver":
        return solve.row_drives(tile)
    sol = solve.solve(tile, nodes=True)
    assert sol.v_row_v is not None  # asked for with nodes=True
    spec, k = tile.spec, np.arange(tile.spec.cols)
    r = np.sum(spec.driver.r_out_ohm + (np.minimum.outer(k, k) + 1) * spec.wire.r_row_ohm, axis=1)
    v_th = (sol.v_row_v + sol.cell_current_a * r).T.copy()  # a column's rows contiguous
    return [RowDrive(v_th_v=v_th[j], r_th_ohm=np.full(spec.rows, r[j]))
            for j in range(spec.cols)]


@dataclass(frozen=True, slots=True)
class SweepPart:
    """Columns of one tile for :func:`sweep_tiles`, under ``key`` (e.g. the tile's name in a
    run): the tile, one :class:`RowDrive` per column, the options and the columns to run.
    Given ``drive`` (a mode of :func:`row_drives`) instead of ``drives``, the drives are solved
    on a thread a few parts before the part's first task is made (a group's members before the
    group's first task): a job of many tiles starts simulating after the first tile's or
    group's solves, and the next ones' solves overlap the simulation and the collection of
    results.
    Parts of one ``group`` share their conductances and options (one tile under several
    inputs): each of their columns is loaded once and run for every input that needs it
    (:func:`~spicecim.sim.column.simulate_column_inputs`). The ``array`` drive makes one task
    of a part's columns (:class:`ArrayTask`; a group's: one per tile and input)."""

    key: str
    tile: Tile
    drives: tuple[RowDrive, ...]
    options: SimOptions
    columns: tuple[int, ...]
    group: str | None = None
    drive: str | None = None
    engine: str = "ngspice"

    def __post_init__(self) -> None:
        check(self.engine in ENGINES, "engine", self.engine, f"one of {ENGINES}")
        if self.drive is not None:
            check(self.drive in DRIVES, "drive", self.drive, f"one of {DRIVES}")
            check(not self.drives, "drives", len(self.drives), "none when a drive mode is given")
            check(self.drive != "array" or self.engine == "batched", "engine", self.engine,
                  "'batched' for the array drive")
        else:
            check(len(self.drives) == self.tile.spec.cols, "drives", len(self.drives),
                  f"{self.tile.spec.cols} (one per column)")

    def solved(self) -> tuple[RowDrive, ...]:
        """The part's drives, solved now when it was given a drive mode (none for the array)."""
        if self.drive == "array":
            return ()
        return self.drives if self.drive is None else tuple(row_drives(self.tile, self.drive))


IN_FLIGHT_PER_WORKER = 4
"""Tasks handed to the executor ahead of the results per worker: enough to keep every worker
busy, few enough that a job of many tiles never holds them all (each task carries its tile)."""


def sweep(tile: Tile, drives: Sequence[RowDrive], options: SimOptions, *,
          columns: Sequence[int] | None = None, executor: cf.Executor | None = None,
          workers: int | None = None, columns_per_task: int | None = None
          ) -> Iterator[list[ColumnRun]]:
    """Simulate ``columns`` of one tile (all by default), yielding each task's runs as it
    completes (:func:`sweep_tiles` for one tile)."""
    columns = list(range(tile.spec.cols)) if columns is None else list(columns)
    part = SweepPart("", tile, tuple(drives), options, tuple(columns))
    for _, runs in sweep_tiles([part], executor=executor, workers=workers,
                               columns_per_task=columns_per_task):
        yield runs


def sweep_tiles(parts: Sequence[SweepPart], *, executor: cf.Executor | None = None,
                workers: int | None = None, columns_per_task: int | None = None
                ) -> Iterator[tuple[str, list[ColumnRun]]]:
    """Simulate every part's columns on one executor, yielding ``(key, runs)`` per task as it
    completes. Without ``executor`` a local pool of ``workers`` processes (all cores by default)
    is made and stopped at the end. At most :data:`IN_FLIGHT_PER_WORKER` tasks per worker are
    submitted ahead, in the parts' order."""
    parts = [p for p in parts if p.columns]
    if not parts:
        return
    if executor is None:
        with stopping(local_executor(workers)) as pool:
            yield from sweep_tiles(parts, executor=pool, workers=workers,
                                   columns_per_task=columns_per_task)
        return
    pool = executor
    # ProcessPoolExecutor says how many workers it has; other executors count as one per core.
    n_workers = workers or getattr(pool, "_max_workers", None) or os.cpu_count() or 1
    broken = unconvergeable_columns()
    tasks = _tasks(parts, columns_per_task, n_workers, broken)
    running: dict[cf.Future, str | None] = {}

    def submit() -> None:
        for key, fn, task in tasks:
            running[pool.submit(fn, task)] = key
            if len(running) >= IN_FLIGHT_PER_WORKER * n_workers:
                return

    try:
        submit()
        while running:
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            raise_if_stopped()
            for future in done:
                key = running.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool as exc:
                    raise SimulationError("a simulation worker died (ngspice crashed or was "
                                          "killed); rerun the same command to resume") from exc
                if key is not None:
                    yield key, result
                    continue
                by_key: dict[str, list[ColumnRun]] = {}
                for k, run in result:
                    by_key.setdefault(k, []).append(run)
                yield from by_key.items()
            submit()
    finally:
        # A local pool is stopped as a whole (executors.stopping), which drops what has not run;
        # a future cancelled here would break CPython 3.11's pool when its workers are then
        # killed (terminate_broken sets an exception on it: InvalidStateError, printed).
        if not isinstance(pool, cf.ProcessPoolExecutor):
            for future in running:
                future.cancel()


def _tasks(parts: Sequence[SweepPart], size: int | None, workers: int, broken: frozenset[int]
           ) -> Iterator[tuple[str | None, Callable[..., Any], object]]:
    """``(key, worker function, task)`` for every batch, made as they are asked for: a part's
    own key, or None for a group's task (its runs carry their keys). The parts' drives
    (:meth:`SweepPart.solved`) are solved :data:`SOLVED_AHEAD` parts ahead on a thread, so the
    caller goes on collecting results while the next parts' DC solves run."""
    groups: dict[str, list[SweepPart]] = {}
    for p in parts:
        if p.group is not None:
            groups.setdefault(p.group, []).append(p)
    singles = [p for p in parts if p.group is None]
    drives = _solved_ahead([*singles, *(m for members in groups.values() for m in members)])
    # Closed here, not by the garbage collector: a signal's exception raised while the
    # solver's thread is joined must reach the run, not be lost in a finaliser.
    try:
        for p in singles:
            solved = next(drives)
            if p.drive == "array":
                yield p.key, simulate_array_task, ArrayTask(p.tile, p.columns, p.options,
                                                            broken & set(p.columns))
                continue
            for b in _batches(p.columns, size, workers):
                yield (p.key, simulate_task, ColumnTask(
                    p.tile, b, tuple(solved[j] for j in b), p.options, broken & set(b), p.engine))
        for members in groups.values():
            if members[0].drive == "array":  # no column shared: each tile and input its own
                for p in members:
                    next(drives)
                    yield p.key, simulate_array_task, ArrayTask(p.tile, p.columns, p.options,
                                                                broken & set(p.columns))
                continue
            columns = sorted(set().union(*(set(p.columns) for p in members)))
            pending = [set(p.columns) for p in members]
            by_part = [next(drives) for _ in members]
            for batch in _batches(columns, size, workers):
                by_member = tuple(tuple(d[j] if j in todo else None for j in batch)
                                  for d, todo in zip(by_part, pending, strict=True))
                yield (None, simulate_group_task, GroupTask(
                    tuple(p.key for p in members), tuple(p.tile for p in members), batch, by_member,
                    members[0].options, broken & set(batch), members[0].engine))
    finally:
        drives.close()


SOLVED_AHEAD = 2
"""Parts whose drives are solved ahead of the task that needs them: the next one is ready
when it is asked for; more would only hold more drives in memory."""


def _solved_ahead(parts: Sequence[SweepPart]) -> Generator[tuple[RowDrive, ...]]:
    """Each part's drives in order, solved on one thread :data:`SOLVED_AHEAD` parts ahead."""
    with cf.ThreadPoolExecutor(1, thread_name_prefix="spicecim-drives") as solver:
        queue = deque(solver.submit(p.solved) for p in parts[:SOLVED_AHEAD])
        for p in parts[SOLVED_AHEAD:]:
            queue.append(solver.submit(p.solved))
            yield queue.popleft().result()
        while queue:
            yield queue.popleft().result()


def _batches(columns: Sequence[int], size: int | None, workers: int) -> list[tuple[int, ...]]:
    # A few tasks per worker balance the load; fewer would leave cores idle at the end.
    size = size or max(1, math.ceil(len(columns) / (4 * workers)))
    return [tuple(columns[k:k + size]) for k in range(0, len(columns), size)]
