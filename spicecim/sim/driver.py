"""The run driver: tiles through the simulator, measured, into the store.

Every caller that simulates goes through here: ``spicecim simulate`` (one tile and its Monte
Carlo replicas, :func:`simulate`), the evaluator's on-demand tables and the model's
co-simulation (many tiles, :func:`run_job`). A run is a job of named tiles and of layers made
of them; every tile's pending columns go through one executor, each result is measured and
journaled as it arrives, and the layers' schedules are computed once every column is in. The
run file records the weight mapping the tiles' conductances came from, so whoever reads it
back (the evaluator) needs nothing the caller had to remember.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import functools
import hashlib
import json
import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spicecim.errors import SpecError, check
from spicecim.measure import (
    DEFAULT_THRESHOLD_FRACTION,
    ColumnMeasure,
    LayerSchedule,
    adc_band,
    ops_per_read,
    periphery,
    schedule_layer,
)
from spicecim.measure_batch import measure_columns, stack
from spicecim.netlist.spec import CELL_AREA_M2, Tile
from spicecim.progress import ticking
from spicecim.sim.check import DEFAULT_CHECK_COLUMNS, EngineDisagreementError, SpotCheck
from spicecim.sim.column import ColumnRun
from spicecim.sim.executors import Cluster, open_pool
from spicecim.sim.ngspice import NgspiceSession
from spicecim.sim.scales import SimOptions
from spicecim.sim.sweep import (
    BEST_COLUMN_DRIVE,
    DEFAULT_ENGINE,
    DRIVES,
    ENGINES,
    SweepPart,
    choose_drive,
    row_drives,
    sweep_tiles,
)
from spicecim.store import schema
from spicecim.store.hdf5 import RunWriter
from spicecim.store.runs import Run, Table, column_figures, open_run

TILE = "tile0"
LAYER = "layer0"
SETTLE_MARGIN = 100
"""The simulator stops once the sampled value drifts less than half an LSB over this margin."""
MEASURE_BLOCK = 32
"""Columns measured in one pass: a block's (groups, columns, points) arrays stay in the cache
(measured on the default tile's 256 columns: 32 at a time took half the time of all at once)."""

Combine = Callable[[Sequence[Sequence[LayerSchedule]]], list[LayerSchedule]]


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How a run simulates and schedules its tiles.

    ``drive``: the rows as each column sees them (:data:`spicecim.sim.sweep.DRIVES`; None:
    the engine's default, :func:`spicecim.sim.sweep.choose_drive`, resolved as the run starts);
    ``adc_share``: columns per ADC in the ADC-shared schedule; ``waveforms``: store each
    column's waveforms; ``threshold_fraction``: the threshold-crossing time's level;
    ``monte_carlo``: replicas with programming variation drawn from ``seed``
    (:mod:`spicecim.sim.montecarlo`); ``sim``: :class:`~spicecim.sim.column.SimOptions` fields to
    override, as ``(name, value)`` pairs; ``engine``: the simulator
    (:data:`spicecim.sim.sweep.ENGINES`); ``check_columns``: on the batched engine, the columns
    per tile simulated again in ngspice (:mod:`spicecim.sim.check`)."""

    drive: str | None = None
    adc_share: int = 8
    waveforms: bool = False
    threshold_fraction: float = DEFAULT_THRESHOLD_FRACTION
    monte_carlo: int = 0
    seed: int = 0
    sim: tuple[tuple[str, object], ...] = ()
    engine: str = DEFAULT_ENGINE
    check_columns: int = DEFAULT_CHECK_COLUMNS

    def __post_init__(self) -> None:
        check(self.drive is None or self.drive in DRIVES, "drive", self.drive,
              f"one of {DRIVES}, or None (the engine's default)")
        check(self.engine in ENGINES, "engine", self.engine, f"one of {ENGINES}")
        check(isinstance(self.check_columns, int) and self.check_columns >= 0, "check_columns",
              self.check_columns, "an integer >= 0")
        check(isinstance(self.adc_share, int) and self.adc_share >= 1, "adc_share",
              self.adc_share, "an integer >= 1")
        check(0 < self.threshold_fraction < 1, "threshold_fraction", self.threshold_fraction,
              "a value in (0, 1)")
        check(isinstance(self.monte_carlo, int) and self.monte_carlo >= 0, "monte_carlo",
              self.monte_carlo, "an integer >= 0 (replicas)")
        check(isinstance(self.seed, int) and self.seed >= 0, "seed", self.seed,
              "an integer >= 0")
        for name, _ in self.sim:
            check(name in SimOptions.__dataclass_fields__, "sim option", name,
                  f"one of {sorted(SimOptions.__dataclass_fields__)}")


@dataclass(frozen=True, slots=True)
class TileJob:
    """One tile of a run under its name in the file. Tiles of one ``group`` share their
    conductances (a model's tile under each of its inputs): every column is loaded once for
    all of them (:class:`spicecim.sim.sweep.SweepPart`)."""

    name: str
    tile: Tile
    group: str | None = None


def _only(per_tile: Sequence[Sequence[LayerSchedule]]) -> list[LayerSchedule]:
    return list(per_tile[0])


@dataclass(frozen=True, slots=True)
class LayerJob:
    """A layer of a run: the tiles it is made of, and how their schedules make the layer's
    (default: the one tile's own). ``columns`` and ``rows`` (one per tile; default: all) are
    the columns a tile's schedule converts, its first ones, and the rows its DACs drive."""

    name: str
    tiles: tuple[str, ...]
    combine: Combine = _only
    columns: tuple[int, ...] | None = None
    rows: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        check(len(self.tiles) >= 1, f"layer {self.name} tiles", self.tiles, "one or more")
        for name in ("columns", "rows"):
            used = getattr(self, name)
            check(used is None or len(used) == len(self.tiles), f"layer {self.name} {name}",
                  used, "None or one count per tile")


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a run did: its file, each layer's schedules, the columns that did not end ``ok``
    (``(tile, column, status, message)``), and how many columns it simulated or kept."""

    path: Path
    layers: Mapping[str, list[LayerSchedule]]
    failures: list[tuple[str, int, str, str]]
    simulated: int
    kept: int
    check: SpotCheck | None = None

    @property
    def schedules(self) -> list[LayerSchedule]:
        """The first layer's schedules (a one-tile run's)."""
        return next(iter(self.layers.values()))

    def open(self) -> Run:
        return open_run(self.path)


def column_record(run: ColumnRun, m: ColumnMeasure | None) -> schema.ColumnRecord:
    """A column table's record from a run and its figures (none: it failed)."""
    scales = run.scales
    taus = {} if scales is None else {
        "tau_row_s": scales.row_s, "tau_column_s": scales.column_s,
        "tau_frontend_s": scales.frontend_s, "tau_sample_hold_s": scales.sample_hold_s}
    figures = {} if m is None else {
        "latency_s": m.latency_s, "settle_s": m.settle_s, "threshold_s": m.threshold_s,
        "v_final_v": m.v_final_v, "window_s": m.window_s, "snr_db": m.snr_db,
        "energy_j": dict(m.energy_j), "power_w": dict(m.power_end_w)}
    return schema.ColumnRecord(
        column=run.column, status=run.status, retries=run.retries, extensions=run.extensions,
        refined=int(run.refined), stop_s=run.stop_s, max_step_s=run.max_step_s, cpu_s=run.cpu_s,
        netlist_sha=run.netlist_sha, ngspice_options=run.ngspice_options, message=run.message,
        **taus, **figures)  # type: ignore[arg-type]


def column_row(run: ColumnRun, m: ColumnMeasure | None) -> dict[str, object]:
    """A column table row (schema.COLUMN_FIELDS) from a run and its figures."""
    return column_record(run, m).row()


def tile_attrs(tile: Tile, drive: str, threshold_fraction: float) -> schema.TileAttrs:
    """What a tile's table was made with (:class:`spicecim.store.schema.TileAttrs`)."""
    sized, spec = tile.readout, tile.spec
    adc = spec.readout.adc
    return schema.TileAttrs(
        spec_digest=spec.digest(), data_digest=tile.digest(), drive=drive,
        threshold_fraction=threshold_fraction, front_end=spec.readout.front_end,
        i_fs_a=sized.i_fs_a, adc_range_a=sized.i_range_a, gain_ohm=sized.gain_ohm,
        c_s_f=sized.c_s_f,
        adc_full_scale_v=sized.full_scale_v, adc_lsb_v=sized.lsb_v, adc_bits=adc.bits,
        adc_t_conv_s=adc.t_conv_s, adc_e_conv_j=adc.e_conv_j, noise_v=sized.noise_v,
        noise_ok=sized.noise_ok, noise_warning=sized.noise_warning(),
        dac_e_conv_j=spec.driver.conversion_energy_j, **periphery(tile),
        sh_e_clock_j=spec.readout.sample_hold.clock_energy_j, noise_ktc_v=sized.ktc_noise_v,
        **sized.amp_figures(), adc_area_m2=adc.area_m2,
        array_area_m2=spec.rows * spec.cols * CELL_AREA_M2,
        ops=ops_per_read(spec.rows, spec.cols if tile.mapping is None
                        else tile.mapping.outputs_for(spec.cols)),
        precision=f"{spec.driver.dac_bits}b in x {_weight_bits(tile)} weight, {adc.bits}b out")


def _weight_bits(tile: Tile) -> str:
    """The weights' precision: signed levels of the mapping (its bits per device)."""
    if tile.mapping is None:
        return "analog"
    bits = tile.mapping.bits
    return f"{bits}b/device ({tile.mapping.scheme})"


def schedules_of(table: Table, tile: Tile, adc_share: int, *, columns: int | None = None,
                 rows: int | None = None) -> list[LayerSchedule]:
    """Every schedule of one tile's first ``columns`` columns (default: all), its DACs driving
    ``rows`` rows (default: those whose input is not 0: a zero input's DAC is gated off)."""
    spec = tile.spec
    figures = column_figures(table)
    extra = periphery(tile)
    driven = int(np.count_nonzero(tile.x_in)) if rows is None else rows
    return schedule_layer(figures if columns is None else figures.head(columns),
                          spec.readout.adc, adc_share, rows=driven,
                          dac_e_conv_j=spec.driver.conversion_energy_j,
                          sh_e_clock_j=spec.readout.sample_hold.clock_energy_j,
                          row_bias_w=extra["row_bias_w"], wordline_e_j=extra["wordline_e_j"])


def sim_options(tile: Tile, **overrides: object) -> SimOptions:
    """The simulation options for a tile: settled when the sampled value moves less than half
    an LSB over :data:`SETTLE_MARGIN`."""
    band = adc_band(tile.readout)
    return SimOptions(settle_tol_v=band.half_lsb_v / SETTLE_MARGIN, band_v=band.half_lsb_v,
                      full_scale_v=band.full_scale_v, **overrides)  # type: ignore[arg-type]


def simulate(tile: Tile, out: Path | str, *, options: RunOptions = RunOptions(),
             parameters: Mapping[str, object] | None = None, cluster: Cluster | None = None,
             executor: cf.Executor | None = None, workers: int | None = None,
             columns_per_task: int | None = None, overwrite: bool = False,
             progress: bool | None = None, command_line: str = "") -> RunSummary:
    """Simulate every column of ``tile`` not already in ``out`` (resuming it), measure, store
    and schedule: layer ``layer0`` holds the tile's schedules, and with
    ``options.monte_carlo`` replicas the layers ``layer0_pPP`` the percentiles of theirs
    (:mod:`spicecim.sim.montecarlo`). ``parameters`` (plain data) join the run's ``/config``."""
    from spicecim.sim import montecarlo

    check_encoding(tile)
    parameters = dict(parameters or {})
    tiles = [TileJob(TILE, tile)]
    layers = [LayerJob(LAYER, (TILE,))]
    if options.monte_carlo:
        parameters["monte_carlo"] = montecarlo.parameters(options.monte_carlo, options.seed)
        replicas = montecarlo.replicas(tile, options.monte_carlo, options.seed)
        tiles += [TileJob(name, rep) for name, rep in replicas]
        names = tuple(name for name, _ in replicas)
        layers += [LayerJob(montecarlo.spread_layer(p), names, montecarlo.percentile(p))
                   for p in montecarlo.PERCENTILES]
    return run_job(tiles, layers, out, reference=tile, options=options, parameters=parameters,
                   cluster=cluster, executor=executor, workers=workers,
                   columns_per_task=columns_per_task, overwrite=overwrite, progress=progress,
                   command_line=command_line)


def check_encoding(tile: Tile) -> None:
    if tile.spec.driver.encoding != "amplitude":
        raise SpecError(f"encoding={tile.spec.driver.encoding!r} is invalid for simulate: "
                        "expected 'amplitude' (a pulse-width input needs an integrating readout)")


def run_job(tiles: Sequence[TileJob], layers: Sequence[LayerJob], out: Path | str, *,
            reference: Tile, options: RunOptions = RunOptions(),
            parameters: Mapping[str, object] | None = None, cluster: Cluster | None = None,
            executor: cf.Executor | None = None, workers: int | None = None,
            columns_per_task: int | None = None, overwrite: bool = False,
            progress: bool | None = None, command_line: str = "") -> RunSummary:
    """Simulate every pending column of ``tiles`` into ``out`` and schedule ``layers``.
    ``reference`` (one of the tiles, or their common form) gives the configuration's
    specification, weight mapping and readout; the configuration's data digest covers every
    tile, so a rerun resumes only the very same job. Without ``executor`` the pool is
    ``cluster``'s (default: a local pool of ``workers``)."""
    names = [t.name for t in tiles]
    check(len(set(names)) == len(names), "tile names", names, "names used once")
    for layer in layers:
        unknown = sorted(set(layer.tiles) - set(names))
        check(not unknown, f"layer {layer.name} tiles", unknown, "tiles of the job")
    by_name = {t.name: t for t in tiles}
    drive = choose_drive(options.drive, options.engine, reference)
    options = dataclasses.replace(options, drive=drive)  # the file records the drive used
    options_of = {t.name: sim_options(t.tile, **dict(options.sim)) for t in tiles}
    config = _config(tiles, reference, options, options_of[tiles[0].name], parameters or {})
    provenance = {schema.ATTR_NGSPICE: NgspiceSession().version(),
                  schema.ATTR_COMMAND: command_line, schema.ATTR_ENGINE: options.engine}
    # The executor first: a cluster that cannot be reached is refused before anything is
    # written beside the output.
    # On the array drive the spot check's coupled drives are solved on a thread while the
    # arrays run (the main process mostly waits on the pool then), not after them; a column
    # drive's own solves come first (the sweep's), so the check's wait until it needs them.
    ahead = cf.ThreadPoolExecutor(1, thread_name_prefix="spicecim-check-drives")
    check_drives = {t.name: ahead.submit(row_drives, t.tile, BEST_COLUMN_DRIVE)
                    for t in _checked(tiles, options) if drive == "array"}
    with _executor(cluster, executor, workers, options.engine == "batched") as (
            pool, n_workers, per_task):
        writer = RunWriter(Path(out), config, provenance, overwrite=overwrite)
        try:
            for t in tiles:
                attrs = tile_attrs(t.tile, drive, options.threshold_fraction)
                writer.add_tile(t.name, t.tile.spec.cols, attrs.to_dict())
            pending = {t.name: writer.pending(t.name) for t in tiles}
            total = sum(t.tile.spec.cols for t in tiles)
            todo = sum(len(p) for p in pending.values())
            if todo:
                # Each tile's drives are solved as its first task is made (SweepPart.drive):
                # the workers start after the first tile's (or group's) solves, not every tile's.
                parts = [SweepPart(t.name, t.tile, (), options_of[t.name],
                                   tuple(pending[t.name]), t.group, drive=drive,
                                   engine=options.engine)
                         for t in tiles if pending[t.name]]
                task_size = columns_per_task or _task_size(options, pending, n_workers,
                                                           per_task(reference))
                with _bar(todo, progress) as bar:
                    for name, runs in sweep_tiles(parts, executor=pool, workers=n_workers,
                                                  columns_per_task=task_size):
                        _store(writer, by_name[name].tile, name, runs, options)
                        bar.update(len(runs))
            tables = {t.name: writer.columns(t.name) for t in tiles}
            schedules = {}
            for layer in layers:
                columns = layer.columns or (None,) * len(layer.tiles)
                rows = layer.rows or (None,) * len(layer.tiles)
                per_tile = [schedules_of(tables[n], by_name[n].tile, options.adc_share,
                                         columns=c, rows=r)
                            for n, c, r in zip(layer.tiles, columns, rows, strict=True)]
                schedules[layer.name] = layer.combine(per_tile)
                writer.write_layer(layer.name, schedules[layer.name], list(layer.tiles))
            spot = _spot_check(tiles, tables, options_of, options, drive, pool, check_drives)
            path = writer.finish(None if spot is None else functools.partial(_record, spot))
        finally:
            writer.close()
            ahead.shutdown(wait=False, cancel_futures=True)
    if spot is not None and spot.failures():
        raise EngineDisagreementError(
            "the batched engine disagrees with ngspice beyond the tolerance: "
            + "; ".join(spot.failures()) + f" (recorded in {path}; rerun with --engine ngspice)")
    failures = [(name, int(j), str(s), str(msg)) for name, t in tables.items()
                for j, s, msg in zip(t["column"], t["status"], t["message"], strict=True)
                if s != "ok"]
    return RunSummary(path, schedules, failures, todo, total - todo, spot)


def _task_size(options: RunOptions, pending: Mapping[str, Sequence[int]], workers: int | None,
               ngspice: int | None) -> int | None:
    """Columns per task: the pool's sizing for ngspice; for the batched engine a tile's
    pending columns split evenly over the workers (it solves a task's columns together, and
    each new batch shape costs a compilation)."""
    if options.engine != "batched":
        return ngspice
    most = max(len(p) for p in pending.values())
    return max(1, math.ceil(most / (workers or os.cpu_count() or 1)))


def _checked(tiles: Sequence[TileJob], options: RunOptions) -> list[TileJob]:
    """The tiles a run's spot check covers: on the batched engine with ``check_columns``, every
    tile (of a group of tiles sharing conductances, its first: its inputs share every
    element)."""
    if options.engine != "batched" or not options.check_columns:
        return []
    seen: set[str] = set()
    out = []
    for t in tiles:
        if t.group is None or t.group not in seen:
            seen.add(t.group or t.name)
            out.append(t)
    return out


def _spot_check(tiles: Sequence[TileJob], tables: Mapping[str, Table],
                options_of: Mapping[str, SimOptions], options: RunOptions, drive: str,
                executor: cf.Executor, drives: Mapping[str, cf.Future]) -> SpotCheck | None:
    """``options.check_columns`` columns of each :func:`_checked` tile again in ngspice,
    under ``drives`` (by tile, solved ahead) or the run's drive; on the array drive, on the
    coupled decomposition in both engines (:mod:`spicecim.sim.check`)."""
    checked = _checked(tiles, options)
    if not checked:
        return None
    from spicecim.sim.check import spot_check

    fields = ("column", "status", "latency_s", "v_final_v",
              *map(schema.energy_field, schema.ENERGY_PARTS))
    chosen = [(t.name, t.tile, drives[t.name].result() if t.name in drives
               else row_drives(t.tile, drive), {k: tables[t.name][k] for k in fields})
              for t in checked]
    return spot_check(chosen, options_of, options.check_columns, options.threshold_fraction,
                      array=drive == "array", executor=executor)


def _record(spot: SpotCheck, f: Any) -> None:
    f.attrs[schema.ATTR_ENGINE_CHECK] = json.dumps(spot.to_json(), sort_keys=True)
    if spot.decomposition:
        f.attrs[schema.ATTR_DECOMPOSITION_CHECK] = json.dumps(spot.decomposition_json(),
                                                              sort_keys=True)


def _config(tiles: Sequence[TileJob], reference: Tile, options: RunOptions,
            sim: SimOptions, parameters: Mapping[str, object]) -> dict:
    job = hashlib.sha256(" ".join(f"{t.name}:{t.tile.digest()}" for t in tiles).encode())
    mapping = reference.mapping
    simulation = {"drive": options.drive, "engine": options.engine,
                  "check_columns": options.check_columns, "adc_share": options.adc_share,
                  "waveforms": options.waveforms,
                  "threshold_fraction": options.threshold_fraction,
                  "options": sim.to_dict()}
    return schema.run_config(
        spec=reference.spec.to_dict(),
        mapping=None if mapping is None else {"scheme": mapping.scheme,
                                              "g_min_s": mapping.g_min_s,
                                              "g_max_s": mapping.g_max_s, "bits": mapping.bits},
        simulation=simulation, parameters=dict(parameters), readout=reference.readout.to_dict(),
        data_digest=job.hexdigest()[:16] if len(tiles) > 1 else reference.digest())


def _store(writer: RunWriter, tile: Tile, name: str, runs: Sequence[ColumnRun],
           options: RunOptions) -> None:
    """Measure a task's columns together (:func:`spicecim.measure_batch.measure_columns`) and
    write their records (and waveforms) in one go."""
    done = [run for run in runs if run.status != "failed"]
    measured = dict(zip((run.column for run in done), measure_runs(tile, done, options),
                        strict=True))
    rows = {run.column: column_record(run, measured.get(run.column)).row() for run in runs}
    waves = {run.column: _waves(run) for run in done} if options.waveforms else {}
    writer.write_columns(name, rows, waves)


def measure_runs(tile: Tile, runs: Sequence[ColumnRun], options: RunOptions
                 ) -> list[ColumnMeasure]:
    """Every figure of ``runs`` (none failed), :data:`MEASURE_BLOCK` columns at a time."""
    out: list[ColumnMeasure] = []
    for start in range(0, len(runs), MEASURE_BLOCK):
        block = runs[start:start + MEASURE_BLOCK]
        out += measure_columns(
            stack([r.time_s for r in block]), stack([r.v_out_v for r in block]),
            stack([r.v_in_v for r in block]),
            {g: stack([r.power_w[g] for r in block]) for g in block[0].power_w},
            np.array([len(r.time_s) for r in block]), tile.readout,
            options.threshold_fraction, tile.spec.driver.rise_s)
    return out


@contextmanager
def _executor(cluster: Cluster | None, executor: cf.Executor | None, workers: int | None,
              batched: bool) -> Iterator[tuple[cf.Executor, int | None,
                                               Callable[[Tile], int | None]]]:
    """The executor to run on, its worker count (None: the executor's own), and the columns
    per task for a tile (None: the sweep's batching)."""
    if executor is not None:
        yield executor, workers, lambda tile: None
        return
    with open_pool(cluster or Cluster(workers=workers), batched=batched) as pool:
        yield (pool.executor, pool.workers,
               lambda tile: pool.columns_per_task(tile.spec.rows, tile.spec.cols))


def _waves(run: ColumnRun) -> dict[str, Any]:
    waves: dict[str, Any] = {"time_s": run.time_s, "v_out_v": run.v_out_v, "v_in_v": run.v_in_v}
    waves.update({f"p_{g}_w": p for g, p in run.power_w.items()})
    return waves


def _bar(total: int, progress: bool | None) -> AbstractContextManager[Any]:
    """The columns' bar: redrawn every second from the start (:func:`spicecim.progress.ticking`),
    its estimate from the average rate since the start (``smoothing=0``), which settles as
    columns finish in tasks, where tqdm's default, a moving average over the last few updates,
    swung from hours to minutes between them."""
    from tqdm import tqdm

    enabled = sys.stderr.isatty() if progress is None else progress
    return ticking(tqdm(total=total, unit="col", desc="columns", disable=not enabled,
                        file=sys.stderr, smoothing=0))
