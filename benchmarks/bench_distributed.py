"""Sweep throughput on the local process pool and on a Dask LocalCluster, in one run.

    .venv/bin/python benchmarks/bench_distributed.py [--rows 128 --cols 128 --workers 2]

Both run the same tile through :func:`spicecim.sim.sweep.sweep` with the batching the CLI uses
(:meth:`spicecim.sim.executors.Pool.columns_per_task`), each on a fresh executor of ``--workers``
processes (so each pays for loading ngspice once per worker, as a real run does). Prints each
one's start-up, sweep and shut-down times, the columns per second of the sweep alone and of
the whole (start to shut-down), the task size, and whether both gave the same waveforms. The
local pool starts its processes inside the sweep (on the first tasks); the LocalCluster before.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import psutil

from spicecim.netlist.spec import (
    DEFAULT_G_MAX_S,
    DEFAULT_G_MIN_S,
    DEFAULT_WEIGHT_BITS,
    Tile,
    default_spec,
)
from spicecim.netlist.weights import WeightMapping
from spicecim.sim.column import ColumnRun
from spicecim.sim.driver import sim_options
from spicecim.sim.executors import Cluster, open_pool
from spicecim.sim.scales import SimOptions
from spicecim.sim.sweep import row_drives, sweep


def _tile(rows: int, cols: int) -> tuple[Tile, SimOptions]:
    spec = default_spec(rows, cols)
    mem = spec.cell.memristor
    mapping = WeightMapping("differential", max(DEFAULT_G_MIN_S, mem.g_off_s),
                            min(DEFAULT_G_MAX_S, mem.g_on_s), DEFAULT_WEIGHT_BITS)
    rng = np.random.default_rng(0)
    tile = Tile(spec, mapping.to_conductances(rng.uniform(-1, 1, (rows, cols // 2))),
                rng.uniform(0, 1, rows))
    # The options simulate_to_file uses for this tile.
    return tile, sim_options(tile)


def _run(cluster: Cluster, tile: Tile, options: SimOptions) -> dict[int, ColumnRun]:
    drives = row_drives(tile, "coupled")
    start = time.perf_counter()
    with open_pool(cluster) as pool:
        ready = time.perf_counter()
        per_task = pool.columns_per_task(tile.spec.rows, tile.spec.cols)
        runs = {r.column: r for batch in sweep(tile, drives, options, executor=pool.executor,
                                               workers=pool.workers, columns_per_task=per_task)
                for r in batch}
        done = time.perf_counter()
    closed = time.perf_counter()
    cols = tile.spec.cols
    # The sweep's own default when per_task is None: a few tasks per worker.
    size = per_task or -(-cols // (4 * pool.workers))
    cpu = sum(r.cpu_s for r in runs.values())
    print(f"{pool.description:<30} {ready - start:6.2f} {done - ready:6.2f} {closed - done:6.2f} "
          f"{cols / (done - ready):9.1f} {cols / (closed - start):9.1f}   {size} columns, "
          f"{cpu / cols * size * 1e3:.0f} ms CPU")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--cols", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    tile, options = _tile(args.rows, args.cols)
    print(f"tile {args.rows}x{args.cols}, {tile.spec.cell.memristor.name} cells, coupled drive, "
          f"{args.workers} worker processes each, {psutil.cpu_count()} cores")
    print(f"{'executor':<30} {'start':>6} {'sweep':>6} {'close':>6} {'col/s':>9} {'col/s':>9}"
          "   per task")
    print(f"{'':<30} {'s':>6} {'s':>6} {'s':>6} {'sweep':>9} {'overall':>9}")
    local = _run(Cluster(workers=args.workers), tile, options)
    dask = _run(Cluster(dask_local=args.workers), tile, options)
    same = all(np.array_equal(local[j].v_out_v, dask[j].v_out_v)
               and np.array_equal(local[j].power_w["drivers"], dask[j].power_w["drivers"])
               for j in range(args.cols))
    print(f"same waveforms on both: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
