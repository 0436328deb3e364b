"""One writer per output: an OS lock (``flock``) on ``<out>.lock``, held for the whole run.

The kernel drops the lock when its holder dies however it dies, so a lock file left by a killed
run is taken over (and said so); a live holder makes a second run fail at once with one line
naming the process. The file records the holder's PID, host, command and start time for that
line. Locks are counted per process, so the run driver and Monte Carlo (two writers, one after
the other) and the command line around them hold one lock, never let go in between.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from spicecim.errors import ResultFileError
from spicecim.store import schema

log = logging.getLogger("spicecim")


class RunLockedError(ResultFileError):
    """Another live process is writing the same output."""


@dataclass(slots=True)
class _Held:
    fd: int
    path: Path
    count: int


_HELD: dict[Path, _Held] = {}


def lock_path(out: Path) -> Path:
    return out.with_name(out.name + schema.LOCK_SUFFIX)


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    if not holder:
        return "another process"
    return (f"process {holder.get('pid')} on {holder.get('host')} (since "
            f"{holder.get('started_utc')}: {holder.get('command') or 'spicecim'})")


def _in_use_message(out: Path, who: str) -> str:
    return (f"{out} is being written by {who}: wait for it to end, or stop it and rerun "
            "(--overwrite does not remove a file in use)")


def writer(out: Path) -> str | None:
    """Who writes ``out`` now, in words (the live process holding its lock, this one
    included), or None when nobody does. Nothing is created."""
    key = Path(out).resolve()
    if key in _HELD:
        return f"this process ({os.getpid()})"
    path = lock_path(key)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # no lock file: nobody writes it
        return None
    try:
        # A shared lock is refused only while a writer holds its exclusive one.
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _describe(_holder(path))
    finally:
        os.close(fd)
    return None


def check_not_in_use(out: Path) -> None:
    """Refuse (:class:`RunLockedError`) an output whose lock another live process holds, so a
    command that would replace ``out`` leaves it alone. Nothing is created; a lock this process
    holds is no obstacle."""
    if Path(out).resolve() in _HELD:
        return
    holder = writer(out)
    if holder is not None:
        raise RunLockedError(_in_use_message(Path(out), holder))


class RunLock:
    """The lock of output ``out`` (``with RunLock(out, command): ...``), re-entrant within a
    process."""

    def __init__(self, out: Path, command: str = "") -> None:
        self.out = Path(out)
        self.command = command
        self._key: Path | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        if self._key is not None:
            return
        self.out.parent.mkdir(parents=True, exist_ok=True)
        key = self.out.resolve()
        held = _HELD.get(key)
        if held is not None:
            held.count += 1
            self._key = key
            return
        path = lock_path(key)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise RunLockedError(_in_use_message(self.out, _describe(_holder(path)))) from None
            # A holder that finished removed the file after we opened it: lock the new one.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        before = _holder(path)
        if before.get("pid"):
            log.warning("note: %s: took over the lock of %s, which no longer runs", self.out,
                        _describe(before))
        me = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
              "started_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        _HELD[key] = _Held(fd, path, 1)
        self._key = key

    def release(self) -> None:
        if self._key is None:
            return
        key, self._key = self._key, None
        held = _HELD[key]
        held.count -= 1
        if held.count:
            return
        del _HELD[key]
        held.path.unlink(missing_ok=True)  # still ours: removed before the lock goes
        os.close(held.fd)
