"""Design points co-simulated: the tiles of a design point (its tile size, conductance range,
slices, copies and row groups) programmed with the NeRF's own weights and driven by the very
inputs of a co-simulation of the scene's frame (:func:`spicecim.nerf.plan.design_plan`), so
every line of the mitigation ladder and every point of a design sweep is costed from its own
tiles, as the co-simulation it starts from is.

Each design point's run is kept under a folder (:func:`design_path`: named by what it
simulates), found there next time and resumed like any run if stopped; it is simulated with
the co-simulation's drive, columns per ADC and engine check, on the engine given (default: the
co-simulation's own).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from spicecim import RunOptions, open_run
from spicecim.cost import cosim, duration
from spicecim.cost.design import DesignPoint
from spicecim.errors import ResultFileError, SpecError
from spicecim.models.presets import NerfField
from spicecim.nerf.plan import design_plan
from spicecim.sim.sweep import DEFAULT_ENGINE
from spicecim.store.runs import Run


def run_options(run: Run, engine: str | None = None) -> RunOptions:
    """The simulation options of the co-simulation in ``run``, on ``engine`` (None: its own)."""
    sim = run.simulation
    return RunOptions(drive=str(sim["drive"]), adc_share=int(sim["adc_share"]),
                      threshold_fraction=float(sim["threshold_fraction"]),
                      engine=engine or str(sim.get("engine", DEFAULT_ENGINE)),
                      check_columns=int(sim.get("check_columns", 0)))


def design_path(directory: Path, plan: cosim.Plan, options: RunOptions) -> Path:
    """Where the co-simulation of ``plan`` with ``options`` is kept under ``directory``."""
    key = hashlib.sha256(json.dumps(
        [plan.provenance(), plan.spec.digest(), str(plan.mapping), options.engine,
         options.drive, options.adc_share, options.threshold_fraction, options.check_columns],
        sort_keys=True, default=str).encode()).hexdigest()[:16]
    g = plan.geometry
    rows = "" if g.rows_per_read is None else f"-R{g.rows_per_read}"
    return Path(directory) / (f"cosim-{plan.model or 'model'}-{g.rows}x{g.cols}{rows}"
                              f"-{g.slices}s{g.copies}c-{options.engine}-{key}.h5")


def check_duration(source: Path, nerf: NerfField, designs: Sequence[DesignPoint],
                   directory: Path, *, engine: str | None = None, workers: int | None = None,
                   yes: bool = False) -> float:
    """The estimated time of every co-simulation ``designs`` still need under ``directory``
    (:func:`spicecim.cost.duration.estimate_s`), refused (one line) over the limit unless
    ``yes``: checked before any of them runs."""
    n_workers = workers or len(os.sched_getaffinity(0))
    total, columns, pending = 0.0, 0, []
    with open_run(source) as run:
        for design in dict.fromkeys(designs):
            plan = design_plan(run, nerf, design)
            options = run_options(run, engine)
            if not _complete(design_path(directory, plan, options)):
                total += duration.estimate_s(plan, options.engine, n_workers)
                columns += plan.columns()
                pending.append(design.label(plan.spec, plan.mapping))
    if total > duration.DURATION_LIMIT_S and not yes:
        raise SpecError(
            f"co-simulating the design points {', '.join(pending)} ({columns} column "
            f"transients) is estimated at {total / 60:.0f} min on {n_workers} worker(s), over "
            f"the {duration.DURATION_LIMIT_S / 60:.0f} min limit: expected --yes to run them, or "
            "fewer or smaller design points")
    return total


def _complete(path: Path) -> bool:
    """Whether ``path`` holds a finished run (an unfinished or damaged one is resumed or
    refused by the driver)."""
    if not path.exists():
        return False
    try:
        with open_run(path) as done:
            return done.complete
    except ResultFileError:
        return False


def design_run(source: Path, nerf: NerfField, design: DesignPoint, directory: Path, *,
               engine: str | None = None, workers: int | None = None,
               tell: Callable[[str], None] | None = None) -> Path:
    """The run file of ``design``'s co-simulation on top of the one in ``source``: found under
    ``directory``, else simulated (or resumed) there."""
    with open_run(source) as run:
        plan = design_plan(run, nerf, design)
        options = run_options(run, engine)
    path = design_path(directory, plan, options)
    if _complete(path):
        return path
    if tell is not None:
        tell(f"co-simulating the design point {design.label(plan.spec, plan.mapping)} "
             f"({plan.samples} input(s), {options.engine}) into {path} ...")
    summary = cosim.cosimulate(plan, path, options=options, workers=workers, progress=None)
    if summary.failures:
        tile, column, status, message = summary.failures[0]
        raise ResultFileError(f"{path}: {len(summary.failures)} column(s) of the design point's "
                              f"co-simulation failed, first {tile}:{column} ({status}: "
                              f"{message}): expected every column to simulate")
    return path
