"""Search latency and energy of 6T2M analog CAM rows of 64 and 256 cells, from ngspice, beside
what the literature reports for the same cell.

    .venv/bin/python benchmarks/bench_acam.py [--rows 16] [--device linear|memristor] [--workers 2]

Per row length: the worst-case search (every row with one cell mismatching, at the edge of the
programmable window, and a control row of matching cells; see ``spicecim.acam.SearchReport``) at
the cell file's sense time (1 ns) and at the shortest sense time, in octaves, that still senses
every row correctly; and how far the sensed bounds of a cell move from a one-cell row at the same
conductances (the analogue of Li et al.'s Fig. 5c).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from spicecim import acam
from spicecim.acam.netlist import DEVICES, AcamArray, acam_cell
from spicecim.sim.executors import local_executor
from spicecim.sim.ngspice import NgspiceSession

LENGTHS = (64, 256)
SENSE_TIMES_S = (0.25e-9, 0.5e-9, 1e-9, 2e-9, 4e-9, 8e-9)

PUBLISHED = """\
Published figures for the 6T2M cell (C. Li et al., "Analog content-addressable memories with
memristors", Nat. Commun. 11, 1638 (2020); 16 nm design rules, SL_hi = 0.5 V):
  - search latency: grows with the number of columns (ML capacitance), Fig. 5b; no value in the
    text read (NOT FOUND).
  - energy per search: NOT FOUND in the text read; the abstract reports 37x lower area and power
    than a digital (SRAM) CAM.
  - bound shift with row length: up to 20 mV at 64 columns (Fig. 5c); "going beyond this would be
    challenging with the present circuit".
  - X-TIME (HPE's aCAM tree-inference simulator, cycle_accurate/README.md, code default): the
    aCAM is clocked at 1 GHz with a 4-cycle search latency for 32-column rows.
  - SALM latch-based aCAM (arXiv:2605.11847, 22 nm FD-SOI): 33 % less read energy than 6T2M at
    equal latency; 6T2M suffers from static search power and match-line crosstalk (relative
    figures only)."""


def bound_shift_mv(cell, cells: int, session: NgspiceSession) -> float:  # noqa: ANN001
    """Largest move of a bound, over the conductance grid, from a one-cell row to ``cells``."""
    one = acam.programmer(AcamArray(1, 1, cell), session=session)
    row = acam.programmer(AcamArray(1, cells, cell), session=session)
    n = min(one.g_s.size, row.g_s.size)
    return 1e3 * float(max(np.max(np.abs(row.lo_v[:n] - one.lo_v[:n])),
                           np.max(np.abs(row.hi_v[:n] - one.hi_v[:n]))))


def line(label: str, r: acam.SearchReport) -> str:
    rows, cells = r.array.rows, r.array.cells
    per_row = r.energy_j / rows
    status = "ok" if r.ok else f"FAILS: {r.problem}"
    return (f"  {label:<22} t_eval {r.array.cell.t_eval_s * 1e9:5.2f} ns  latency "
            f"{r.latency_s * 1e12:6.1f} ps  energy/search {per_row * 1e12:7.3f} pJ per row "
            f"({per_row / cells * 1e15:6.1f} fJ per cell)  {status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--device", choices=DEVICES, default="linear")
    parser.add_argument("--workers", type=int, default=None, help="ngspice processes (all cores)")
    args = parser.parse_args()
    session = NgspiceSession()
    cell = acam_cell(device=args.device)
    print(f"6T2M ACAM, {args.device} memristors, {args.rows} rows, {session.version()}")
    start = time.perf_counter()
    with local_executor(args.workers) as pool:
        for cells in LENGTHS:
            array = AcamArray(args.rows, cells, cell)
            print(f"\n{cells} cells per row (match line {array.c_ml_f * 1e15:.1f} fF):")
            default = acam.simulate_search(array, session=session, executor=pool)
            print(line("cell file's sense time", default))
            best = acam.shortest_sense_time(array, candidates_s=SENSE_TIMES_S, session=session,
                                            executor=pool)
            print(line("shortest working", best))
            print(f"  bound shift from a one-cell row at the same conductances: "
                  f"{bound_shift_mv(cell, cells, session):.1f} mV at 1 ns, "
                  f"{bound_shift_mv(best.array.cell, cells, session):.1f} mV at "
                  f"{best.array.cell.t_eval_s * 1e9:.2f} ns")
    print(f"\n(simulated in {time.perf_counter() - start:.0f} s)\n")
    print(PUBLISHED)


if __name__ == "__main__":
    main()
