"""Monte Carlo over programming variation: the spread of a layer's latency and energy.

Replica ``k`` (1..N) is the tile programmed again: every cell's conductance ``G`` becomes
``clip(G + sigma_G(G) z, g_off, g_on)``, ``z`` standard normal, ``sigma_G`` from
:func:`spicecim.netlist.weights.programming_sigma_s` (Milo et al., IRPS 2021: the formula the
accuracy pass uses too); the inputs stay. Its draws come from child ``k`` of
``numpy.random.SeedSequence(seed)``, so replica ``k`` is the same whatever ``N`` is, and
independent of the weights and inputs ``default_rng(seed)`` drew.

:func:`add_replicas` extends a nominal run (``spicecim simulate``'s ``tile0`` and ``layer0``,
every column simulated, left unfinished by :func:`spicecim.driver.simulate_to_file` because its
configuration records the replicas) through :class:`spicecim.store.hdf5.RunWriter`, so resuming
works as for the nominal tile, and the file is complete only once every replica is in:

- ``tile0_mcKKKK``: each replica's column table, simulated and measured as the nominal one;
- ``layer0_pPP`` for each ``PP`` of :data:`PERCENTILES`: the schedules with every figure
  (latency, sampling and rows-on times, each energy part) replaced by its ``PP``-th percentile
  over the replicas (numpy's linear interpolation). Each figure has its own percentile: the p95 latency
  and the p95 energy may come from different replicas. A replica with a column that is not
  ``ok`` has missing (NaN) figures, and so do the percentiles: they are never taken over the
  replicas that happened to succeed.

The replicas share the executor: a few at a time (:func:`_sweep_replicas`), so the last tasks
of one overlap the first of the next and a cluster with more workers than one replica has tasks
is kept busy.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import math
import os
import queue
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spicecim.driver import LAYER, TILE, column_row, schedules_of
from spicecim.errors import ResultFileError, check
from spicecim.measure import LayerSchedule, measure_column
from spicecim.netlist.spec import Tile
from spicecim.netlist.weights import programming_sigma_s
from spicecim.sim.column import ColumnRun, SimOptions
from spicecim.sim.executors import Cluster, open_pool
from spicecim.sim.sweep import row_drives, sweep
from spicecim.store import schema
from spicecim.store.hdf5 import Run, RunWriter, open_run

PERCENTILES = (5, 50, 95)
SIGMA_SOURCE = "Milo et al., IRPS 2021, fig. 4 (spicecim.netlist.weights.programming_sigma_s)"


def replica_tile(k: int) -> str:
    """The run file's name of replica ``k``'s tile."""
    return f"{TILE}_mc{k:04d}"


def spread_layer(percentile: int) -> str:
    """The run file's name of the layer holding one percentile of the replicas' schedules."""
    return f"{LAYER}_p{percentile:02d}"


def monte_carlo_parameters(replicas: int, seed: int) -> dict[str, object]:
    """What a run's ``/config`` records of its Monte Carlo (a rerun must ask the same)."""
    check(isinstance(replicas, int) and replicas >= 1, "mc", replicas, "an integer >= 1")
    check(isinstance(seed, int) and seed >= 0, "seed", seed, "an integer >= 0")
    return {"replicas": replicas, "seed": seed, "sigma_g": SIGMA_SOURCE,
            "percentiles": list(PERCENTILES)}


def missing_replicas(run: Run) -> int:
    """How many of the replicas its configuration records a run lacks (earlier spicecim versions
    marked a run complete before its replicas were in)."""
    recorded = run.config.get("parameters", {}).get("monte_carlo") or {}
    have = set(run.tiles())
    return sum(replica_tile(k) not in have for k in range(1, recorded.get("replicas", 0) + 1))


def replica(tile: Tile, k: int, seed: int) -> Tile:
    """Replica ``k`` (>= 1) of ``tile``: the same tile with programming variation, read by the
    nominal tile's readout (its sizing pinned: the circuit is designed once)."""
    check(k >= 1, "replica", k, "an integer >= 1")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
    mem = tile.spec.cell.memristor
    g = np.clip(tile.g_s + programming_sigma_s(tile.g_s) * rng.standard_normal(tile.g_s.shape),
                mem.g_off_s, mem.g_on_s)
    readout = tile.spec.readout.pinned(tile.readout)
    return Tile(dataclasses.replace(tile.spec, readout=readout), g, tile.x_in)


@dataclass(frozen=True, slots=True)
class MonteCarloSummary:
    """``spread`` maps each percentile to its schedules; ``failures`` lists ``(tile, column,
    status, message)`` of every replica column that did not end ``ok``."""

    path: Path
    replicas: int
    spread: dict[int, list[LayerSchedule]]
    failures: list[tuple[str, int, str, str]]
    simulated: int
    kept: int


def add_replicas(path: Path, tile: Tile, replicas: int, seed: int, *,
                 executor: cf.Executor | None = None, workers: int | None = None,
                 columns_per_task: int | None = None, progress: bool | None = None
                 ) -> MonteCarloSummary:
    """Simulate ``replicas`` replicas of ``tile`` into the nominal run at ``path``
    (made with ``parameters["monte_carlo"] = monte_carlo_parameters(replicas, seed)``), with
    its drive, options and measurement, and store their percentiles."""
    with open_run(path) as run:  # or its journal: the run is unfinished until the replicas are in
        config, provenance = run.config, run.provenance
        nominal = TILE in run.tiles() and not run.pending(TILE)
        attrs = run.tile_attrs(TILE) if nominal else {}
    expected = monte_carlo_parameters(replicas, seed)
    if (not nominal or config.get("data_digest") != tile.digest()
            or config.get("parameters", {}).get("monte_carlo") != expected):
        raise ResultFileError(f"{path} is not a nominal run of this tile, simulated to its last "
                              f"column, made for monte_carlo={expected}")
    sim = config["simulation"]
    options = SimOptions(**sim["options"])
    keep = {k: str(provenance[k]) for k in (schema.ATTR_NGSPICE, schema.ATTR_COMMAND)}
    names = [replica_tile(k) for k in range(1, replicas + 1)]
    writer = RunWriter(path, config, keep)
    try:
        tiles = [replica(tile, k, seed) for k in range(1, replicas + 1)]
        by_name = dict(zip(names, tiles, strict=True))
        for name, rep in zip(names, tiles, strict=True):
            writer.add_tile(name, tile.spec.cols, {**attrs, "data_digest": rep.digest()})
        pending = {name: writer.pending(name) for name in names}
        todo = sum(len(p) for p in pending.values())
        jobs = [(name, rep, pending[name]) for name, rep in zip(names, tiles, strict=True)
                if pending[name]]
        n_workers = workers or os.cpu_count() or 1
        # The sweep's own batching (no columns_per_task) gives every worker tasks.
        tasks = math.ceil(tile.spec.cols / columns_per_task) if columns_per_task else n_workers
        # Every worker busy with one task and one more queued, and never fewer than two
        # replicas, so one's last tasks overlap the next one's first.
        in_flight = max(2, math.ceil(2 * n_workers / tasks))
        with ExitStack() as stack:
            if executor is None:  # one pool for every replica, not one per sweep
                pool = stack.enter_context(open_pool(Cluster(workers=workers)))
                executor, workers = pool.executor, pool.workers
            bar = stack.enter_context(_bar(todo, progress))
            for name, runs in _sweep_replicas(
                    jobs, sim["drive"], options, in_flight, executor=executor, workers=workers,
                    columns_per_task=columns_per_task):
                rows = {}
                for r in runs:
                    m = None if r.status == "failed" else measure_column(
                        r.time_s, r.v_out_v, r.v_in_v, r.power_w, by_name[name].readout,
                        sim["threshold_fraction"])
                    rows[r.column] = column_row(r, m)
                writer.write_columns(name, rows)
                bar.update(len(runs))
        tables = {name: writer.columns(name) for name in names}
        per_replica = [schedules_of(tables[name], by_name[name], sim["adc_share"])
                       for name in names]
        spread = {p: _percentile(per_replica, p) for p in PERCENTILES}
        for p, schedules in spread.items():
            writer.write_layer(spread_layer(p), schedules, names)
        path = writer.finish()
    finally:
        writer.close()
    failures = [(name, int(j), str(s), str(msg)) for name, t in tables.items()
                for j, s, msg in zip(t["column"], t["status"], t["message"], strict=True)
                if s != "ok"]
    return MonteCarloSummary(path, replicas, spread, failures, todo,
                             replicas * tile.spec.cols - todo)


def _sweep_replicas(jobs: Sequence[tuple[str, Tile, list[int]]], drive: str,
                    options: SimOptions, in_flight: int, **executor: Any
                    ) -> Iterator[tuple[str, list[ColumnRun]]]:
    """Each job's (replica name, tile, columns) sweep on the same executor, ``in_flight`` at a
    time, each waited on in a thread of its own; the runs come back to this thread, the one
    that writes the file. When the caller stops (an error, Ctrl-C), each running sweep stops at
    its next result and cancels the tasks it has not run."""
    results: queue.SimpleQueue[tuple[str, list[ColumnRun] | None]] = queue.SimpleQueue()
    stop = threading.Event()

    def drain(name: str, rep: Tile, columns: list[int]) -> None:
        try:
            if stop.is_set():
                return
            runs = sweep(rep, row_drives(rep, drive), options, columns=columns, **executor)
            try:
                for batch in runs:
                    results.put((name, batch))
                    if stop.is_set():
                        break
            finally:
                runs.close()
        finally:
            results.put((name, None))  # this job is over

    with cf.ThreadPoolExecutor(min(in_flight, max(len(jobs), 1)),
                               thread_name_prefix="spicecim-replica") as threads:
        futures = {name: threads.submit(drain, name, rep, cols) for name, rep, cols in jobs}
        try:
            for _ in jobs:
                while True:
                    name, batch = results.get()
                    if batch is None:
                        break
                    yield name, batch
                futures[name].result()  # the job's error, if it failed
        finally:
            stop.set()
            for future in futures.values():
                future.cancel()


_SPREAD_FIELDS = ("latency_s", "t_sample_s", "rows_on_s", "energy_dac_j", "energy_array_j",
                  "energy_frontend_j", "energy_sh_j", "energy_adc_j")


def _percentile(per_replica: list[list[LayerSchedule]], p: int) -> list[LayerSchedule]:
    out = []
    for i, s in enumerate(per_replica[0]):
        figures = np.array([[getattr(r[i], f) for f in _SPREAD_FIELDS] for r in per_replica])
        spread = dict(zip(_SPREAD_FIELDS, np.percentile(figures, p, axis=0).tolist(),
                          strict=True))
        out.append(dataclasses.replace(s, **spread))
    return out


def _bar(total: int, progress: bool | None):  # noqa: ANN202 - tqdm's type
    from tqdm import tqdm

    enabled = sys.stderr.isatty() if progress is None else progress
    return tqdm(total=total, unit="col", desc="replica columns", disable=not enabled,
                file=sys.stderr)
