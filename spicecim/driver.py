"""The run driver: a tile through the simulator, measured, into the store.

Every caller that simulates (the CLI, the evaluator's on-demand tables, Monte Carlo) goes
through here, so a run file always holds what the evaluator needs to read it back.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spicecim.errors import SpecError
from spicecim.measure import (
    DEFAULT_THRESHOLD_FRACTION,
    ColumnFigures,
    ColumnMeasure,
    LayerSchedule,
    adc_band,
    measure_column,
    schedule_layer,
)
from spicecim.netlist.spec import Tile
from spicecim.sim.column import ColumnRun, SimOptions
from spicecim.sim.ngspice import NgspiceSession
from spicecim.sim.sweep import row_drives, sweep
from spicecim.store import schema
from spicecim.store.hdf5 import RunWriter, Table

TILE = "tile0"
LAYER = "layer0"
SETTLE_MARGIN = 100
"""The simulator stops once the readout drifts less than half an LSB over this margin."""


@dataclass(frozen=True, slots=True)
class RunSummary:
    path: Path
    schedules: list[LayerSchedule]
    failures: list[tuple[int, str, str]]
    simulated: int
    kept: int
    columns: Table = field(repr=False)


def column_row(run: ColumnRun, m: ColumnMeasure | None) -> dict[str, object]:
    """A column table row (schema.COLUMN_FIELDS) from a run and its figures."""
    row: dict[str, object] = {
        "status": run.status, "retries": run.retries, "extensions": run.extensions,
        "refined": int(run.refined), "stop_s": run.stop_s, "max_step_s": run.max_step_s,
        "cpu_s": run.cpu_s, "netlist_sha": run.netlist_sha,
        "ngspice_options": run.ngspice_options, "message": run.message,
    }
    if run.scales is not None:
        row.update(tau_row_s=run.scales.row_s, tau_column_s=run.scales.column_s,
                   tau_frontend_s=run.scales.frontend_s,
                   tau_sample_hold_s=run.scales.sample_hold_s)
    if m is not None:
        row.update(latency_s=m.latency_s, settle_s=m.settle_s, threshold_s=m.threshold_s,
                   v_final_v=m.v_final_v, window_s=m.window_s, snr_db=m.snr_db)
        row.update({schema.energy_field(k): v for k, v in m.energy_j.items()})
        row.update({schema.power_field(k): v for k, v in m.power_end_w.items()})
    return row


def tile_attrs(tile: Tile, drive: str, threshold_fraction: float) -> dict[str, object]:
    """What a tile's table was made with (:data:`spicecim.store.schema.TILE_ATTRS`)."""
    sized, spec = tile.readout, tile.spec
    adc = spec.readout.adc
    return {"spec_digest": spec.digest(), "data_digest": tile.digest(), "drive": drive,
            "threshold_fraction": threshold_fraction, "front_end": spec.readout.front_end,
            "i_fs_a": sized.i_fs_a, "gain_ohm": sized.gain_ohm, "c_s_f": sized.c_s_f,
            "adc_full_scale_v": sized.full_scale_v, "adc_lsb_v": sized.lsb_v,
            "adc_bits": adc.bits, "adc_t_conv_s": adc.t_conv_s, "adc_e_conv_j": adc.e_conv_j,
            "noise_v": sized.noise_v, "noise_ok": sized.noise_ok,
            "noise_warning": sized.noise_warning(), "dac_e_conv_j": spec.driver.e_conv_j,
            "sh_e_clock_j": spec.readout.sample_hold.clock_energy_j}


def column_figures(table: Table) -> ColumnFigures:
    """A tile's column table as a schedule sees it (NaN where a column did not end ok)."""
    ok = table["status"] == "ok"

    def column(name: str) -> np.ndarray:
        return np.where(ok, np.asarray(table[name], float), math.nan)

    array = column(schema.energy_field("drivers")) + column(schema.energy_field("wordline"))
    p_array = column(schema.power_field("drivers")) + column(schema.power_field("wordline"))
    return ColumnFigures(latency_s=column("latency_s"), window_s=column("window_s"),
                         energy_array_j=array,
                         energy_frontend_j=column(schema.energy_field("frontend")),
                         power_array_w=p_array,
                         power_frontend_w=column(schema.power_field("frontend")))


def schedules_of(table: Table, tile: Tile, adc_share: int) -> list[LayerSchedule]:
    """Every schedule of one tile's columns."""
    spec = tile.spec
    return schedule_layer(column_figures(table), spec.readout.adc, adc_share, rows=spec.rows,
                          dac_e_conv_j=spec.driver.e_conv_j,
                          sh_e_clock_j=spec.readout.sample_hold.clock_energy_j)


def sim_options(tile: Tile, **overrides: object) -> SimOptions:
    """The simulation options for a tile: settled when the sampled value moves less than half
    an LSB over :data:`SETTLE_MARGIN`."""
    band = adc_band(tile.readout)
    return SimOptions(settle_tol_v=band.half_lsb_v / SETTLE_MARGIN, band_v=band.half_lsb_v,
                      full_scale_v=band.full_scale_v, **overrides)  # type: ignore[arg-type]


def simulate_to_file(tile: Tile, out: Path, *, parameters: Mapping,
                     drive: str = "coupled", adc_share: int = 8, waveforms: bool = False,
                     workers: int | None = None, executor: cf.Executor | None = None,
                     overwrite: bool = False, command_line: str = "",
                     sim: Mapping[str, object] | None = None, progress: bool | None = None,
                     threshold_fraction: float = DEFAULT_THRESHOLD_FRACTION,
                     columns_per_task: int | None = None) -> RunSummary:
    """Simulate every column of ``tile`` not already in ``out``, measure, store, schedule.

    ``parameters`` (weights mapping, seed...) join the configuration stored in ``/config``;
    ``sim`` overrides :class:`SimOptions` fields; ``progress`` shows a bar on stderr (default:
    if a terminal); ``columns_per_task`` overrides the sweep's batching (see
    :func:`spicecim.sim.sweep.sweep`). A run whose ``parameters`` record ``monte_carlo`` is left
    unfinished (in its journal) for :func:`spicecim.montecarlo.add_replicas` to complete.
    """
    spec = tile.spec
    if spec.driver.encoding != "amplitude":
        raise SpecError(f"encoding={spec.driver.encoding!r} is invalid for simulate: expected "
                        "'amplitude' (a pulse-width input needs an integrating readout)")
    if adc_share < 1:
        raise SpecError(f"adc_share={adc_share} is invalid: expected an integer >= 1")
    sized = tile.readout
    options = sim_options(tile, **dict(sim or {}))
    config = {"spec": spec.to_dict(), "parameters": dict(parameters),
              "data_digest": tile.digest(), "readout": sized.to_dict(),
              "simulation": {"drive": drive, "adc_share": adc_share, "waveforms": waveforms,
                             "threshold_fraction": threshold_fraction,
                             "options": options.to_dict()}}
    version = NgspiceSession().version()
    provenance = {schema.ATTR_NGSPICE: version, schema.ATTR_COMMAND: command_line}
    writer = RunWriter(out, config, provenance, overwrite=overwrite)
    try:
        writer.add_tile(TILE, spec.cols, tile_attrs(tile, drive, threshold_fraction))
        pending = writer.pending(TILE)
        kept = spec.cols - len(pending)
        if pending:
            drives = row_drives(tile, drive)
            with _bar(len(pending), progress) as bar:
                for runs in sweep(tile, drives, options, columns=pending, executor=executor,
                                  workers=workers, columns_per_task=columns_per_task):
                    rows, waves = {}, {}
                    for run in runs:
                        m = None
                        if run.status != "failed":
                            m = measure_column(run.time_s, run.v_out_v, run.v_in_v, run.power_w,
                                               sized, threshold_fraction)
                            if waveforms:
                                waves[run.column] = _waves(run)
                        rows[run.column] = column_row(run, m)
                    writer.write_columns(TILE, rows, waves)
                    bar.update(len(runs))
        table = writer.columns(TILE)
        schedules = schedules_of(table, tile, adc_share)
        writer.write_layer(LAYER, schedules, [TILE])
        # A run that records Monte Carlo replicas is complete only with them: add_replicas
        # finishes it, so no file says complete without the tiles its configuration records.
        path = Path(out) if "monte_carlo" in parameters else writer.finish()
    finally:
        writer.close()
    failures = [(int(j), str(s), str(msg)) for j, s, msg in
                zip(table["column"], table["status"], table["message"], strict=True) if s != "ok"]
    return RunSummary(path, schedules, failures, len(pending), kept, table)


def _waves(run: ColumnRun) -> dict[str, np.ndarray]:
    waves = {"time_s": run.time_s, "v_out_v": run.v_out_v, "v_in_v": run.v_in_v}
    waves.update({f"p_{g}_w": p for g, p in run.power_w.items()})
    return waves


def _bar(total: int, progress: bool | None):  # noqa: ANN202 - tqdm's type
    from tqdm import tqdm

    enabled = sys.stderr.isatty() if progress is None else progress
    return tqdm(total=total, unit="col", desc="columns", disable=not enabled, file=sys.stderr)
