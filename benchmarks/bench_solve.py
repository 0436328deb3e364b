"""How fast is spicecim.solve, against the PyPI package badcrossbar and against ngspice?

    .venv/bin/pip install --no-deps badcrossbar==1.1.0 sigfig pathvalidate   # benchmark only
    .venv/bin/python benchmarks/bench_solve.py

Cases (targets from issue #4): 256x256 linear cells, one input (<= 0.2 s and >= 10x faster than
badcrossbar on the same circuit, whose currents must agree); 256x256 with 1,000 inputs
(<= 2 s); 256x256 memristor cells, one input (<= 1 s); a 64x64 ngspice .op for scale; peak
memory. Times are the best of a few runs (``--repeat``). badcrossbar's circuit has ideal
drivers, a virtual-ground readout and the same resistance on row and column segments, so that
comparison uses a spec set the same way. Both run with one BLAS thread (spicecim always does;
see spicecim/solve/__init__.py) so a busy machine slows neither more than the other.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import resource
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from spicecim.netlist.crossbar import Op, build_array
from spicecim.netlist.spec import CrossbarSpec, Tile, default_spec
from spicecim.sim.ngspice import NgspiceSession
from spicecim.solve import solve, solve_batch


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def peak_mib(run: Callable[[], Any]) -> float:
    """Peak traced allocation (numpy arrays included) of one run, in MiB."""
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def tile_for(spec: CrossbarSpec, rng: np.random.Generator) -> Tile:
    mem = spec.cell.memristor
    g = rng.uniform(mem.g_off_s, mem.g_on_s, (spec.rows, spec.cols))
    return Tile(spec, g, rng.uniform(0.0, 1.0, spec.rows))


def badcrossbar_compute() -> Callable[..., Any]:
    # Its plotting half needs system cairo and warns when it is missing; we use compute only.
    with warnings.catch_warnings(record=True):
        try:
            import badcrossbar
        except ModuleNotFoundError:
            raise SystemExit("bench_solve needs badcrossbar, the baseline it is measured "
                             "against: .venv/bin/pip install --no-deps badcrossbar sigfig "
                             "pathvalidate") from None
    logging.getLogger("badcrossbar").setLevel(logging.WARNING)  # it logs every step at INFO
    return badcrossbar.compute


def ngspice_currents(tile: Tile) -> np.ndarray:
    """Column currents of an operating point: through the TIA's feedback resistor (from the
    column end to the amplifier's output) or the passive sense resistor."""
    vectors = NgspiceSession().run(build_array(tile, Op()))
    sized, cols = tile.readout, range(tile.spec.cols)
    if sized.r_f_ohm is not None:
        return np.array([vectors[f"b{j}"][0] - vectors[f"f{j}"][0] for j in cols]) / sized.r_f_ohm
    assert sized.r_sense_ohm is not None, "an integrator has no DC path to read a current from"
    return np.array([vectors[f"b{j}"][0] for j in cols]) / sized.r_sense_ohm


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    n, rng = args.size, np.random.default_rng(args.seed)
    rows: list[tuple[str, float, str, float | None, str, bool]] = []

    # 1. One input, linear cells, badcrossbar's circuit.
    base = default_spec(n, n, cell="linear")
    r_i = base.wire.r_row_ohm
    ideal = dataclasses.replace(
        base, driver=dataclasses.replace(base.driver, r_out_ohm=0.0),
        readout=dataclasses.replace(base.readout, front_end="integrator"))  # ideal virtual ground
    tile = tile_for(ideal, rng)
    ours_s, sol = best_of(args.repeat, lambda: solve(tile))
    compute = badcrossbar_compute()
    with threadpool_limits(1, user_api="blas"):
        theirs_s, theirs = best_of(args.repeat, lambda: compute(
            tile.v_in[:, None], 1.0 / tile.g_s, r_i=r_i, node_voltages=False,
            all_currents=False))
    agreement = rel(sol.column_current_a, np.ravel(theirs.currents.output))
    rows.append((f"{n}x{n} linear, 1 input, r_i={r_i:g} ohm", ours_s, "badcrossbar 1.1.0",
                 theirs_s, "<= 0.2 s and >= 10x", ours_s <= 0.2 and theirs_s / ours_s >= 10))

    # 2. The everyday tile (driver resistance, sense readout), one input and a batch.
    spec = base
    tile = tile_for(spec, rng)
    one_s, _ = best_of(args.repeat, lambda: solve(tile))
    rows.append((f"{n}x{n} linear, 1 input, default spec", one_s, "", None, "<= 0.2 s",
                 one_s <= 0.2))
    x = rng.uniform(0.0, 1.0, (args.batch, n))
    batch_s, batch = best_of(args.repeat, lambda: solve_batch(spec, tile.g_s, x))
    check = solve(Tile(spec, tile.g_s, x[-1])).column_current_a
    rows.append((f"{n}x{n} linear, {args.batch} inputs", batch_s,
                 f"{args.batch} x solve() (from one)", args.batch * one_s, "<= 2 s",
                 batch_s <= 2.0))

    # 3. Memristor cells (sinh I-V), Newton.
    nonlinear = tile_for(default_spec(n, n, cell="memristor"), rng)
    newton_s, newton = best_of(args.repeat, lambda: solve(nonlinear))
    rows.append((f"{n}x{n} memristor, 1 input ({newton.iterations} solves)", newton_s, "", None,
                 "<= 1 s", newton_s <= 1.0))

    # 4. ngspice for scale.
    for cell in ("linear", "memristor"):
        small = tile_for(default_spec(64, 64, cell=cell), rng)
        ng_s, reference = best_of(1, lambda small=small: ngspice_currents(small))
        fast_s, fast = best_of(args.repeat, lambda small=small: solve(small))
        rows.append((f"64x64 {cell}, 1 input (err {rel(fast.column_current_a, reference):.0e})",
                     fast_s, "ngspice .op", ng_s, "", True))

    memory = {
        "solve 1 input": peak_mib(lambda: solve(tile)),
        f"solve_batch {args.batch}": peak_mib(lambda: solve_batch(spec, tile.g_s, x)),
        "solve memristor": peak_mib(lambda: solve(nonlinear)),
    }
    max_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"spicecim.solve benchmark: {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}, best of {args.repeat}, one BLAS thread")
    print(f"{'case':<44} {'spicecim':>10} {'reference':<26} {'ref':>10} {'ratio':>8}  "
          f"{'target':<20} ok")
    for case, ours, ref_name, ref, target, ok in rows:
        ref_text = f"{ref:9.3f}s" if ref is not None else ""
        ratio = f"{ref / ours:7.1f}x" if ref is not None else ""
        print(f"{case:<44} {ours:9.3f}s {ref_name:<26} {ref_text:>10} {ratio:>8}  {target:<20} "
              f"{'yes' if ok else 'NO'}")
    print(f"badcrossbar agreement (max relative difference of column currents): {agreement:.1e}")
    print(f"batch check against one solve: {rel(batch[-1], check):.1e}")
    print("peak traced memory: " + ", ".join(f"{k} {v:.0f} MiB" for k, v in memory.items())
          + f"; process max RSS {max_rss_mib:.0f} MiB")


if __name__ == "__main__":
    main()
