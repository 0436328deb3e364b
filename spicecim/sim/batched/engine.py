"""Columns through the batched solver, as :func:`~spicecim.sim.column.simulate_column` runs
them through ngspice: the same step and stop time (:func:`~spicecim.sim.scales.time_scales`),
the same time points (:func:`~spicecim.sim.batched.schedule.ngspice_schedule`), extended by
doubling the stop time until the readout has settled, and repeated at a tenth of the step when
it settles through an overshoot. Returns :class:`~spicecim.sim.column.ColumnRun` records that
measurement cannot tell from ngspice's."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spicecim.netlist.crossbar import SOURCE_GROUPS, RowDrive, edge_corners_s
from spicecim.netlist.spec import Tile
from spicecim.sim.batched.circuit import Structure, build_batch, structure_of
from spicecim.sim.batched.schedule import Schedule, ngspice_schedule
from spicecim.sim.column import ColumnRun
from spicecim.sim.scales import (
    REFINED_STEP,
    SimOptions,
    overshoots,
    time_scales,
    transient_window,
)

ENGINE = "batched"
POINT_BLOCK = 32
"""Time points are solved this many at a time (the last block padded), batches padded to a
power of two: one compilation per circuit structure and batch size. 32 rather than 64: the
default tile's columns (542-597 points) are padded to 608 instead of 640 points."""


@dataclass(frozen=True, slots=True)
class _Job:
    tile: Tile
    column: int
    drive: RowDrive
    step_s: float
    stop_s: float
    breakpoints_s: np.ndarray

    def schedule(self) -> Schedule:
        return ngspice_schedule(self.stop_s, self.step_s, self.step_s, self.breakpoints_s)


CACHE_ENV = "SPICECIM_CACHE"
"""Where compiled solvers are kept between processes (``<cache>/jax``; default
``~/.cache/spicecim``): a pool worker loads the solver its siblings compiled."""


@functools.lru_cache(maxsize=32)
def _compiled(structure: Structure, reltol: float, vntol: float):  # noqa: ANN202 - jitted
    import jax

    from spicecim.sim.batched.solver import Tolerances, make_transient

    if getattr(jax.config, "jax_compilation_cache_dir", None) is None:  # the caller's choice
        root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "spicecim")
        jax.config.update("jax_compilation_cache_dir", str(root / "jax"))
    return make_transient(structure, Tolerances(reltol, vntol))


def _breakpoints(tile: Tile, drive: RowDrive, options: SimOptions) -> np.ndarray:
    """The corners of the deck's sources: the edge source's, and each ramp's end."""
    corners = edge_corners_s(tile, options.edge_points)
    if np.any(np.asarray(drive.v_th_v) != 0):
        corners.append(tile.spec.driver.rise_s)
    return np.array(sorted(set(corners)))


_Waves = dict[str, np.ndarray]
"""A solved column: ``time``, ``out`` (the sampling capacitor), ``drivers``, ``frontend`` and
``rowrail`` (the power each delivers), ``iterations`` (Newton's, summed over the points)."""


def _run(jobs: Sequence[_Job], options: SimOptions) -> list[_Waves | None]:
    """One solve per job: the waveforms, or None where Newton failed."""
    import jax
    import jax.numpy as jnp

    from spicecim.sim.batched.solver import gear_coefficients, initial_carry

    out: list[_Waves | None] = [None] * len(jobs)
    groups: dict[Structure, list[int]] = {}
    for n, job in enumerate(jobs):
        groups.setdefault(structure_of(job.tile), []).append(n)
    vntol = options.settle_tol_v if options.vntol_v is None else options.vntol_v
    for structure, members in groups.items():
        size = 1 << (len(members) - 1).bit_length()
        padded = [members[min(n, len(members) - 1)] for n in range(size)]
        batch = build_batch([(jobs[n].tile, jobs[n].column, jobs[n].drive) for n in padded])
        schedules = [jobs[n].schedule() for n in padded]
        points = max(len(s.time_s) for s in schedules) - 1
        points = -(-points // POINT_BLOCK) * POINT_BLOCK
        steps = {name: np.zeros((points, size)) for name in ("t", "a0", "a1", "a2", "ratio")}
        steps["live"] = np.zeros((points, size), bool)
        for c, s in enumerate(schedules):
            coef = gear_coefficients(s.time_s, s.order)
            n_real = len(s.time_s) - 1
            for name, values in coef.items():
                steps[name][:n_real, c] = values
                steps[name][n_real:, c] = values[-1]
            steps["live"][:n_real, c] = True
        with jax.enable_x64(True):
            fn = _compiled(structure, options.reltol, vntol)
            arrays = {k: jnp.asarray(v) for k, v in batch.arrays().items()}
            carry = initial_carry(structure, size)
            blocks = []
            for start in range(0, points, POINT_BLOCK):
                block = {k: jnp.asarray(v[start:start + POINT_BLOCK]) for k, v in steps.items()}
                carry, outs = fn(arrays, block, carry)
                blocks.append(outs)
            v_out, p_drv, p_fe, p_rail, its = (
                np.concatenate([np.asarray(b[n]) for b in blocks]) for n in range(5))
            ok = np.asarray(carry[-1])
        for c, n in enumerate(members):
            if not ok[c]:
                continue
            s = schedules[c]
            n_real = len(s.time_s) - 1
            t = s.time_s
            # t = 0 is the operating point: every source at 0, the amplifier quiescent
            ro = jobs[n].tile.readout.readout
            first_fe = 0.0 if structure.opamp is None else float(ro.opamp.supply_power_w(0.0))
            out[n] = {"time": t, "iterations": np.array([its[:, c].sum()]),
                      "out": np.concatenate([[0.0], v_out[:n_real, c]]),
                      "drivers": np.concatenate([[0.0], p_drv[:n_real, c]]),
                      "frontend": np.concatenate([[first_fe], p_fe[:n_real, c]]),
                      "rowrail": np.concatenate([[0.0], p_rail[:n_real, c]])}
    return out


def simulate_columns(columns: Sequence[tuple[Tile, int, RowDrive]], options: SimOptions
                     ) -> list[ColumnRun]:
    """Each ``(tile, j, drive)`` column's activation, all solved together."""
    start = time.process_time()
    base = []
    for tile, j, drive in columns:
        stop, step = transient_window(tile, j, drive, options)
        base.append(_Job(tile, j, drive, step, stop, _breakpoints(tile, drive, options)))
    final: dict[int, tuple[_Waves | None, int, _Job]] = {}
    pending = list(range(len(base)))
    for step_scale in (1.0, REFINED_STEP):
        jobs = {n: dataclasses.replace(base[n], step_s=base[n].step_s * step_scale)
                for n in pending}
        final.update(_settle(jobs, options))
        if step_scale != 1.0:
            break
        pending = [n for n in pending if _overshoots(final[n][0], options)]
        if not pending:
            break
    cpu = (time.process_time() - start) / max(len(base), 1)
    return [_column_run(final[n][0], final[n][1], final[n][2].step_s != base[n].step_s,
                        final[n][2], options, cpu) for n in range(len(base))]


def _overshoots(waves: _Waves | None, options: SimOptions) -> bool:
    return waves is not None and overshoots(waves["time"], waves["out"], options.band_v)


def _settle(jobs: dict[int, _Job], options: SimOptions
            ) -> dict[int, tuple[_Waves | None, int, _Job]]:
    """Run, and run again with the stop time doubled, until each readout has settled: per
    job its waveforms (None: Newton failed), the extensions made and the job as last run."""
    done: dict[int, tuple[_Waves | None, int, _Job]] = {}
    todo = dict(jobs)
    for extensions in range(options.max_extensions + 1):
        keys = list(todo)
        retry = {}
        for n, w in zip(keys, _run([todo[n] for n in keys], options), strict=True):
            job = todo[n]
            tail = time_scales(job.tile, job.drive, job.column).tail_s
            if (w is not None and extensions < options.max_extensions
                    and not _settled(w, tail, options.settle_tol_v)):
                retry[n] = dataclasses.replace(job, stop_s=job.stop_s * 2)
            else:
                done[n] = (w, extensions, job)
        if not retry:
            break
        todo = retry
    return done


def _settled(w: _Waves, tail_s: float, tol_v: float) -> bool:
    t, v = w["time"], w["out"]
    return bool(abs(v[-1] - np.interp(t[-1] - tail_s, t, v)) <= tol_v)


def _column_run(waves: _Waves | None, extensions: int, refined: bool, job: _Job,
                options: SimOptions, cpu_s: float) -> ColumnRun:
    tile, j, drive = job.tile, job.column, job.drive
    scales = time_scales(tile, drive, j)
    key = hashlib.sha256(tile.digest().encode())
    key.update(np.asarray(drive.v_th_v, float).tobytes() + np.asarray(drive.r_th_ohm).tobytes())
    key.update(f"{j} {ENGINE} {options.to_dict()}".encode())
    sha = key.hexdigest()[:16]
    described = (f"engine={ENGINE} method=gear reltol={options.reltol} vntol="
                 f"{options.settle_tol_v if options.vntol_v is None else options.vntol_v}"
                 f" | tran {job.step_s!r} {job.stop_s!r} 0 {job.step_s!r}")
    if waves is None:
        empty = np.zeros(0)
        return ColumnRun(j, "failed", 0, extensions, described,
                         "batched engine: Newton did not converge", sha, job.stop_s, job.step_s,
                         cpu_s, empty, empty, empty, {g: empty for g in SOURCE_GROUPS}, scales,
                         refined, parse_s=0.0, run_s=cpu_s)
    t = waves["time"]
    peak = int(np.argmax(np.abs(drive.v_th_v)))
    v_in = float(drive.v_th_v[peak]) * np.clip(t / tile.spec.driver.rise_s, 0.0, 1.0)
    settled = _settled(waves, scales.tail_s, options.settle_tol_v)
    # the word line's gates draw no current
    power = {g: waves[g] if g in waves else np.zeros_like(t) for g in SOURCE_GROUPS}
    message = "" if settled else (
        f"readout still moving at {t[-1]:.4g} s after {extensions} extensions")
    return ColumnRun(j, "ok" if settled else "unsettled", 0, extensions, described, message, sha,
                     float(t[-1]), job.step_s, cpu_s, t, waves["out"], v_in, power, scales,
                     refined, parse_s=0.0, run_s=cpu_s)
