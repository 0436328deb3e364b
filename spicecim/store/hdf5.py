"""The HDF5 store of a run (h5py), in the layout of :mod:`spicecim.store.schema`.

Writing: :class:`RunWriter` works on ``<out>.partial`` (root attribute ``complete`` false),
flushes after every batch of columns and renames the file into place when the run is done;
reopening the same output with the same configuration resumes, another configuration is
refused (:class:`ConfigMismatchError`) unless ``overwrite``. Reading: :func:`open_run`.

A leaf: it imports nothing of the simulator.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import spicecim
from spicecim.errors import ResultFileError
from spicecim.store import schema


class ConfigMismatchError(ResultFileError):
    """The output file holds a run made with other parameters."""


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


def _empty(f: schema.Field, n: int) -> np.ndarray:
    if f.kind == "str":
        return np.full(n, f.fill, dtype=object)
    return np.full(n, f.fill, dtype=f.kind)


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


def _canonical(config: Mapping) -> dict:
    """The configuration as it reads back from JSON (tuples become lists, and so on)."""
    return json.loads(json.dumps(config, sort_keys=True))


class RunWriter:
    """Owns ``<path>.partial`` while a run is written; :meth:`finish` renames it to ``path``."""

    def __init__(self, path: Path, config: Mapping, provenance: Mapping[str, str], *,
                 overwrite: bool = False) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + schema.PARTIAL_SUFFIX)
        self.config = _canonical(config)
        self._tables: dict[str, dict[str, np.ndarray]] = {}
        # The partial file is the latest attempt, so it is the one resumed (or refused).
        if overwrite:
            self.partial.unlink(missing_ok=True)
        elif self.partial.exists():
            self._check(self.partial)
        elif self.path.exists():
            self._check(self.path)
            os.replace(self.path, self.partial)  # reopened for writing: partial until finished
        if self.partial.exists():
            self.file = _open(self.partial, "r+")
            for tile in self.file.get(schema.TILES, {}):
                group = self.file[schema.columns_group(tile)]
                self._tables[tile] = {f.name: _read(group[f.name]) for f in schema.COLUMN_FIELDS}
            self.resumed = True
        else:
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            self.file = _open(self.partial, "w")
            text = json.dumps(self.config, sort_keys=True)
            ds = self.file.create_dataset(schema.CONFIG, data=text, dtype=h5py.string_dtype())
            ds.attrs[schema.ATTR_UNITS] = schema.CONFIG_UNITS
            self.file.attrs[schema.ATTR_CREATED] = _now()
            self.resumed = False
        self.file.attrs.update({schema.ATTR_SCHEMA: schema.SCHEMA_VERSION,
                                schema.ATTR_SPICECIM: spicecim.__version__, **provenance,
                                schema.ATTR_COMPLETE: False})
        self.file.flush()

    def _check(self, path: Path) -> None:
        try:
            with h5py.File(path, "r") as f:
                version = f.attrs.get(schema.ATTR_SCHEMA)
                stored = json.loads(f[schema.CONFIG].asstr()[()])
        except (OSError, KeyError, ValueError) as exc:
            raise ResultFileError(f"{path} is not a readable spicecim run ({exc}): "
                                  "use --overwrite to start anew") from exc
        if version != schema.SCHEMA_VERSION:
            raise ResultFileError(f"{path} has schema version {version}, expected "
                                  f"{schema.SCHEMA_VERSION}: use --overwrite to start anew")
        diff = config_differences(stored, self.config)
        if diff:
            raise ConfigMismatchError(f"{path} holds a run with other parameters "
                                      f"({'; '.join(diff)}): use --overwrite to start anew")

    def add_tile(self, tile: str, cols: int, attrs: Mapping[str, object]) -> None:
        """Create the tile's column table (every row pending) unless it exists."""
        if tile in self._tables:
            return
        group = self.file.require_group(schema.tile_group(tile))
        group.attrs.update(attrs)
        table = self.file.require_group(schema.columns_group(tile))
        for f in schema.COLUMN_FIELDS:
            data = np.arange(cols) if f.name == "column" else _empty(f, cols)
            ds = table.create_dataset(f.name, data=data, dtype=_dtype(f))
            ds.attrs[schema.ATTR_UNITS] = f.units
        self._tables[tile] = {f.name: _read(table[f.name]) for f in schema.COLUMN_FIELDS}
        self.file.flush()

    def pending(self, tile: str) -> list[int]:
        status = self._tables[tile]["status"]
        return [int(j) for j in np.nonzero(status == schema.PENDING)[0]]

    def columns(self, tile: str) -> Table:
        return Table({k: v.copy() for k, v in self._tables[tile].items()},
                     {f.name: f.units for f in schema.COLUMN_FIELDS})

    def write_columns(self, tile: str, rows: Mapping[int, Mapping[str, object]],
                      waveforms: Mapping[int, Mapping[str, np.ndarray]] | None = None) -> None:
        """Store finished columns and flush; each row's status is written last, so a run killed
        mid-write leaves those columns pending, never half-written."""
        table = self._tables[tile]
        for j, row in rows.items():
            for name, value in row.items():
                # HDF5 strings end at NUL: ngspice never prints one, but never lose the rest.
                if isinstance(value, str):
                    value = value.replace("\x00", "\ufffd")
                table[name][j] = value
        group = self.file[schema.columns_group(tile)]
        for f in schema.COLUMN_FIELDS:
            if f.name != "status":
                group[f.name][...] = table[f.name]
        for j, waves in (waveforms or {}).items():
            path = schema.waveform_group(tile, j)
            if path in self.file:
                del self.file[path]
            wgroup = self.file.create_group(path)
            for f in schema.WAVEFORM_FIELDS:
                data = np.asarray(waves[f.name], dtype=float)
                ds = wgroup.create_dataset(f.name, data=data, compression="gzip", shuffle=True,
                                           chunks=(max(1, min(len(data), 4096)),))
                ds.attrs[schema.ATTR_UNITS] = f.units
        self.file.flush()
        group["status"][...] = table["status"]
        self.file.flush()

    def write_layer(self, layer: str, schedules: Sequence[Any],
                    tiles: Sequence[str]) -> None:
        path = schema.layer_group(layer)
        if path in self.file:
            del self.file[path]
        group = self.file.create_group(path)
        group.attrs[schema.ATTR_LAYER_TILES] = list(tiles)
        for f in schema.LAYER_FIELDS:
            values = [getattr(s, f.name) for s in schedules]
            ds = group.create_dataset(f.name, data=np.array(values, dtype=object if f.kind == "str"
                                                             else f.kind), dtype=_dtype(f))
            ds.attrs[schema.ATTR_UNITS] = f.units
        self.file.flush()

    def finish(self) -> Path:
        """Mark the run complete and rename it into place."""
        self.file.attrs[schema.ATTR_COMPLETE] = True
        self.file.close()
        os.replace(self.partial, self.path)
        return self.path

    def close(self) -> None:
        """Leave the partial file for a later resume."""
        if self.file.id.valid:
            self.file.close()


def _open(path: Path, mode: str) -> h5py.File:
    try:
        return h5py.File(path, mode)
    except OSError as exc:  # most often: another run holds the file
        raise ResultFileError(f"cannot open {path} for writing ({exc})") from exc


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class Run:
    """A run file opened for reading (``with open_run(path) as run: ...``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.file = h5py.File(self.path, "r")
            version = self.file.attrs[schema.ATTR_SCHEMA]
        except (OSError, KeyError) as exc:
            raise ResultFileError(f"{self.path} is not a readable spicecim run ({exc})") from exc
        if version != schema.SCHEMA_VERSION:
            raise ResultFileError(f"{self.path} has schema version {version}, expected "
                                  f"{schema.SCHEMA_VERSION}")

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        group = self.file[schema.columns_group(tile)]
        return _table(group, schema.COLUMN_FIELDS)

    def layers(self) -> list[str]:
        return sorted(self.file.get(schema.LAYERS, {}))

    def layer(self, layer: str) -> Table:
        group = self.file[schema.layer_group(layer)]
        return _table(group, schema.LAYER_FIELDS)

    def layer_tiles(self, layer: str) -> list[str]:
        return [str(t) for t in self.file[schema.layer_group(layer)].attrs[schema.ATTR_LAYER_TILES]]

    def waveform(self, tile: str, column: int) -> Table:
        path = schema.waveform_group(tile, column)
        if path not in self.file:
            raise ResultFileError(f"{self.path} has no waveform of {tile} column {column} "
                                  "(simulate with --waveforms)")
        return _table(self.file[path], schema.WAVEFORM_FIELDS)

    def waveform_columns(self, tile: str) -> list[int]:
        """Columns whose waveforms are stored (none unless simulated with --waveforms)."""
        return [int(j) for j in self.columns(tile)["column"]
                if schema.waveform_group(tile, int(j)) in self.file]

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


def _table(group: h5py.Group, fields: Sequence[schema.Field]) -> Table:
    return Table({f.name: _read(group[f.name]) for f in fields},
                 {f.name: str(group[f.name].attrs[schema.ATTR_UNITS]) for f in fields})


def open_run(path: Path | str) -> Run:
    """Open a run for reading; a missing ``path`` falls back to its ``.partial`` file."""
    path = Path(path)
    partial = path.with_name(path.name + schema.PARTIAL_SUFFIX)
    if not path.exists() and partial.exists():
        path = partial
    if not path.exists():
        raise ResultFileError(f"{path} does not exist: expected a file written by "
                              "'spicecim simulate'")
    return Run(path)
