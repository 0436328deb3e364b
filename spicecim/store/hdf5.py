"""The HDF5 store of a run (h5py), in the layout of :mod:`spicecim.store.schema`, written so that
no kill, at any instant, loses finished work or leaves a file that cannot be read.

Writing (:class:`RunWriter`), beside the output ``<out>``:

- ``<out>.lock``: held (``flock``) for the whole run, so there is one writer per output
  (:mod:`spicecim.store.lock`);
- ``<out>.journal``: while the run is unfinished, every finished batch of columns (rows and
  waveforms), tile and layer, appended and fsynced as it arrives
  (:mod:`spicecim.store.journal`); a kill can only cut it short, and the torn last record is
  dropped on resume, and said so;
- ``<out>``: written only by :meth:`RunWriter.finish`, once every column of every tile is done:
  to ``<out>.tmp``, fsynced, then renamed over ``<out>`` (atomic), and the journal removed.

Resuming: the same output with the same configuration picks up the journal (and the complete
``<out>`` it extends, if it records one), or extends a complete ``<out>``; another
configuration is refused (:class:`ConfigMismatchError`) unless ``overwrite``, which never
touches an output another live run holds. An unfinished ``<out>.partial`` from an earlier
spicecim is salvaged into the journal (what reads back is kept, the rest recomputed, and said).

Reading: :func:`open_run` (:mod:`spicecim.store.runs`), of a complete file or of an unfinished
run (from its journal).

A leaf: it imports nothing of the simulator.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, SupportsInt, cast

import h5py
import numpy as np

import spicecim
from spicecim.errors import ResultFileError
from spicecim.store import schema
from spicecim.store.files import atomic_write, fsync_dir
from spicecim.store.journal import JournalFile, Record, read_arrays
from spicecim.store.lock import RunLock
from spicecim.store.runs import (
    EmptyJournalError,
    FileRun,
    PartialRun,
    Run,
    Table,
    beside,
    h5_dtype,
    layer_table,
    open_run,
    read_journal,
    state_of,
    units_of,
)
from spicecim.store.state import (
    BASE,
    RunState,
    columns_meta,
    layer_meta,
    open_meta,
    plain,
    provenance_meta,
    tile_meta,
)

__all__ = ["ConfigMismatchError", "FileRun", "PartialRun", "Run", "RunWriter", "Table",
           "config_differences", "open_run"]

log = logging.getLogger("spicecim")


class ConfigMismatchError(ResultFileError):
    """The output file holds a run made with other parameters."""


def _flatten(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def config_differences(old: Mapping, new: Mapping) -> list[str]:
    """``key: old -> new`` for every leaf that differs between two configurations."""
    a, b = _flatten(dict(old)), _flatten(dict(new))
    return [f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}"
            for k in sorted(set(a) | set(b)) if a.get(k, "<absent>") != b.get(k, "<absent>")]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class RunWriter:
    """Writes the run at ``path``: holds its lock from construction to :meth:`close` (or
    :meth:`finish`), journals every tile, batch of columns and layer, and writes ``path`` at
    :meth:`finish`. ``resumed`` tells whether earlier work was found."""

    def __init__(self, path: Path, config: Mapping, provenance: Mapping[str, str], *,
                 overwrite: bool = False) -> None:
        self.path = Path(path)
        self.journal = beside(self.path, schema.JOURNAL_SUFFIX)
        self.config = plain(dict(config))
        self._lock = RunLock(self.path, str(provenance.get(schema.ATTR_COMMAND, "")))
        self._lock.acquire()
        try:
            self._open(provenance, overwrite)
        except BaseException:
            self._lock.release()
            raise

    def _open(self, provenance: Mapping[str, str], overwrite: bool) -> None:
        self._file: JournalFile | None = None
        self._good_bytes: int | None = None
        self._base: Path | None = None
        self._dirty = False
        # An unfinished final file: what it was being made of is still in the journal.
        beside(self.path, schema.TEMP_SUFFIX).unlink(missing_ok=True)
        state = None
        if overwrite:  # the old <out> stays until the new one replaces it
            self.journal.unlink(missing_ok=True)
            beside(self.path, schema.PARTIAL_SUFFIX).unlink(missing_ok=True)
        else:
            state = self._resume()
        self._state = state or RunState(self.config, {schema.ATTR_CREATED: _now()})
        self._session = {schema.ATTR_SCHEMA: schema.SCHEMA_VERSION,
                         schema.ATTR_SPICECIM: spicecim.__version__, **provenance}
        self._state.attrs.update(self._session)
        legacy = beside(self.path, schema.PARTIAL_SUFFIX)
        self.resumed = state is not None or legacy.exists()
        if legacy.exists():
            self._salvage(legacy)

    def _check(self, path: Path, version: object, stored: Mapping) -> None:
        if version != schema.SCHEMA_VERSION:
            raise ResultFileError(f"{path} has schema version {version}, expected "
                                  f"{schema.SCHEMA_VERSION}: use --overwrite to start anew")
        diff = config_differences(stored, self.config)
        if diff:
            raise ConfigMismatchError(f"{path} holds a run with other parameters "
                                      f"({'; '.join(diff)}): use --overwrite to start anew")

    def _resume(self) -> RunState | None:
        if self.journal.exists():
            try:
                state, found, self._base = read_journal(self.journal, self.path, self._check)
            except EmptyJournalError:
                log.warning("note: %s holds no whole record (killed as it was created): "
                            "starting anew", self.journal)
                self.journal.unlink()
            else:
                self._good_bytes, self._dirty = found.good_bytes, True
                if found.dropped_bytes:
                    done, total = state.counts()
                    log.warning("note: %s ends in %s (%d bytes, written when the run was "
                                "stopped): dropped it; kept %d of the %d columns it records, "
                                "the rest will be simulated", self.journal, found.reason,
                                found.dropped_bytes, done, total)
                return state
        if self.path.exists():
            try:
                run = FileRun(self.path)
            except ResultFileError as exc:
                raise ResultFileError(f"{exc}: use --overwrite to start anew") from exc
            with run:
                self._check(self.path, run.provenance.get(schema.ATTR_SCHEMA), run.config)
                self._base = self.path
                return state_of(run)
        return None

    def _salvage(self, legacy: Path) -> None:
        """Keep what reads back of an earlier spicecim's unfinished HDF5 file, in the journal."""
        try:
            run = FileRun(legacy)
        except ResultFileError as exc:
            damaged = beside(legacy, schema.DAMAGED_SUFFIX)
            os.replace(legacy, damaged)
            log.warning("note: %s cannot be read (%s): kept none of it (moved to %s); every "
                        "column will be simulated", legacy, exc.__cause__ or exc, damaged)
            return
        kept = total = 0
        with run:
            self._check(legacy, run.provenance.get(schema.ATTR_SCHEMA), run.config)
            for name in run.tiles():
                try:
                    table = run.columns(name)
                    self.add_tile(name, len(table), run.stored_tile_attrs(name))
                except (OSError, KeyError, ValueError, ResultFileError):
                    continue  # this tile is simulated anew
                total += len(table)
                rows, waves = {}, {}
                stored = set(run.waveform_columns(name))
                for row in table.rows():
                    # A number read back from the file (h5py is untyped).
                    j = int(cast(SupportsInt, row.pop("column")))
                    if row["status"] == schema.PENDING:
                        continue
                    try:
                        if j in stored:
                            waves[j] = run.waveform(name, j).data
                    except (OSError, KeyError, ValueError):
                        continue
                    rows[j] = row
                if rows:
                    self.write_columns(name, rows, waves)
                kept += len(rows)
        legacy.unlink()
        log.warning("note: %s (an unfinished run of an earlier spicecim) read back: kept %d of "
                    "its %d columns in %s, the other %d will be simulated", legacy, kept, total,
                    self.journal, total - kept)

    def _append(self, meta: dict, arrays: Mapping[str, np.ndarray] | None = None) -> None:
        if self._file is None:
            new = not self.journal.exists()
            self._file = JournalFile(self.journal, self._good_bytes)
            if new:
                self._file.append(open_meta(self.config, self._base is not None,
                                            str(self._state.attrs[schema.ATTR_CREATED])))
            self._file.append(provenance_meta(self._session))
        offset = self._file.append(meta, arrays)
        self._state.apply(Record(offset, meta))
        self._dirty = True

    def add_tile(self, tile: str, cols: int, attrs: Mapping[str, object]) -> None:
        """Add a tile (every column pending) unless the run has it."""
        if tile not in self._state.tiles:
            self._append(tile_meta(tile, cols, attrs))

    def pending(self, tile: str) -> list[int]:
        return self._state.tiles[tile].pending()

    def columns(self, tile: str) -> Table:
        table = self._state.tiles[tile].table
        return Table({k: v.copy() for k, v in table.items()}, units_of(schema.COLUMN_FIELDS))

    def write_columns(self, tile: str, rows: Mapping[int, Mapping[str, object]],
                      waveforms: Mapping[int, Mapping[str, np.ndarray]] | None = None) -> None:
        """Record finished columns (rows: field name -> value) and their waveforms, durably:
        once this returns, no kill loses them."""
        if tile not in self._state.tiles:
            raise KeyError(f"no tile {tile!r}: add_tile first")
        # HDF5 strings end at NUL: ngspice never prints one, but never lose the rest.
        clean = {int(j): {k: v.replace("\x00", "\ufffd") if isinstance(v, str) else v
                          for k, v in row.items()} for j, row in rows.items()}
        self._append(*columns_meta(tile, clean, waveforms or {}))

    def write_layer(self, layer: str, schedules: Sequence[Any], tiles: Sequence[str]) -> None:
        meta = layer_meta(layer, schedules, tiles)
        if self._state.layers.get(layer) != (meta["rows"], meta["tiles"]):
            self._append(meta)

    def finish(self, extra: Callable[[h5py.File], None] | None = None) -> Path:
        """Write ``path`` (to a temporary name, made durable, renamed into place), marked
        complete, then drop the journal and the lock. ``extra`` adds to the file first.
        Refused while a column is pending: a complete file holds every column of its tiles."""
        unfinished = {t: len(s.pending()) for t, s in self._state.tiles.items() if s.pending()}
        if unfinished:
            raise ResultFileError(f"{self.path} cannot be finished: columns not simulated yet "
                                  f"({', '.join(f'{t}: {n}' for t, n in unfinished.items())})")
        if self._dirty or extra is not None or self._base is None:
            def write(tmp: Path) -> None:
                with h5py.File(tmp, "w") as f:
                    self._write(f)
                    if extra is not None:
                        extra(f)
                    f.attrs[schema.ATTR_COMPLETE] = True

            # a fixed temporary name: the next writer of this output removes it after a kill
            atomic_write(self.path, write, temp=beside(self.path, schema.TEMP_SUFFIX))
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.journal.exists():
            self.journal.unlink()
            fsync_dir(self.path.parent)
        self.close()
        return self.path

    def _write(self, f: h5py.File) -> None:
        state = self._state
        f.attrs.update(state.attrs)
        ds = f.create_dataset(schema.CONFIG, data=json.dumps(state.config, sort_keys=True),
                              dtype=h5py.string_dtype())
        ds.attrs[schema.ATTR_UNITS] = schema.CONFIG_UNITS
        base = FileRun(self._base) if self._base is not None else None
        try:
            for name, tile in state.tiles.items():
                f.create_group(schema.tile_group(name)).attrs.update(tile.attrs)
                table = f.create_group(schema.columns_group(name))
                for fld in schema.COLUMN_FIELDS:
                    table.create_dataset(fld.name, data=tile.table[fld.name],
                                         dtype=h5_dtype(fld)).attrs[schema.ATTR_UNITS] = fld.units
                by_record: dict[int, list[int]] = defaultdict(list)
                for j, offset in sorted(tile.waves.items()):
                    by_record[offset].append(j)
                for offset, cols in by_record.items():
                    arrays = read_arrays(self.journal, offset) if offset != BASE else {}
                    for j in cols:
                        if offset == BASE:
                            waves = base._waveform(name, j).data  # type: ignore[union-attr]
                        else:
                            waves = {w.name: arrays[f"{j}/{w.name}"]
                                     for w in schema.WAVEFORM_FIELDS}
                        _write_waves(f, name, j, waves)
        finally:
            if base is not None:
                base.close()
        for name, (rows, tiles) in state.layers.items():
            group = f.create_group(schema.layer_group(name))
            group.attrs[schema.ATTR_LAYER_TILES] = list(tiles)
            for fld_name, values in layer_table(rows).data.items():
                spec = next(x for x in schema.LAYER_FIELDS if x.name == fld_name)
                group.create_dataset(fld_name, data=values, dtype=h5_dtype(spec)).attrs[
                    schema.ATTR_UNITS] = spec.units

    def close(self) -> None:
        """Stop writing (whatever is journaled stays for a later resume) and let go of the
        lock."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._lock.release()


def _write_waves(f: h5py.File, tile: str, column: int, waves: Mapping[str, np.ndarray]) -> None:
    group = f.create_group(schema.waveform_group(tile, column))
    for fld in schema.WAVEFORM_FIELDS:
        data = np.asarray(waves[fld.name], dtype=float)
        packed = {"compression": "gzip", "shuffle": True, "chunks": (min(len(data), 4096),)}
        ds = group.create_dataset(fld.name, data=data, **(packed if len(data) else {}))
        ds.attrs[schema.ATTR_UNITS] = fld.units
