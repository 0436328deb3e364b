"""What a file is, before anyone reads it as a run: a complete run, a partial run (resumable:
its journal, or an unfinished file that holds a run's configuration and tiles), an ACAM search
file, an evaluation report, a nodal solve, or not a spicecim file at all.

Told apart by the root attributes and groups :mod:`spicecim.store.schema` names, so ``tables``
says what a file is instead of calling any HDF5 file with a schema attribute a run.
"""

from __future__ import annotations

from pathlib import Path

import h5py

from spicecim.errors import ResultFileError
from spicecim.store import schema
from spicecim.store.runs import beside, raised_in_h5py

RUN = "run"
PARTIAL = "partial run"
ACAM = "ACAM search file"
REPORT = "evaluation report"
SOLVE = "nodal solve"


class NotOursError(ResultFileError):
    """A file that is none of spicecim's."""


def identify(path: Path | str) -> str:
    """The kind of file at ``path`` (:data:`RUN`, :data:`PARTIAL`, :data:`ACAM`,
    :data:`REPORT` or :data:`SOLVE`), else :class:`NotOursError` saying why it is none."""
    path = Path(path)
    if path.name.endswith(schema.JOURNAL_SUFFIX) or beside(path, schema.JOURNAL_SUFFIX).exists():
        return PARTIAL
    if not path.exists():
        if beside(path, schema.PARTIAL_SUFFIX).exists():
            return PARTIAL
        raise ResultFileError(f"{path} does not exist: expected a file written by spicecim")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise NotOursError(f"{path} is not a spicecim file: not HDF5 ({exc})") from exc
    with f:
        try:
            return _kind(path, f)
        except Exception as exc:
            # an HDF5 file whose own structures are damaged (bits flipped): h5py raises
            # wherever the first bad block is read, here its root attributes or groups
            if not raised_in_h5py(exc.__traceback__):
                raise
            reason = str(exc).strip("'\"") or type(exc).__name__
            raise ResultFileError(f"{path} is damaged ({reason}): expected a complete run "
                                  "file; rerun the command that wrote it") from exc


def _kind(path: Path, f: h5py.File) -> str:
    attrs = f.attrs
    if attrs.get(schema.ATTR_FORMAT) == schema.REPORT_FORMAT:
        return REPORT
    if schema.ATTR_SPEC_HASH in attrs and all(s.name in f for s in schema.SOLVE_FIELDS):
        return SOLVE
    if schema.ATTR_SCHEMA not in attrs:
        raise NotOursError(f"{path} is not a spicecim file: an HDF5 file without spicecim's "
                           f"attributes ({schema.ATTR_SCHEMA!r}, {schema.ATTR_FORMAT!r})")
    if schema.ACAM_SEARCH in f:
        return ACAM
    if schema.CONFIG not in f or schema.TILES not in f:
        lacks = [name for name in (schema.CONFIG, schema.TILES) if name not in f]
        raise NotOursError(f"{path} is not a spicecim file: it has a "
                           f"{schema.ATTR_SCHEMA!r} attribute but no run ({', '.join(lacks)} "
                           "missing), so nothing to read or resume")
    return RUN if attrs.get(schema.ATTR_COMPLETE, False) else PARTIAL
