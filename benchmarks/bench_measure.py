"""Measuring a tile's columns one at a time against all together, on this machine.

    .venv/bin/python benchmarks/bench_measure.py [--rows 256 --cols 256 --repeat 5]

Simulates the default ``--rows`` x ``--cols`` tile on the batched engine's full array (the
batched engine's default drive) and on its coupled column decomposition (each column on its own
time points), then measures every column both ways: :func:`spicecim.measure.measure_column`
one column at a time, and the run driver's store step (:mod:`spicecim.measure_batch`, blocks of
columns). Prints the best CPU time of ``--repeat`` for each, their ratio and the largest
relative difference of any figure between them, with the machine's load average.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from spicecim.measure import ColumnMeasure, measure_column
from spicecim.netlist.spec import Tile, default_spec
from spicecim.sim.batched.array import array_column_runs
from spicecim.sim.batched.engine import simulate_columns
from spicecim.sim.column import ColumnRun
from spicecim.sim.driver import RunOptions, measure_runs, sim_options
from spicecim.sim.sweep import row_drives

FIGURES = ("latency_s", "settle_s", "threshold_s", "v_final_v", "window_s", "snr_db")


def _alone(tile: Tile, runs: list[ColumnRun]) -> list[ColumnMeasure]:
    return [measure_column(r.time_s, r.v_out_v, r.v_in_v, r.power_w, tile.readout, 0.9,
                           tile.spec.driver.rise_s) for r in runs]


def _best(fn, repeat: int) -> float:  # noqa: ANN001 - a thunk
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def _difference(a: list[ColumnMeasure], b: list[ColumnMeasure]) -> float:
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        pairs = [(getattr(x, f), getattr(y, f)) for f in FIGURES]
        pairs += [(x.energy_j[k], y.energy_j[k]) for k in x.energy_j]
        for u, v in pairs:
            if np.isfinite(u) and u != 0:
                worst = max(worst, abs(v / u - 1))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--cols", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    spec = default_spec(args.rows, args.cols)
    tile = Tile(spec, rng.uniform(1e-6, 40e-6, (args.rows, args.cols)),
                rng.uniform(0, 1, args.rows))
    options = sim_options(tile)
    drives = row_drives(tile, "coupled")
    cases = {"full array": array_column_runs(tile, options),
             "coupled columns": simulate_columns(
                 [(tile, j, drives[j]) for j in range(args.cols)], options)}
    run_options = RunOptions(engine="batched")
    for name, runs in cases.items():
        alone = _best(lambda runs=runs: _alone(tile, runs), args.repeat)
        together = _best(lambda runs=runs: measure_runs(tile, runs, run_options), args.repeat)
        diff = _difference(_alone(tile, runs), measure_runs(tile, runs, run_options))
        print(f"{name} ({len(runs)} columns, {min(len(r.time_s) for r in runs)}-"
              f"{max(len(r.time_s) for r in runs)} points): one at a time {alone * 1e3:.1f} ms, "
              f"together {together * 1e3:.1f} ms ({alone / together:.2f}x); largest relative "
              f"difference {diff:.2g}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
