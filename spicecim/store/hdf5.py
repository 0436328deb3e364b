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

Reading: :func:`open_run`, of a complete file or of an unfinished run (from its journal).

A leaf: it imports nothing of the simulator.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import spicecim
from spicecim.errors import ResultFileError
from spicecim.store import schema
from spicecim.store.journal import JournalFile, Record, Replay, fsync_dir, read_arrays, replay
from spicecim.store.lock import RunLock
from spicecim.store.state import (
    BASE,
    OPEN,
    PROVENANCE,
    RunState,
    TileState,
    columns_meta,
    layer_meta,
    open_meta,
    plain,
    tile_meta,
)

log = logging.getLogger("spicecim")


class ConfigMismatchError(ResultFileError):
    """The output file holds a run made with other parameters."""


class _EmptyJournal(ResultFileError):
    """A journal without even its first record (killed as it was being created)."""


@dataclass(frozen=True, slots=True)
class Table:
    """Named columns of equal length, each with its unit (strings decoded to ``str``)."""

    data: Mapping[str, np.ndarray]
    units: Mapping[str, str]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.data[name]

    def __len__(self) -> int:
        return len(next(iter(self.data.values()))) if self.data else 0

    def rows(self) -> list[dict[str, object]]:
        return [{k: _scalar(v[i]) for k, v in self.data.items()} for i in range(len(self))]


def _scalar(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _dtype(f: schema.Field) -> object:
    return h5py.string_dtype() if f.kind == "str" else np.dtype(f.kind)


def _read(ds: h5py.Dataset) -> np.ndarray:
    if h5py.check_string_dtype(ds.dtype) is not None:
        return np.array(ds.asstr()[...], dtype=object)
    return ds[...]


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


def beside(out: Path, suffix: str) -> Path:
    """The file ``<out><suffix>`` (journal, lock, temporary, legacy partial)."""
    return out.with_name(out.name + suffix)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _units(fields: Sequence[schema.Field]) -> dict[str, str]:
    return {f.name: f.units for f in fields}


# --- reading -------------------------------------------------------------------------------------


class Run:
    """A run opened for reading (``with open_run(path) as run: ...``): a complete file, or an
    unfinished run read from its journal."""

    path: Path

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release unless a file is open."""

    @property
    def provenance(self) -> dict[str, object]:
        raise NotImplementedError

    @property
    def complete(self) -> bool:
        raise NotImplementedError

    @property
    def config(self) -> dict:
        raise NotImplementedError

    def tiles(self) -> list[str]:
        raise NotImplementedError

    def tile_attrs(self, tile: str) -> dict[str, object]:
        raise NotImplementedError

    def columns(self, tile: str) -> Table:
        raise NotImplementedError

    def layers(self) -> list[str]:
        raise NotImplementedError

    def layer(self, layer: str) -> Table:
        raise NotImplementedError

    def layer_tiles(self, layer: str) -> list[str]:
        raise NotImplementedError

    def waveform_columns(self, tile: str) -> list[int]:
        """Columns whose waveforms are stored (none unless simulated with --waveforms)."""
        raise NotImplementedError

    def _waveform(self, tile: str, column: int) -> Table:
        raise NotImplementedError

    def waveform(self, tile: str, column: int) -> Table:
        if column not in self.waveform_columns(tile):
            raise ResultFileError(f"{self.path} has no waveform of {tile} column {column} "
                                  "(simulate with --waveforms)")
        return self._waveform(tile, column)

    def failures(self, tile: str) -> list[tuple[int, str, str]]:
        """``(column, status, message)`` of every simulated column that did not end ``ok``."""
        t = self.columns(tile)
        return [(int(j), str(s), str(m)) for j, s, m in zip(t["column"], t["status"], t["message"],
                                                             strict=True)
                if s not in ("ok", schema.PENDING)]

    def pending(self, tile: str) -> list[int]:
        """Columns not simulated yet (a partial run)."""
        t = self.columns(tile)
        return [int(j) for j in t["column"][t["status"] == schema.PENDING]]


class FileRun(Run):
    """A run file (HDF5)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.file = h5py.File(self.path, "r")
            version = self.file.attrs[schema.ATTR_SCHEMA]
        except (OSError, KeyError) as exc:
            if hasattr(self, "file"):
                self.file.close()
            raise ResultFileError(f"{self.path} is not a readable spicecim run ({exc})") from exc
        if version != schema.SCHEMA_VERSION:
            self.file.close()
            raise ResultFileError(f"{self.path} has schema version {version}, expected "
                                  f"{schema.SCHEMA_VERSION}")

    def close(self) -> None:
        self.file.close()

    @property
    def provenance(self) -> dict[str, object]:
        return {k: _scalar(self.file.attrs[k]) for k in schema.ROOT_ATTRS if k in self.file.attrs}

    @property
    def complete(self) -> bool:
        return bool(self.file.attrs.get(schema.ATTR_COMPLETE, False))

    @property
    def config(self) -> dict:
        return json.loads(self.file[schema.CONFIG].asstr()[()])

    def tiles(self) -> list[str]:
        return sorted(self.file.get(schema.TILES, {}))

    def tile_attrs(self, tile: str) -> dict[str, object]:
        return {k: _scalar(v) for k, v in self.file[schema.tile_group(tile)].attrs.items()}

    def columns(self, tile: str) -> Table:
        return _table(self.file[schema.columns_group(tile)], schema.COLUMN_FIELDS)

    def layers(self) -> list[str]:
        return sorted(self.file.get(schema.LAYERS, {}))

    def layer(self, layer: str) -> Table:
        return _table(self.file[schema.layer_group(layer)], schema.LAYER_FIELDS)

    def layer_tiles(self, layer: str) -> list[str]:
        return [str(t) for t in self.file[schema.layer_group(layer)].attrs[schema.ATTR_LAYER_TILES]]

    def waveform_columns(self, tile: str) -> list[int]:
        return [int(j) for j in self.columns(tile)["column"]
                if schema.waveform_group(tile, int(j)) in self.file]

    def _waveform(self, tile: str, column: int) -> Table:
        return _table(self.file[schema.waveform_group(tile, column)], schema.WAVEFORM_FIELDS)


def _table(group: h5py.Group, fields: Sequence[schema.Field]) -> Table:
    return Table({f.name: _read(group[f.name]) for f in fields},
                 {f.name: str(group[f.name].attrs[schema.ATTR_UNITS]) for f in fields})


def _state_of(run: FileRun) -> RunState:
    """Everything of a run file but its waveforms, which stay there (:data:`BASE`)."""
    attrs = {k: v for k, v in run.provenance.items() if k != schema.ATTR_COMPLETE}
    state = RunState(run.config, attrs)
    for name in run.tiles():
        table = run.columns(name)
        tile = TileState(len(table), run.tile_attrs(name), dict(table.data))
        tile.waves = dict.fromkeys(run.waveform_columns(name), BASE)
        state.tiles[name] = tile
    for name in run.layers():
        state.layers[name] = (plain(run.layer(name).rows()), run.layer_tiles(name))
    return state


def _read_journal(journal: Path, out: Path, check: Callable[[Path, object, Mapping], None]
                  ) -> tuple[RunState, Replay, Path | None]:
    """The state a journal records (on top of the complete ``out`` it extends, if it says so),
    its replay, and that base file; ``check(path, schema_version, config)`` vets the journal,
    and the base, before anything is applied."""
    found = replay(journal)
    if not found.records or found.records[0].meta.get("kind") != OPEN:
        raise _EmptyJournal(f"{journal} holds no whole record yet: the run is starting, or was "
                            "killed as it started")
    head = found.records[0].meta
    check(journal, head.get("schema_version"), head.get("config", {}))
    base = out if head.get("base") and out.exists() else None
    if base is not None:
        with FileRun(base) as run:
            check(base, run.provenance.get(schema.ATTR_SCHEMA), run.config)
            state = _state_of(run)
    else:
        state = RunState(head["config"], {schema.ATTR_CREATED: head["created_utc"]})
    try:
        for record in found.records[1:]:
            state.apply(record)
    except (KeyError, TypeError, ValueError, ResultFileError) as exc:
        raise ResultFileError(f"{journal} was written by another spicecim ({exc}): use "
                              "--overwrite to start anew") from exc
    return state, found, base


class PartialRun(Run):
    """An unfinished run, read from its journal (and the complete file it extends, if any)."""

    def __init__(self, out: Path, journal: Path) -> None:
        self.path = journal
        self._state, _, self._base = _read_journal(journal, out, _check_version)

    @property
    def provenance(self) -> dict[str, object]:
        attrs = {k: self._state.attrs[k] for k in schema.ROOT_ATTRS if k in self._state.attrs}
        return {**attrs, schema.ATTR_COMPLETE: False}

    @property
    def complete(self) -> bool:
        return False

    @property
    def config(self) -> dict:
        return self._state.config

    def tiles(self) -> list[str]:
        return sorted(self._state.tiles)

    def tile_attrs(self, tile: str) -> dict[str, object]:
        return dict(self._state.tiles[tile].attrs)

    def columns(self, tile: str) -> Table:
        table = self._state.tiles[tile].table
        return Table({k: v.copy() for k, v in table.items()}, _units(schema.COLUMN_FIELDS))

    def layers(self) -> list[str]:
        return sorted(self._state.layers)

    def layer(self, layer: str) -> Table:
        return _layer_table(self._state.layers[layer][0])

    def layer_tiles(self, layer: str) -> list[str]:
        return list(self._state.layers[layer][1])

    def waveform_columns(self, tile: str) -> list[int]:
        return sorted(self._state.tiles[tile].waves)

    def _waveform(self, tile: str, column: int) -> Table:
        offset = self._state.tiles[tile].waves[column]
        if offset == BASE and self._base is not None:
            with FileRun(self._base) as run:
                return run.waveform(tile, column)
        arrays = read_arrays(self.path, offset)
        return Table({f.name: arrays[f"{column}/{f.name}"] for f in schema.WAVEFORM_FIELDS},
                     _units(schema.WAVEFORM_FIELDS))


def _layer_table(rows: list[dict]) -> Table:
    data = {f.name: np.array([r[f.name] for r in rows], dtype=object if f.kind == "str"
                             else f.kind) for f in schema.LAYER_FIELDS}
    return Table(data, _units(schema.LAYER_FIELDS))


def _check_version(path: Path, version: object, config: Mapping) -> None:
    if version != schema.SCHEMA_VERSION:
        raise ResultFileError(f"{path} has schema version {version}, expected "
                              f"{schema.SCHEMA_VERSION}")


def open_run(path: Path | str) -> Run:
    """Open a run for reading: the unfinished run its journal records (``path`` may name the
    journal itself; a run under way, or stopped, is newer than a complete file it will
    replace), else the complete file at ``path``, else an earlier spicecim's partial file."""
    path = Path(path)
    if path.name.endswith(schema.JOURNAL_SUFFIX):
        return PartialRun(path.with_name(path.name[:-len(schema.JOURNAL_SUFFIX)]), path)
    journal = beside(path, schema.JOURNAL_SUFFIX)
    if journal.exists():
        try:
            return PartialRun(path, journal)
        except _EmptyJournal:
            if not path.exists():
                raise
    if path.exists():
        return FileRun(path)
    legacy = beside(path, schema.PARTIAL_SUFFIX)
    if legacy.exists():
        return FileRun(legacy)
    raise ResultFileError(f"{path} does not exist: expected a file written by "
                          "'spicecim simulate'")


# --- writing -------------------------------------------------------------------------------------


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
                state, found, self._base = _read_journal(self.journal, self.path, self._check)
            except _EmptyJournal:
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
                return _state_of(run)
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
                    self.add_tile(name, len(table), run.tile_attrs(name))
                except (OSError, KeyError, ValueError):
                    continue  # this tile is simulated anew
                total += len(table)
                rows, waves = {}, {}
                stored = set(run.waveform_columns(name))
                for row in table.rows():
                    j = int(row.pop("column"))
                    if row["status"] == schema.PENDING:
                        continue
                    try:
                        if j in stored:
                            waves[j] = run.waveform(name, j).data
                    except (OSError, KeyError, ValueError):
                        continue
                    rows[j] = row
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
            self._file.append({"kind": PROVENANCE, "attrs": plain(self._session)})
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
        return Table({k: v.copy() for k, v in table.items()}, _units(schema.COLUMN_FIELDS))

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
            tmp = beside(self.path, schema.TEMP_SUFFIX)
            with h5py.File(tmp, "w") as f:
                self._write(f)
                if extra is not None:
                    extra(f)
                f.attrs[schema.ATTR_COMPLETE] = True
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            fsync_dir(self.path.parent)
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
                                         dtype=_dtype(fld)).attrs[schema.ATTR_UNITS] = fld.units
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
            for fld, values in _layer_table(rows).data.items():
                spec = next(x for x in schema.LAYER_FIELDS if x.name == fld)
                group.create_dataset(fld, data=values, dtype=_dtype(spec)).attrs[
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
