"""The ``nerf-4x256`` co-simulation at K inputs on the built-in scene (256x256 default tiles):
what it costs on this machine, and what reusing a loaded column circuit across the K inputs
saves against loading it afresh for every transient, measured in the same run.

    .venv/bin/python benchmarks/bench_cosim.py [--inputs 8] [--columns 4] [--workers 2] [--full]
    .venv/bin/python benchmarks/bench_cosim.py --compare COSIM.h5 GENERIC.h5

By default a sample is timed in this process: every layer's first tile group (a tile
position, with its K inputs and input phases), ``--columns`` of its used columns evenly
spaced. Each sampled column runs twice: once loaded and altered per input
(:func:`~spicecim.sim.column.simulate_column_inputs`, what the run does), once as one fresh
load per input (:func:`~spicecim.sim.column.simulate_column`); both report the split of each
transient's CPU time into parse/load (netlist text, ``source``, setup, the sources' energy
bookkeeping) and the transient itself. The whole co-simulation's wall time on ``--workers``
cores is projected from the per-transient figures and the number of (tile, input, column)
transients; ``--full`` runs it instead (``spicecim.cost.cosim.cosimulate``) and prints
the measured wall time.

``--compare`` prints the model's per-layer table from a co-simulation (``spicecim simulate
--model nerf-4x256 --scene``) beside the same layers on a generic tile's run (``spicecim
simulate``: random weights and inputs), through the evaluator, with the factor between them.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from spicecim.cost import cosim
from spicecim.nerf.plan import make_plan
from spicecim.netlist import spec as specs
from spicecim.netlist.spec import default_spec
from spicecim.netlist.weights import WeightMapping
from spicecim.sim.column import simulate_column, simulate_column_inputs
from spicecim.sim.driver import RunOptions, sim_options
from spicecim.sim.ngspice import NgspiceSession
from spicecim.sim.sweep import row_drives


def _plan(samples: int, seed: int) -> cosim.Plan:
    spec = default_spec()
    mem = spec.cell.memristor
    mapping = WeightMapping("differential", max(specs.DEFAULT_G_MIN_S, mem.g_off_s),
                            min(specs.DEFAULT_G_MAX_S, mem.g_on_s), specs.DEFAULT_WEIGHT_BITS)
    return make_plan("nerf-4x256", spec, mapping, samples, scene=True, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=8, help="K, inputs per tile")
    parser.add_argument("--columns", type=int, default=4, help="sampled columns per layer")
    parser.add_argument("--workers", type=int, default=2, help="cores of the projection")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full", action="store_true", help="run the whole co-simulation")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("COSIM", "GENERIC"),
                        help="print the per-layer table of COSIM beside GENERIC's")
    args = parser.parse_args()
    if args.compare:
        compare(*args.compare, seed=args.seed)
        return

    t0 = time.perf_counter()
    plan = _plan(args.inputs, args.seed)
    tiles, _, _ = cosim.jobs(plan)
    transients = sum(job.tile.spec.cols for job in tiles)  # every column of every tile
    print(f"nerf-4x256 at K = {args.inputs} on {plan.spec.rows}x{plan.spec.cols} tiles: "
          f"{len(tiles)} tiles (tile x input x phase), {transients} column transients; plan "
          f"{time.perf_counter() - t0:.1f} s ({plan.description})")

    if args.full:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            summary = cosim.cosimulate(plan, Path(folder) / "cosim.h5",
                                       options=RunOptions(), workers=args.workers,
                                       progress=True)
            wall = time.perf_counter() - start
        print(f"full co-simulation: {wall:.1f} s wall on {args.workers} workers, "
              f"{summary.simulated / wall:.2f} column transients/s, "
              f"{len(summary.failures)} failed")
        return

    groups: dict[str, list] = {}
    for job in tiles:
        groups.setdefault(job.group or job.name, []).append(job)
    first_groups: dict[str, list] = {}
    for name, members in groups.items():
        first_groups.setdefault(name.split(".")[0], members)
    session = NgspiceSession()
    reuse, fresh, reuse_split, fresh_split = [], [], [], []
    for layer, members in first_groups.items():
        cols = members[0].tile.spec.cols
        picks = sorted({int(c) for c in np.linspace(0, cols - 1, args.columns)})
        drives = [row_drives(m.tile, "coupled") for m in members]
        options = sim_options(members[0].tile)
        for j in picks:
            start = time.process_time()
            runs = simulate_column_inputs([m.tile for m in members], j,
                                          [d[j] for d in drives], options, session)
            reuse.append((time.process_time() - start) / len(members))
            reuse_split += [(r.parse_s, r.run_s) for r in runs]
            start = time.process_time()
            alone = [simulate_column(m.tile, j, d[j], options, session)
                     for m, d in zip(members, drives, strict=True)]
            fresh.append((time.process_time() - start) / len(members))
            fresh_split += [(r.parse_s, r.run_s) for r in alone]
            for a, b in zip(runs, alone, strict=True):  # the same transient either way
                assert np.isclose(a.v_out_v[-1], b.v_out_v[-1], rtol=1e-9, atol=1e-12), (layer, j)
        print(f"  {layer:<11} {len(members):>3} inputs x {len(picks)} columns: reuse "
              f"{1e3 * statistics.mean(reuse[-len(picks):]):.1f} ms, fresh "
              f"{1e3 * statistics.mean(fresh[-len(picks):]):.1f} ms per transient")
    r_parse, r_run = np.mean(reuse_split, axis=0)
    f_parse, f_run = np.mean(fresh_split, axis=0)
    per_reuse, per_fresh = statistics.mean(reuse), statistics.mean(fresh)
    print(f"per transient (CPU): reused circuit {1e3 * per_reuse:.1f} ms (parse/load "
          f"{1e3 * r_parse:.1f} ms, transient {1e3 * r_run:.1f} ms); fresh load "
          f"{1e3 * per_fresh:.1f} ms (parse/load {1e3 * f_parse:.1f} ms, transient "
          f"{1e3 * f_run:.1f} ms)")
    # Reuse can save at most what a fresh load spends outside the transient (Amdahl).
    print(f"reuse speed-up: {per_fresh / per_reuse:.2f}x (target >= 3x; at most "
          f"{per_fresh / (per_fresh - f_parse):.2f}x with no parse/load at all, since the "
          f"transient itself is {100 * f_run / per_fresh:.0f} % of a fresh one)")
    for label, per in (("reused", per_reuse), ("fresh", per_fresh)):
        wall = transients * per / args.workers
        print(f"projected whole co-simulation, {label}: {wall:.0f} s on {args.workers} "
              f"workers ({args.workers / per:.1f} column transients/s; target 120 s)")


def compare(cosim_run: Path, generic_run: Path, *, seed: int = 0) -> None:
    """Per layer and schedule: latency and energy per sample, co-simulated and generic."""
    from spicecim.report import evaluation
    from spicecim.units import format_si as si

    reports = [evaluation.run("nerf-4x256", path, scene=True, accuracy=False, baseline=False,
                              seed=seed) for path in (cosim_run, generic_run)]
    co, generic = (r.cost for r in reports)
    print(f"co-simulated: {co.table}\ngeneric: {generic.table}")
    print(f"{'layer':<11}{'schedule':<16}{'latency co-sim':>15}{'generic':>11}{'x':>7}"
          f"{'energy co-sim':>15}{'generic':>11}{'x':>7}")
    for schedule in ("fully_parallel", "adc_shared", "serialized"):
        for a, b in zip(co.layers, generic.layers, strict=True):
            x, y = a[schedule], b[schedule]
            print(f"{x.name:<11}{schedule:<16}{si(x.latency_s, 's'):>15}"
                  f"{si(y.latency_s, 's'):>11}{x.latency_s / y.latency_s:>7.2f}"
                  f"{si(x.energy_j, 'J'):>15}{si(y.energy_j, 'J'):>11}"
                  f"{x.energy_j / y.energy_j:>7.2f}")
        ta, tb = co.total(schedule), generic.total(schedule)
        print(f"{'per sample':<11}{schedule:<16}{si(ta.sample_latency_s, 's'):>15}"
              f"{si(tb.sample_latency_s, 's'):>11}"
              f"{ta.sample_latency_s / tb.sample_latency_s:>7.2f}"
              f"{si(ta.sample_energy_j, 'J'):>15}{si(tb.sample_energy_j, 'J'):>11}"
              f"{ta.sample_energy_j / tb.sample_energy_j:>7.2f}")
    # What the energy factor is made of: the conversions (DAC per driven row, ADC per column)
    # are the same on both sides; what the weights and activations set is the rest.
    parts = (("DAC + array", "energy_array_j"), ("front end", "energy_frontend_j"),
             ("ADC", "energy_adc_j"), ("digital", "energy_digital_j"))
    print("energy by part, fully_parallel (co-sim / generic):")
    print(f"{'layer':<11}" + "".join(f"{name:>26}" for name, _ in parts))
    for a, b in zip(co.layers, generic.layers, strict=True):
        x, y = a["fully_parallel"], b["fully_parallel"]
        print(f"{x.name:<11}" + "".join(
            f"{si(getattr(x, f), 'J'):>11} / {si(getattr(y, f), 'J'):<9}"
            f"{getattr(x, f) / getattr(y, f) if getattr(y, f) else float('nan'):>5.2f}"
            for _, f in parts))


if __name__ == "__main__":
    main()
