"""The batched engine against ngspice, measured in the same run on this machine.

    .venv/bin/python benchmarks/bench_engine.py [--rows 256 --cols 256 --columns 64 --ngspice 8
                                                 --end-to-end]

Prints: CPU time per column of the default column (``--rows`` 1T1R memristor cells, tia, the
coupled drive) on each engine, and their ratio, with the worst disagreement of the columns both
ran; the batched full array (the array drive, the batched engine's default) per column of the
``--rows`` x ``--cols`` tile against the same ngspice column; with ``--end-to-end``,
``spicecim simulate --rows R --cols C`` wall time on each engine (the batched run's own spot
check included) and their ratio, against issue 21's targets; then the same batch on the GPU
where JAX sees one (the device named), or one line saying there is none. Every figure comes
with the machine's load average when it was taken (the development machine is shared).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from spicecim.measure import measure_column
from spicecim.netlist.spec import Tile, default_spec
from spicecim.sim.batched import array
from spicecim.sim.batched.engine import simulate_columns
from spicecim.sim.column import ColumnRun, simulate_column
from spicecim.sim.driver import sim_options
from spicecim.sim.sweep import row_drives

END_TO_END_S = 3.0
"""Issue 21's target for ``simulate --rows 256 --cols 256`` on the batched engine, 2 cores."""
END_TO_END_RATIO = 10.0
"""... and its least speed-up over the same command on ngspice."""


def _tile(rows: int, cols: int, seed: int) -> Tile:
    rng = np.random.default_rng(seed)
    spec = default_spec(rows, cols)
    return Tile(spec, rng.uniform(1e-6, 40e-6, (rows, cols)), rng.uniform(0, 1, rows))


def _figures(tile: Tile, run: ColumnRun) -> tuple[float, float, float]:
    m = measure_column(run.time_s, run.v_out_v, run.v_in_v, run.power_w, tile.readout, 0.9,
                       tile.spec.driver.rise_s)
    return m.latency_s, m.energy_total_j, m.v_final_v


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def per_column(rows: int, cols: int, batch: int, ngspice: int, seed: int) -> float:
    """Prints the column engines' figures; returns ngspice's CPU seconds per column."""
    tile = _tile(rows, cols, seed)
    options = sim_options(tile)
    drives = row_drives(tile, "coupled")
    columns = [(tile, j, drives[j]) for j in range(batch)]
    simulate_columns(columns[:batch], options)  # compiled (or loaded from the cache) first
    start = time.process_time()
    batched = simulate_columns(columns, options)
    batched_s = (time.process_time() - start) / batch
    start = time.process_time()
    reference = [simulate_column(tile, j, drives[j], options) for j in range(ngspice)]
    ngspice_s = (time.process_time() - start) / ngspice
    worst = np.zeros(3)
    for b, n in zip(batched, reference, strict=False):
        fb, fn = _figures(tile, b), _figures(tile, n)
        worst = np.maximum(worst, [abs(fb[0] / fn[0] - 1), abs(fb[1] / fn[1] - 1),
                                   abs(fb[2] - fn[2]) / tile.readout.lsb_v])
    print(f"default {rows}-row column, coupled drive: batched {1e3 * batched_s:.2f} ms CPU per "
          f"column ({batch} columns together), ngspice {1e3 * ngspice_s:.1f} ms ({ngspice} "
          f"columns): {ngspice_s / batched_s:.1f}x ({_load()})")
    print(f"  agreement over {ngspice} columns: latency {100 * worst[0]:.2g} %, energy "
          f"{100 * worst[1]:.2g} %, final value {worst[2]:.2g} LSB")
    return ngspice_s


def full_array(rows: int, cols: int, seed: int, ngspice_s: float) -> None:
    """The batched full array's CPU per column, compiled first on a short run (the shape, not
    the stop time, sets the compilation)."""
    tile = _tile(rows, cols, seed)
    options = sim_options(tile)
    stop, step = array.array_transient_s(tile, options)
    array.simulate_array(tile, options, stop_s=stop / 16, max_step_s=step)
    start = time.process_time()
    runs = array.array_column_runs(tile, options)
    per = (time.process_time() - start) / cols
    print(f"full array {rows}x{cols} (the array drive): {1e3 * per:.1f} ms CPU per column "
          f"({len(runs[0].time_s)} points), {ngspice_s / per:.1f}x ngspice's column "
          f"({_load()})")


def end_to_end(rows: int, cols: int) -> None:
    walls = {}
    for engine in ("batched", "ngspice"):
        load = _load()
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", "from spicecim.cli import main; main()", "simulate",
                 "--rows", str(rows), "--cols", str(cols), "--engine", engine,
                 "--out", str(Path(folder) / "run.h5")], capture_output=True, text=True)
            walls[engine] = time.perf_counter() - start
            if done.returncode:
                raise SystemExit(done.stderr)
            check = [line for line in done.stdout.splitlines() if "engine check" in line]
        print(f"spicecim simulate --rows {rows} --cols {cols} --engine {engine}: "
              f"{walls[engine]:.1f} s wall ({load})" + (f"; {check[0]}" if check else ""))
    ratio = walls["ngspice"] / walls["batched"]
    print(f"  end to end: batched {ratio:.1f}x ngspice; issue 21 asks at most {END_TO_END_S:g} s "
          f"and at least {END_TO_END_RATIO:g}x: "
          + ("met" if walls["batched"] <= END_TO_END_S and ratio >= END_TO_END_RATIO
             else "not met"))


def on_gpu(rows: int, batch: int, seed: int) -> None:
    import jax

    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
    if not gpus:
        print("GPU: none that JAX sees (the CPU figures above are the engine's)")
        return
    tile = _tile(rows, batch, seed)
    options = sim_options(tile)
    drives = row_drives(tile, "coupled")
    columns = [(tile, j, drives[j]) for j in range(batch)]
    with jax.default_device(gpus[0]):
        simulate_columns(columns, options)
        start = time.perf_counter()
        simulate_columns(columns, options)
        wall = time.perf_counter() - start
    print(f"GPU {gpus[0].device_kind}: {1e3 * wall / batch:.3f} ms wall per column "
          f"({batch} {rows}-row columns together)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--cols", type=int, default=256)
    parser.add_argument("--columns", type=int, default=64, help="columns batched together")
    parser.add_argument("--ngspice", type=int, default=8, help="columns timed in ngspice")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--end-to-end", action="store_true")
    args = parser.parse_args()
    ngspice_s = per_column(args.rows, max(args.cols, args.columns), args.columns, args.ngspice,
                           args.seed)
    full_array(args.rows, args.cols, args.seed, ngspice_s)
    if args.end_to_end:
        end_to_end(args.rows, args.cols)
    on_gpu(args.rows, max(args.columns, 256), args.seed)


if __name__ == "__main__":
    main()
