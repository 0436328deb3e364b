"""Reading a run (:func:`open_run`): its complete HDF5 file (:class:`FileRun`), or, while it is
unfinished, what its journal records on top of the complete file it extends, if any
(:class:`PartialRun`). Both answer the same questions (:class:`Run`); a journal under way is
read as far as its last whole record, and never changed by a reader.

A leaf: it imports nothing of the simulator (the typed readers build the specification, the
weight mapping and the schedules' column figures the run stores).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import h5py
import numpy as np

from spicecim.errors import ResultFileError
from spicecim.measure import ColumnFigures
from spicecim.netlist.spec import CrossbarSpec
from spicecim.netlist.weights import WeightMapping
from spicecim.store import schema
from spicecim.store.journal import Replay, read_arrays, replay
from spicecim.store.state import BASE, OPEN, RunState, TileState, plain


class EmptyJournalError(ResultFileError):
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


def h5_dtype(f: schema.Field) -> object:
    return h5py.string_dtype() if f.kind == "str" else np.dtype(f.kind)


def _read(ds: h5py.Dataset) -> np.ndarray:
    if h5py.check_string_dtype(ds.dtype) is not None:
        return np.array(ds.asstr()[...], dtype=object)
    return ds[...]


def column_figures(table: Table) -> ColumnFigures:
    """A column table as a schedule sees it: NaN where a column did not end ok; the array's
    energy is what the rows draw at their rail (which includes what the DACs deliver into the
    cells, stored apart as ``drivers``) and what the word line delivers."""
    ok = table["status"] == "ok"

    def column(name: str) -> np.ndarray:
        return np.where(ok, np.asarray(table[name], float), np.nan)

    def both(kind: Callable[[str], str]) -> np.ndarray:
        return column(kind("rowrail")) + column(kind("wordline"))

    return ColumnFigures(latency_s=column("latency_s"), window_s=column("window_s"),
                         energy_array_j=both(schema.energy_field),
                         energy_frontend_j=column(schema.energy_field("frontend")),
                         power_array_w=both(schema.power_field),
                         power_frontend_w=column(schema.power_field("frontend")))


def beside(out: Path, suffix: str) -> Path:
    """The file ``<out><suffix>`` (journal, lock, temporary, legacy partial)."""
    return out.with_name(out.name + suffix)


def units_of(fields: Sequence[schema.Field]) -> dict[str, str]:
    return {f.name: f.units for f in fields}


class Run(ABC):
    """A run opened for reading (``with open_run(path) as run: ...``): a complete file, or an
    unfinished run read from its journal."""

    path: Path

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
        if isinstance(error, Exception) and raised_in_h5py(trace):
            # HDF5 reads its structures lazily: a damaged file (bits flipped, a block cut)
            # surfaces as h5py's OSError, KeyError or ValueError wherever a reader first
            # touches the bad block, in words that name neither the file nor a remedy
            reason = str(error).strip("'\"") or type(error).__name__
            raise ResultFileError(f"{self.path} is damaged ({reason}): expected a complete "
                                  "run file; rerun the command that wrote it") from error

    def close(self) -> None:  # noqa: B027 - only a run with an open file has one to close
        """Let go of what the run holds open."""

    @property
    @abstractmethod
    def provenance(self) -> dict[str, object]: ...

    @property
    @abstractmethod
    def complete(self) -> bool: ...

    @property
    @abstractmethod
    def config(self) -> dict: ...

    @property
    def spec(self) -> CrossbarSpec:
        """The tile specification the run simulated."""
        return CrossbarSpec.from_dict(self._config_part(schema.CONFIG_SPEC))

    @property
    def mapping(self) -> WeightMapping | None:
        """The weight mapping the tile's conductances came from (None: they were given)."""
        d = self.config.get(schema.CONFIG_MAPPING)
        return None if d is None else WeightMapping(**d)

    @property
    def simulation(self) -> dict:
        """How the run was simulated: drive, ADC share, waveforms, options."""
        return dict(self._config_part(schema.CONFIG_SIMULATION))

    @property
    def parameters(self) -> dict:
        """The caller's parameters (seed, Monte Carlo, model provenance)."""
        return dict(self.config.get(schema.CONFIG_PARAMETERS) or {})

    @property
    def model(self) -> dict | None:
        """The model co-simulation this run holds, as its provenance (None: a tile's run)."""
        model = self.parameters.get(schema.PARAMETER_MODEL)
        return dict(model) if isinstance(model, Mapping) else None

    @property
    def output(self) -> Path:
        """The file the run makes (its lock says whether a process still writes it)."""
        return self.path

    def _config_part(self, key: str) -> Mapping:
        part = self.config.get(key)
        if not isinstance(part, Mapping):
            raise ResultFileError(f"{self.path}: its /config lacks {key!r} (expected a run "
                                  "written by 'spicecim simulate')")
        return part

    def column_figures(self, tile: str) -> ColumnFigures:
        """A tile's column table as a schedule sees it (:func:`column_figures`)."""
        return column_figures(self.columns(tile))

    @abstractmethod
    def tiles(self) -> list[str]: ...

    @abstractmethod
    def stored_tile_attrs(self, tile: str) -> dict[str, object]:
        """A tile's attributes exactly as stored (what a copy of the run writes again)."""

    def tile_attrs(self, tile: str) -> schema.TileAttrs:
        """A tile's attributes as their typed record (those a run of an earlier spicecim did
        not store read as not stored: :meth:`spicecim.store.schema.TileAttrs.from_dict`)."""
        return schema.TileAttrs.from_dict(self.stored_tile_attrs(tile),
                                          where=f"{self.path}: tile {tile!r}")

    @abstractmethod
    def columns(self, tile: str) -> Table: ...

    @abstractmethod
    def layers(self) -> list[str]: ...

    @abstractmethod
    def layer(self, layer: str) -> Table: ...

    @abstractmethod
    def layer_tiles(self, layer: str) -> list[str]: ...

    @abstractmethod
    def waveform_columns(self, tile: str) -> list[int]:
        """Columns whose waveforms are stored (none unless simulated with --waveforms)."""

    @abstractmethod
    def _waveform(self, tile: str, column: int) -> Table: ...

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
        try:
            return json.loads(self._get(schema.CONFIG).asstr()[()])
        except (TypeError, ValueError) as exc:
            raise ResultFileError(f"{self.path}: dataset {schema.CONFIG} is not the JSON of a "
                                  f"run's configuration ({exc}): {_EXPECTED}") from exc

    def _get(self, name: str) -> h5py.Group | h5py.Dataset:
        """The group or dataset ``name``, or one line naming the file and what it lacks."""
        if name not in self.file:
            raise ResultFileError(f"{self.path} lacks {name}: {_EXPECTED}")
        return self.file[name]

    def tiles(self) -> list[str]:
        return sorted(self.file.get(schema.TILES, {}))

    def stored_tile_attrs(self, tile: str) -> dict[str, object]:
        return {k: _scalar(v) for k, v in self._get(schema.tile_group(tile)).attrs.items()}

    def columns(self, tile: str) -> Table:
        return read_table(self._get(schema.columns_group(tile)), schema.COLUMN_FIELDS)

    def layers(self) -> list[str]:
        return sorted(self.file.get(schema.LAYERS, {}))

    def layer(self, layer: str) -> Table:
        return read_table(self._get(schema.layer_group(layer)), schema.LAYER_FIELDS)

    def layer_tiles(self, layer: str) -> list[str]:
        attrs = self._get(schema.layer_group(layer)).attrs
        if schema.ATTR_LAYER_TILES not in attrs:
            raise ResultFileError(f"{self.path}: group {schema.layer_group(layer)} lacks its "
                                  f"{schema.ATTR_LAYER_TILES!r} attribute: {_EXPECTED}")
        return [str(t) for t in attrs[schema.ATTR_LAYER_TILES]]

    def waveform_columns(self, tile: str) -> list[int]:
        return [int(j) for j in self.columns(tile)["column"]
                if schema.waveform_group(tile, int(j)) in self.file]

    def _waveform(self, tile: str, column: int) -> Table:
        return read_table(self._get(schema.waveform_group(tile, column)), schema.WAVEFORM_FIELDS)


_EXPECTED = "expected a run file as 'spicecim simulate' writes it"


def read_table(group: h5py.Group, fields: Sequence[schema.Field],
               expected: str = _EXPECTED) -> Table:
    """The ``fields`` of ``group``, each with its unit; a dataset missing, or without its
    ``units`` attribute, is one line naming the file and the dataset."""
    for f in fields:
        where = f"{group.file.filename}: dataset {group.name}/{f.name}"
        if f.name not in group:
            raise ResultFileError(f"{where} is missing: {expected}")
        if schema.ATTR_UNITS not in group[f.name].attrs:
            raise ResultFileError(f"{where} lacks its {schema.ATTR_UNITS!r} attribute: "
                                  f"{expected}")
    return Table({f.name: _read(group[f.name]) for f in fields},
                 {f.name: str(group[f.name].attrs[schema.ATTR_UNITS]) for f in fields})


def state_of(run: FileRun) -> RunState:
    """Everything of a run file but its waveforms, which stay there (:data:`BASE`)."""
    attrs = {k: v for k, v in run.provenance.items() if k != schema.ATTR_COMPLETE}
    state = RunState(run.config, attrs)
    for name in run.tiles():
        table = run.columns(name)
        tile = TileState(len(table), run.stored_tile_attrs(name), dict(table.data))
        tile.waves = dict.fromkeys(run.waveform_columns(name), BASE)
        state.tiles[name] = tile
    for name in run.layers():
        state.layers[name] = (plain(run.layer(name).rows()), run.layer_tiles(name))
    return state


def read_journal(journal: Path, out: Path, check: Callable[[Path, object, Mapping], None]
                  ) -> tuple[RunState, Replay, Path | None]:
    """The state a journal records (on top of the complete ``out`` it extends, if it says so),
    its replay, and that base file; ``check(path, schema_version, config)`` vets the journal,
    and the base, before anything is applied."""
    found = replay(journal)
    if not found.records or found.records[0].meta.get("kind") != OPEN:
        raise EmptyJournalError(f"{journal} holds no whole record yet: the run is starting, or was "
                            "killed as it started")
    head = found.records[0].meta
    check(journal, head.get("schema_version"), head.get("config", {}))
    base = out if head.get("base") and out.exists() else None
    if base is not None:
        with FileRun(base) as run:
            check(base, run.provenance.get(schema.ATTR_SCHEMA), run.config)
            state = state_of(run)
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
        self._out = out
        self._state, _, self._base = read_journal(journal, out, _check_version)

    @property
    def provenance(self) -> dict[str, object]:
        attrs = {k: self._state.attrs[k] for k in schema.ROOT_ATTRS if k in self._state.attrs}
        return {**attrs, schema.ATTR_COMPLETE: False}

    @property
    def complete(self) -> bool:
        return False

    @property
    def output(self) -> Path:
        return self._out

    @property
    def config(self) -> dict:
        return self._state.config

    def tiles(self) -> list[str]:
        return sorted(self._state.tiles)

    def stored_tile_attrs(self, tile: str) -> dict[str, object]:
        return dict(self._state.tiles[tile].attrs)

    def columns(self, tile: str) -> Table:
        table = self._state.tiles[tile].table
        return Table({k: v.copy() for k, v in table.items()}, units_of(schema.COLUMN_FIELDS))

    def layers(self) -> list[str]:
        return sorted(self._state.layers)

    def layer(self, layer: str) -> Table:
        return layer_table(self._state.layers[layer][0])

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
                     units_of(schema.WAVEFORM_FIELDS))


def layer_table(rows: list[dict]) -> Table:
    data = {f.name: np.array([r[f.name] for r in rows], dtype=object if f.kind == "str"
                             else f.kind) for f in schema.LAYER_FIELDS}
    return Table(data, units_of(schema.LAYER_FIELDS))


def _check_version(path: Path, version: object, config: Mapping) -> None:
    if version != schema.SCHEMA_VERSION:
        raise ResultFileError(f"{path} has schema version {version}, expected "
                              f"{schema.SCHEMA_VERSION}")


def raised_in_h5py(trace: TracebackType | None) -> bool:
    """Whether the innermost frame of ``trace`` is h5py's own code (reading the file)."""
    last = None
    while trace is not None:
        last, trace = trace, trace.tb_next
    # h5py's Python modules and its compiled ones (named "h5py/h5o.pyx" in tracebacks)
    return last is not None and "h5py" in Path(last.tb_frame.f_code.co_filename).parts[:-1]


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
        except EmptyJournalError:
            if not path.exists():
                raise
    if path.exists():
        return FileRun(path)
    legacy = beside(path, schema.PARTIAL_SUFFIX)
    if legacy.exists():
        return FileRun(legacy)
    raise ResultFileError(f"{path} does not exist: expected a file written by "
                          "'spicecim simulate'")
