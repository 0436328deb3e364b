"""The column decomposition against the full array, both in the batched engine.

    .venv/bin/python benchmarks/bench_decomposition.py [--sizes 128 256 --check 64 --finer K]

For each size, the default tile (``default_spec``: 1T1R HfOx cells, default wires, driver and
readout) with conductances and inputs drawn as benchmarks/bench_engine.py draws them: every
column under the default drive through the batched column engine, and the whole tile as one
circuit through the batched full array (:mod:`spicecim.sim.batched.array`), on the columns' own
finest step and longest stop (as tests/sim/test_column.py compares the decomposition with
ngspice's full array). Prints, per size, the decomposition's latency error against the full
array (median and max, %), its largest final-value error (LSB) and the wall time of each; with
``--check N``, the batched full array against ngspice's full array at NxN (0 skips it; 64:
about 6-10 min of ngspice); with ``--finer K``, how far the full array's latencies move at a
K times finer step; with ``--drives solver isolated``, those drives' decompositions against
the same full array. Compilation is timed apart from the runs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from spicecim.measure import measure_column
from spicecim.netlist.spec import Tile, default_spec
from spicecim.sim import column
from spicecim.sim.batched import array
from spicecim.sim.batched.engine import simulate_columns
from spicecim.sim.driver import sim_options
from spicecim.sim.sweep import BEST_COLUMN_DRIVE, DRIVES, row_drives


def _tile(n: int, seed: int) -> Tile:
    rng = np.random.default_rng(seed)
    return Tile(default_spec(n, n), rng.uniform(1e-6, 40e-6, (n, n)), rng.uniform(0, 1, n))


def _figures(tile: Tile, t: list[np.ndarray], outs: list[np.ndarray], v_in: list[np.ndarray]
             ) -> tuple[np.ndarray, np.ndarray]:
    ms = [measure_column(t_j, v, vi, {}, tile.readout)
          for t_j, v, vi in zip(t, outs, v_in, strict=True)]
    return np.array([m.latency_s for m in ms]), np.array([m.v_final_v for m in ms])


def _array_figures(tile: Tile, run: column.ArrayRun) -> tuple[np.ndarray, np.ndarray]:
    n = len(run.v_out_v)
    return _figures(tile, [run.time_s] * n, list(run.v_out_v), [run.v_in_v] * n)


def _columns(tile: Tile, mode: str) -> tuple[list[column.ColumnRun], float, float]:
    """Every column under drive ``mode`` through the batched column engine, and the wall time
    of the drive's solve and of the columns."""
    start = time.perf_counter()
    drives = row_drives(tile, mode)
    drive_s = time.perf_counter() - start
    start = time.perf_counter()
    runs = simulate_columns([(tile, j, drives[j]) for j in range(tile.spec.cols)],
                            sim_options(tile))
    assert all(r.status == "ok" for r in runs), [r.message for r in runs if r.status != "ok"]
    return runs, drive_s, time.perf_counter() - start


def _error(tile: Tile, mode: str, runs: list[column.ColumnRun], lat_arr: np.ndarray,
           v_arr: np.ndarray) -> None:
    n = tile.spec.cols
    lat_col, v_col = _figures(tile, [r.time_s for r in runs], [r.v_out_v for r in runs],
                              [r.v_in_v for r in runs])
    signed = lat_col / lat_arr - 1
    err = np.abs(signed)
    final = np.abs(v_col - v_arr) / tile.readout.lsb_v
    print(f"{n}x{n} default tile, drive {mode} (columns) vs the full array: latency "
          f"error median {100 * np.median(err):.2f} %, max {100 * err.max():.2f} % (column "
          f"{int(np.argmax(err))}; signed median {100 * np.median(signed):+.2f} %, range "
          f"{100 * signed.min():+.2f}..{100 * signed.max():+.2f} %); final value max "
          f"{final.max():.2g} LSB; array latencies "
          f"{lat_arr.min():.4g}..{lat_arr.max():.4g} s")


def decomposition(n: int, seed: int, finer: int, others: list[str]) -> None:
    tile = _tile(n, seed)
    options = sim_options(tile)
    runs, drive_s, columns_s = _columns(tile, BEST_COLUMN_DRIVE)
    stop = max(r.stop_s for r in runs)
    step = min(r.max_step_s for r in runs)
    start = time.perf_counter()
    array.simulate_array(tile, options, stop_s=step * 4, max_step_s=step)  # compiled first
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    full = array.simulate_array(tile, options, stop_s=stop, max_step_s=step)
    array_s = time.perf_counter() - start
    lat_arr, v_arr = _array_figures(tile, full)
    _error(tile, BEST_COLUMN_DRIVE, runs, lat_arr, v_arr)
    print(f"  wall: columns {columns_s:.1f} s (+ drive solve {drive_s:.1f} s), full array "
          f"{array_s:.1f} s ({len(full.time_s)} points, + compilation {compile_s:.1f} s)")
    for mode in others:
        _error(tile, mode, _columns(tile, mode)[0], lat_arr, v_arr)
    if finer > 1:  # the full array's own time-step honesty
        fine = array.simulate_array(tile, options, stop_s=stop, max_step_s=step / finer)
        change = np.abs(_array_figures(tile, fine)[0] / lat_arr - 1)
        print(f"  full array at a {finer}x finer step: latency change median "
              f"{100 * np.median(change):.3f} %, max {100 * change.max():.3f} %")


def against_ngspice(n: int, seed: int) -> None:
    tile = _tile(n, seed)
    options = sim_options(tile)
    stop, step = array.array_transient_s(tile, options)
    array.simulate_array(tile, options, stop_s=step * 4, max_step_s=step)  # compiled first
    start = time.perf_counter()
    ref = column.simulate_array(tile, options, stop_s=stop, max_step_s=step)
    ngspice_s = time.perf_counter() - start
    start = time.perf_counter()
    run = array.simulate_array(tile, options, stop_s=stop, max_step_s=step)
    batched_s = time.perf_counter() - start
    lat_ref, v_ref = _array_figures(tile, ref)
    lat, v = _array_figures(tile, run)
    err = np.abs(lat / lat_ref - 1)
    print(f"{n}x{n} full array, batched vs ngspice: latency error median "
          f"{100 * np.median(err):.3f} %, max {100 * err.max():.3f} %; final value max "
          f"{np.max(np.abs(v - v_ref)) / tile.readout.lsb_v:.2g} LSB; wall batched "
          f"{batched_s:.1f} s, ngspice {ngspice_s:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--check", type=int, default=64, help="NxN against ngspice (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drives", nargs="*", default=[], choices=DRIVES,
                        help="other drives' decompositions against the same full array")
    parser.add_argument("--finer", type=int, default=1,
                        help="also run the full array at this many times finer a step")
    args = parser.parse_args()
    if args.check:
        against_ngspice(args.check, args.seed)
    for n in args.sizes:
        decomposition(n, args.seed, args.finer,
                      [d for d in args.drives if d != BEST_COLUMN_DRIVE])


if __name__ == "__main__":
    main()
