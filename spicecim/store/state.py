"""What a run holds, in memory: configuration, root attributes, tiles (attributes, column table,
where each column's waveforms lie) and layers. It is built from the complete file a run extends
(if any), then from the journal records on top of it, in order; what a record sets it sets
outright, so a journal replayed onto the file it was already merged into gives that file again.

The record kinds (each a JSON meta, see :mod:`spicecim.store.journal`):

- ``open``: the first record: schema version, configuration, creation time, and ``base``:
  whether the run extends the complete file at ``<out>``;
- ``provenance``: root attributes of a session (spicecim and ngspice versions, command line);
- ``tile``: a tile's column count and attributes, every column pending;
- ``columns``: finished rows of one tile (field name -> value) and, as arrays named
  ``<column>/<field>``, their waveforms;
- ``layer``: a layer's rows (one per schedule) and the tiles it is made of.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np

from spicecim.errors import ResultFileError
from spicecim.store import schema
from spicecim.store.journal import Record, jsonable

OPEN, PROVENANCE, TILE, COLUMNS, LAYER = "open", "provenance", "tile", "columns", "layer"
BASE = -1
"""Where a waveform lies when it is in the complete file the run extends, not the journal."""

_COLUMN_NAMES = frozenset(f.name for f in schema.COLUMN_FIELDS)
_COLUMN_KINDS = {f.name: f.kind for f in schema.COLUMN_FIELDS}
# What each kind of field takes (numpy's kind letters): checked before a value is journaled,
# since a record the final file cannot hold would fail every resume.
_ACCEPTS = {"str": "U", "i8": "iub", "f8": "iufb"}


def empty(f: schema.Field, n: int) -> np.ndarray:
    if f.kind == "str":
        return np.full(n, f.fill, dtype=object)
    return np.full(n, f.fill, dtype=f.kind)


@overload
def plain(value: dict[Any, Any]) -> dict[str, Any]: ...
@overload
def plain(value: list[Any] | tuple[Any, ...]) -> list[Any]: ...
@overload
def plain(value: object) -> object: ...
def plain(value: object) -> object:
    """``value`` as it reads back from JSON (tuples become lists, numpy scalars Python's; a
    dict stays a dict, with string keys)."""
    return json.loads(json.dumps(value, default=jsonable, sort_keys=True))


@dataclass(slots=True)
class TileState:
    cols: int
    attrs: dict[str, object]
    table: dict[str, np.ndarray]
    waves: dict[int, int] = field(default_factory=dict)
    """column -> offset of the journal record holding its waveforms (or :data:`BASE`)"""

    @classmethod
    def new(cls, cols: int, attrs: Mapping[str, object]) -> TileState:
        table = {f.name: np.arange(cols) if f.name == "column" else empty(f, cols)
                 for f in schema.COLUMN_FIELDS}
        return cls(cols, dict(attrs), table)

    def set_rows(self, rows: Mapping[int, Mapping[str, object]]) -> None:
        for j, row in rows.items():
            for name, value in row.items():
                self.table[name][j] = value

    def pending(self) -> list[int]:
        return [int(j) for j in np.nonzero(self.table["status"] == schema.PENDING)[0]]


@dataclass(slots=True)
class RunState:
    config: dict
    attrs: dict[str, object]
    tiles: dict[str, TileState] = field(default_factory=dict)
    layers: dict[str, tuple[list[dict], list[str]]] = field(default_factory=dict)

    def counts(self) -> tuple[int, int]:
        """(columns done, columns) over every tile."""
        total = sum(t.cols for t in self.tiles.values())
        return total - sum(len(t.pending()) for t in self.tiles.values()), total

    def apply(self, record: Record) -> None:
        """Set what ``record`` (anything but ``open``) records."""
        m = record.meta
        kind = m.get("kind")
        if kind == PROVENANCE:
            self.attrs.update(m["attrs"])
        elif kind == TILE:
            if m["tile"] not in self.tiles:
                self.tiles[m["tile"]] = TileState.new(m["cols"], m["attrs"])
        elif kind == COLUMNS:
            tile = self.tiles[m["tile"]]
            rows = {int(j): row for j, row in m["rows"].items()}
            unknown = {n for row in rows.values() for n in row} - _COLUMN_NAMES
            if unknown:
                raise ResultFileError(f"column fields {sorted(unknown)} are not in this "
                                      "spicecim's schema")
            tile.set_rows(rows)
            tile.waves.update({int(j): record.offset for j in m["waves"]})
        elif kind == LAYER:
            self.layers[m["layer"]] = (m["rows"], m["tiles"])
        else:
            raise ResultFileError(f"a journal record of unknown kind {kind!r}")


def open_meta(config: Mapping, base: bool, created_utc: str) -> dict:
    return {"kind": OPEN, "schema_version": schema.SCHEMA_VERSION, "config": dict(config),
            "base": base, "created_utc": created_utc}


def _attr_values(attrs: Mapping[str, object]) -> dict:
    """``attrs`` as JSON gives them back, once each is a value an HDF5 attribute holds."""
    out = plain(dict(attrs))
    for name, value in out.items():
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, str | int | float) for v in items):
            raise TypeError(f"attribute {name}={value!r}: expected a number, a string or a "
                            "list of them")
    return out


def tile_meta(tile: str, cols: int, attrs: Mapping[str, object]) -> dict:
    return {"kind": TILE, "tile": tile, "cols": int(cols), "attrs": _attr_values(attrs)}


def provenance_meta(attrs: Mapping[str, object]) -> dict:
    return {"kind": PROVENANCE, "attrs": _attr_values(attrs)}


def columns_meta(tile: str, rows: Mapping[int, Mapping[str, object]],
                 waveforms: Mapping[int, Mapping[str, np.ndarray]]
                 ) -> tuple[dict, dict[str, np.ndarray]]:
    """The record of finished rows (checked against the schema, so a bad field never reaches the
    journal) and their waveforms."""
    unknown = {n for row in rows.values() for n in row} - _COLUMN_NAMES
    if unknown:
        raise KeyError(f"not column fields of the schema: {sorted(unknown)}")
    for j, row in rows.items():
        for name, value in row.items():
            if np.asarray(value).dtype.kind not in _ACCEPTS[_COLUMN_KINDS[name]]:
                raise TypeError(f"column {j}: {name}={value!r} is not a {_COLUMN_KINDS[name]}")
    arrays = {f"{j}/{f.name}": np.asarray(w[f.name], dtype=float)
              for j, w in waveforms.items() for f in schema.WAVEFORM_FIELDS}
    flat = [k for k, a in arrays.items() if a.ndim != 1]
    if flat:
        raise ValueError(f"waveforms are one-dimensional: not {flat}")
    meta = {"kind": COLUMNS, "tile": tile,
            "rows": plain({str(j): dict(row) for j, row in rows.items()}),
            "waves": [int(j) for j in waveforms]}
    return meta, arrays


def layer_meta(layer: str, schedules: Sequence[object], tiles: Sequence[str]) -> dict:
    rows = [{f.name: getattr(s, f.name) for f in schema.LAYER_FIELDS} for s in schedules]
    return {"kind": LAYER, "layer": layer, "rows": plain(rows), "tiles": list(tiles)}
