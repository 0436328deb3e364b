"""Writing a file so that no reader, and no kill, ever sees half of it: the one atomic writer
every output of spicecim goes through (netlists, run and report files, solver results, model
weights, ACAM tables).

The content is written to a temporary name in the target's own folder (a rename is atomic only
within one file system), made durable (``fsync``), then renamed over the target; the folder's
entry is made durable too. The file gets the mode the user's umask gives any new file. On any
exception, Ctrl-C and SIGTERM included, the temporary file is
removed and the target is left as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def fsync_dir(folder: Path) -> None:
    """Make the entries of ``folder`` (a file created, renamed or removed) durable."""
    _fsync(folder)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def umask() -> int:
    """This process's file-creation mask: from ``/proc`` (Linux) where it can be read without
    changing it, else set and restored at once."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path | str, write: Callable[[Path], None], *,
                 temp: Path | None = None, sync_dir: bool = True) -> Path:
    """Make ``path`` by calling ``write(tmp)`` on a temporary path beside it, then renaming it
    into place; return ``path``. ``temp`` names that temporary path (a fixed name that the next
    writer cleans up after a kill) instead of a fresh unique one; ``sync_dir=False`` leaves the
    folder's fsync to a caller that writes many files into it (:func:`fsync_dir` once after)."""
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    if temp is None:
        fd, name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        # mkstemp makes the file 0600 (a temporary file no one else should read); the output
        # it becomes gets the mode any file the user writes gets: 0666 less the umask
        os.fchmod(fd, 0o666 & ~umask())
        os.close(fd)
        tmp = Path(name)
    else:
        tmp = temp
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(folder)
    return path


def write_text(path: Path | str, text: str, *, sync_dir: bool = True) -> Path:
    """:func:`atomic_write` of a text file."""
    def write(tmp: Path) -> None:
        tmp.write_text(text)

    return atomic_write(path, write, sync_dir=sync_dir)


def write_stream(path: Path | str, write: Callable[[BinaryIO], None]) -> Path:
    """:func:`atomic_write` through a binary file object (``np.savez``, which would add ``.npz``
    to a temporary path that lacks it)."""
    def to_file(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            write(f)

    return atomic_write(path, to_file)
