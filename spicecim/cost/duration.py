"""How long a co-simulation will take, estimated before it starts, and the limit above which
it runs only when asked (``--yes``)."""

from __future__ import annotations

from spicecim.cost.cosim import Plan
from spicecim.errors import SpecError, check

COLUMN_ROW_CPU_S = {"ngspice": 0.15 / 256, "batched": 0.05 / 256}
"""CPU seconds per column transient and row of the tile, for the estimate before a run:
ngspice 120-180 ms for a default 256-row column (issue 21's measurement); the batched engine
51 ms, measured here end to end (every process's CPU: start-up, drive solves, measurement,
the run file) on three layers of ``nerf-4x256`` at K = 1 (1,536 columns, 78 s) on a loaded
2-core machine."""
DURATION_LIMIT_S = 1800.0
"""A co-simulation estimated to take longer is refused unless asked for (``--yes``)."""


def estimate_s(plan: Plan, engine: str, workers: int) -> float:
    """The wall time ``plan`` is estimated to take on ``engine`` with ``workers`` processes."""
    check(engine in COLUMN_ROW_CPU_S, "engine", engine, f"one of {sorted(COLUMN_ROW_CPU_S)}")
    check(workers >= 1, "workers", workers, "an integer >= 1")
    return plan.columns() * plan.spec.rows * COLUMN_ROW_CPU_S[engine] / workers


def check_duration(plan: Plan, engine: str, workers: int, *, yes: bool = False,
                   limit_s: float = DURATION_LIMIT_S) -> float:
    """The estimate (:func:`estimate_s`); refused (one line) over ``limit_s`` unless ``yes``."""
    seconds = estimate_s(plan, engine, workers)
    if seconds > limit_s and not yes:
        raise SpecError(
            f"the co-simulation of {plan.columns()} column transients ({len(plan.selected())} "
            f"tiles of {plan.spec.rows} rows) on {engine} is estimated at {seconds / 60:.0f} "
            f"min on {workers} worker(s), over the {limit_s / 60:.0f} min limit: expected "
            "--yes to run it, or --layers NAME,... / --max-tiles N to co-simulate a part first")
    return seconds
