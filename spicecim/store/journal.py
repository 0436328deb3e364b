"""The journal of an unfinished run: an append-only file of checksummed records.

A kill can only cut the journal short: records are appended, never rewritten, and each is made
durable (``fsync``) before the next begins. So on replay every record is either whole (its
length and CRC32 check) or the torn last one, which is dropped; nothing before it is touched.

::

    record  := b"SCJ1" | payload length (u64, little-endian) | CRC32 of payload (u32) | payload
    payload := meta length (u32) | meta (JSON, UTF-8) | arrays (raw, in the order meta lists)

``meta["arrays"]`` lists ``[key, dtype, shape]`` of each array of the record, so the arrays of
a record can be read back later from its offset alone (waveforms stay on disk until needed).
What the records mean is :mod:`spicecim.store.state`'s business; this module only frames them.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spicecim.errors import ResultFileError
from spicecim.store.files import fsync_dir

MAGIC = b"SCJ1"
_HEADER = struct.Struct("<4sQI")
_META = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class Record:
    """One whole record: where it starts in the journal and its meta (JSON)."""

    offset: int
    meta: dict


@dataclass(frozen=True, slots=True)
class Replay:
    """Every whole record of a journal, in order, and what followed the last of them."""

    records: list[Record]
    good_bytes: int
    dropped_bytes: int
    reason: str = ""


def jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode(meta: Mapping[str, object], arrays: Mapping[str, np.ndarray] | None = None) -> bytes:
    """One record (header and payload) holding ``meta`` and ``arrays``."""
    arrays = {k: np.ascontiguousarray(v) for k, v in (arrays or {}).items()}
    described = {**meta, "arrays": [[k, a.dtype.str, list(a.shape)] for k, a in arrays.items()]}
    text = json.dumps(described, default=jsonable, separators=(",", ":")).encode()
    payload = b"".join([_META.pack(len(text)), text, *(a.tobytes() for a in arrays.values())])
    return _HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def _decode_meta(payload: bytes) -> dict:
    (n,) = _META.unpack_from(payload)
    return json.loads(payload[_META.size:_META.size + n])


def replay(path: Path) -> Replay:
    """Every whole record of the journal at ``path``; a torn or damaged tail is reported, not
    raised, and left in the file (the writer truncates it before appending)."""
    records: list[Record] = []
    offset, reason = 0, ""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        while offset < size:
            header = f.read(_HEADER.size)
            if len(header) < _HEADER.size:
                reason = "a record header cut short"
                break
            magic, length, crc = _HEADER.unpack(header)
            if magic != MAGIC:
                reason = "bytes that are not a record"
                break
            payload = f.read(length)
            if len(payload) < length:
                reason = f"a record cut short ({len(payload)} of {length} bytes)"
                break
            if zlib.crc32(payload) != crc:
                reason = "a record that fails its checksum"
                break
            try:
                meta = _decode_meta(payload)
            except (ValueError, struct.error):
                reason = "a record whose description does not parse"
                break
            records.append(Record(offset, meta))
            offset += _HEADER.size + length
    return Replay(records, offset, size - offset, reason)


def read_arrays(path: Path, offset: int) -> dict[str, np.ndarray]:
    """The arrays of the record at ``offset`` of the journal at ``path``, checked again."""
    with open(path, "rb") as f:
        f.seek(offset)
        magic, length, crc = _HEADER.unpack(f.read(_HEADER.size))
        payload = f.read(length)
    if magic != MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
        raise ResultFileError(f"{path}: the record at byte {offset} changed since it was read")
    meta = _decode_meta(payload)
    pos = _META.size + _META.unpack_from(payload)[0]
    out = {}
    for key, dtype, shape in meta["arrays"]:
        dt = np.dtype(dtype)
        n = dt.itemsize * int(np.prod(shape, dtype=np.int64))
        out[key] = np.frombuffer(payload[pos:pos + n], dt).reshape(shape).copy()
        pos += n
    return out


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until a record is whole, so a clean stop never tears one."""
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class JournalFile:
    """The journal opened for appending; ``good_bytes`` (from :func:`replay`) cuts off a torn
    tail first. Creating the file also makes its directory entry durable."""

    def __init__(self, path: Path, good_bytes: int | None = None) -> None:
        self.path = Path(path)
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if good_bytes is not None and os.fstat(self._fd).st_size > good_bytes:
            os.ftruncate(self._fd, good_bytes)
            os.fsync(self._fd)
        if created:
            fsync_dir(self.path.parent)

    def append(self, meta: Mapping[str, object],
               arrays: Mapping[str, np.ndarray] | None = None) -> int:
        """Append one record and make it durable; returns its offset."""
        data = memoryview(encode(meta, arrays))
        with _signals_held():
            offset = os.fstat(self._fd).st_size
            while data:
                data = data[os.write(self._fd, data):]
            os.fsync(self._fd)
        return offset

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
