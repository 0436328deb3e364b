"""The full default tile (256x256, nonlinear memristor cells) through generate + simulate +
extract + HDF5, against the way the hand study worked, on this machine.

    .venv/bin/python benchmarks/bench_simulate.py [--rows 256 --cols 256 --hand-sample 1 ...]

Prints: wall time and peak memory of the run; its latencies against a reference run at a 10x
finer maximum step; the hand study's cost (one ``ngspice -b`` process per column netlist, one
after another, fixed 10 ps step over 20 ns, the full memristor model: ``state="dynamic"``)
timed on a sample of columns and scaled to the tile, both exactly as generated and with this
package's two solver fixes (``pivtol``, ``uic``) so the effect of the time-step and process
choices shows apart from them.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from spicecim.netlist.crossbar import Transient, build_column, isolated_drive
from spicecim.netlist.spec import (
    DEFAULT_G_MAX_S,
    DEFAULT_G_MIN_S,
    DEFAULT_WEIGHT_BITS,
    Tile,
    default_spec,
)
from spicecim.netlist.weights import WeightMapping
from spicecim.sim.driver import RunOptions, simulate
from spicecim.store.hdf5 import open_run


def _tile(rows: int, cols: int, seed: int) -> tuple[Tile, WeightMapping]:
    spec = default_spec(rows, cols)
    mem = spec.cell.memristor
    mapping = WeightMapping("differential", max(DEFAULT_G_MIN_S, mem.g_off_s),
                            min(DEFAULT_G_MAX_S, mem.g_on_s), DEFAULT_WEIGHT_BITS)
    rng = np.random.default_rng(seed)
    g = mapping.to_conductances(rng.uniform(-1, 1, (rows, cols // 2)))
    return Tile(spec, g, rng.uniform(0, 1, rows)), mapping


class _PeakMemory(threading.Thread):
    """Samples the resident memory of this process and every descendant (the pool's workers
    are the forkserver's children, so getrusage(RUSAGE_CHILDREN) would miss them)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.total_mib = self.worker_mib = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self._done.wait(0.05):
            try:
                kids = [p.memory_info().rss for p in me.children(recursive=True)]
            except psutil.Error:
                continue
            self.worker_mib = max(self.worker_mib, max(kids, default=0) / 2**20)
            self.total_mib = max(self.total_mib, (me.memory_info().rss + sum(kids)) / 2**20)

    def __enter__(self) -> _PeakMemory:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.join()


def _run(tile: Tile, mapping: WeightMapping, out: Path, workers: int, **sim: object) -> float:
    start = time.perf_counter()
    summary = simulate(tile, out, options=RunOptions(sim=tuple(sim.items())),
                       parameters={"bench": True}, workers=workers, overwrite=True,
                       progress=False)
    elapsed = time.perf_counter() - start
    assert not summary.failures, summary.failures
    return elapsed


def _hand_study(tile: Tile, columns: list[int], fixes: bool, limit_s: float) -> float:
    """Seconds per column: ``ngspice -b`` on each generated netlist, 10 ps step, 20 ns, with the
    full memristor subcircuit in every cell as the hand study had it."""
    spec = tile.spec
    tile = Tile(dataclasses.replace(spec, cell=dataclasses.replace(spec.cell, state="dynamic")),
                tile.g_s, tile.x_in)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for j in columns:
            hand = Transient(stop_s=20e-9, step_s=10e-12)
            text = build_column(tile, j, hand, isolated_drive(tile, j))
            if fixes:
                text = text.replace("\n.end\n", "\n.options pivtol=1e-20\n.end\n")
                text = text.replace("\n.tran 1e-11 2e-08\n", "\n.tran 1e-11 2e-08 uic\n")
            path = Path(tmp) / f"col{j}.cir"
            path.write_text(text)
            start = time.perf_counter()
            try:
                subprocess.run(["ngspice", "-b", "-r", str(Path(tmp) / "out.raw"), str(path)],
                               check=True, capture_output=True, timeout=limit_s)
            except subprocess.TimeoutExpired:
                print(f"  column {j}: over the {limit_s:.0f} s limit, counted as {limit_s:.0f} s")
            times.append(time.perf_counter() - start)
    return float(np.mean(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--cols", type=int, default=256)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--hand-sample", type=int, default=1,
                        help="columns timed for the hand study exactly as generated")
    parser.add_argument("--fixed-sample", type=int, default=8,
                        help="columns timed for the hand study with the solver fixes")
    parser.add_argument("--hand-limit", type=float, default=900.0, help="seconds per hand column")
    parser.add_argument("--no-reference", action="store_true", help="skip the 10x-finer run")
    args = parser.parse_args()

    tile, mapping = _tile(args.rows, args.cols, seed=0)
    print(f"tile {args.rows}x{args.cols}, {tile.spec.cell.memristor.name} cells "
          f"({tile.spec.cell.state} state), "
          f"{args.workers} workers, {psutil.cpu_count()} cores, ngspice shared library")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.h5"
        with _PeakMemory() as memory:
            wall = _run(tile, mapping, out, args.workers)
        with open_run(out) as run:
            table = run.columns("tile0")
            layer = run.layer("layer0")
        cpu = float(np.sum(table["cpu_s"]))
        print(f"simulate (generate + ngspice + extract + HDF5): {wall:.2f} s wall, "
              f"{cpu / args.cols * 1e3:.1f} ms CPU per column, "
              f"{np.mean(table['stop_s']) * 1e12:.0f} ps simulated, "
              f"{os.path.getsize(out) / 1024:.0f} KiB file")
        print(f"peak memory: {memory.total_mib:.0f} MiB all processes, "
              f"{memory.worker_mib:.0f} MiB largest worker")
        lat = table["latency_s"] * 1e12
        print(f"latency {np.min(lat):.2f}..{np.max(lat):.2f} ps; "
              f"fully parallel layer {layer['latency_s'][0] * 1e9:.3f} ns")
        if not args.no_reference:
            ref_out = Path(tmp) / "ref.h5"
            ref_wall = _run(tile, mapping, ref_out, args.workers, max_step_scale=0.1)
            with open_run(ref_out) as run:
                ref = run.columns("tile0")["latency_s"]
            err = np.abs(table["latency_s"] / ref - 1)
            print(f"reference at max step / 10: {ref_wall:.1f} s wall; latency error max "
                  f"{np.max(err):.3%}, mean {np.mean(err):.3%} over {len(err)} columns")
    step = max(1, args.cols // max(args.fixed_sample, 1))
    sample = list(range(0, args.cols, step))[:args.fixed_sample]
    fixed = _hand_study(tile, sample, True, args.hand_limit)
    print(f"hand study with pivtol+uic: {fixed:.2f} s per column -> {fixed * args.cols:.0f} s "
          f"for the tile ({fixed * args.cols / wall:.0f}x this run)")
    if args.hand_sample:
        hand = _hand_study(tile, list(range(args.hand_sample)), False, args.hand_limit)
        print(f"hand study as generated: {hand:.2f} s per column -> {hand * args.cols:.0f} s "
              f"for the tile ({hand * args.cols / wall:.0f}x this run)")


if __name__ == "__main__":
    main()
