"""The time step rule against ngspice at a tenth of its step, for each front end and amplifier.

    .venv/bin/python benchmarks/bench_step_rule.py [--rows 8,64,256]

Prints per configuration (column 0 of a random 4-column tile, the coupled drive): the rule's
maximum step and time points, and its latency, energy (worst part) and final value against the
same column run with the maximum step divided by 10. docs/step_rule.md holds the figures.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from spicecim.devices.amplifier import opamp
from spicecim.measure import ColumnMeasure, measure_column
from spicecim.netlist.spec import DEFAULT_READOUT, Tile, default_spec
from spicecim.sim.column import ColumnRun, simulate_column
from spicecim.sim.driver import sim_options
from spicecim.sim.scales import time_scales
from spicecim.sim.sweep import row_drives

CONFIGS = (("tia", "opamp_1p"), ("tia", "opamp_2s"), ("integrator", "opamp_1p"),
           ("integrator", "opamp_2s"), ("passive", "opamp_2s"))


def _tile(rows: int, front_end: str, amp: str) -> Tile:
    spec = default_spec(rows, 4)
    readout = dataclasses.replace(DEFAULT_READOUT, front_end=front_end, opamp=opamp(amp))
    rng = np.random.default_rng(0)
    return Tile(dataclasses.replace(spec, readout=readout), rng.uniform(1e-6, 40e-6, (rows, 4)),
                rng.uniform(0, 1, rows))


def _measure(tile: Tile, run: ColumnRun) -> ColumnMeasure:
    return measure_column(run.time_s, run.v_out_v, run.v_in_v, run.power_w, tile.readout, 0.9,
                          tile.spec.driver.rise_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="8,64,256")
    args = parser.parse_args()
    for rows in (int(r) for r in args.rows.split(",")):
        for front_end, amp in CONFIGS:
            tile = _tile(rows, front_end, amp)
            drive = row_drives(tile, "coupled")[0]
            scales = time_scales(tile, drive, 0)
            run = simulate_column(tile, 0, drive, sim_options(tile))
            fine = simulate_column(tile, 0, drive, sim_options(tile, max_step_scale=0.1))
            m, f = _measure(tile, run), _measure(tile, fine)
            energy = max(abs(m.energy_j[p] / e - 1) for p, e in f.energy_j.items() if e)
            print(f"{rows:4d} rows {front_end:10s} {amp}: poles front end "
                  f"{scales.frontend_s:.3g} s, sample-and-hold {scales.sample_hold_s:.3g} s; "
                  f"step {run.max_step_s:.3g} s, {len(run.time_s)} points "
                  f"({len(fine.time_s)} at a tenth): latency {m.latency_s / f.latency_s - 1:+.3%}"
                  f", energy {energy:.3%}, final value "
                  f"{abs(m.v_final_v - f.v_final_v) / tile.readout.lsb_v:.4f} LSB", flush=True)


if __name__ == "__main__":
    main()
