"""Input and output paths checked before any work: an input must be a regular file this user
can read (a FIFO, a device or a folder is refused from its ``stat``, never opened: reading a
FIFO with no writer blocks for ever), an output may not be a special file (with ``--overwrite``
too: the rename that writes a file would replace a device node, and a FIFO would be read as a
run to resume) and must lie in a folder this user can create files in, and no output may be one
of the command's inputs, with ``--overwrite`` too (``evaluate RUN --out RUN --overwrite`` would
replace the run with its report)."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from spicecim.errors import SpecError


def check_input_file(path: Path, option: str, expected: str = "an existing file") -> None:
    """Refuse ``path`` (given as ``option``) unless it is an existing regular file this user
    can read; a symbolic link counts as what it points to. ``expected`` says what a missing
    file should have been."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SpecError(f"{option} {str(path)!r} does not exist: expected {expected}") from None
    except OSError as exc:
        raise SpecError(f"{option} {str(path)!r} cannot be read ({exc.strerror}): expected "
                        "a readable file") from None
    if stat.S_ISDIR(mode):
        raise SpecError(f"{option} {str(path)!r} is a directory: expected a file")
    if not stat.S_ISREG(mode):
        raise SpecError(f"{option} {str(path)!r} is {_kind(mode)}, not a regular file: "
                        "expected a file on disk (a pipe or device is not read)")
    if not os.access(path, os.R_OK):
        raise SpecError(f"{option} {str(path)!r} is not readable by this user: expected a "
                        "readable file")


def check_input_files(inputs: Iterable[tuple[str, Path | None]],
                      expected: dict[str, str] | None = None) -> None:
    """:func:`check_input_file` on each ``(option, path)`` given (``None`` skipped), with what
    ``expected`` says an option's file holds, where it says."""
    for option, path in inputs:
        if path is not None:
            check_input_file(path, option, (expected or {}).get(option, "an existing file"))


def check_not_special(path: Path, option: str) -> None:
    """Refuse an output ``path`` that exists as a FIFO, device or socket (a symbolic link counts
    as what it points to): it is never written, read or replaced."""
    try:
        mode = path.stat().st_mode
    except OSError:  # nothing there (or nothing this user can see): a new file
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise SpecError(f"{option} {str(path)!r} is {_kind(mode)}, not a regular file: expected "
                        "a file path (a pipe or device is never written or replaced)")


def check_can_create(folder: Path, path: Path, option: str) -> None:
    """Refuse ``path`` unless a file can be created in ``folder`` (its first existing folder):
    tried with a file made and removed at once, since permission bits say nothing for root and
    nothing of read-only mounts or pseudo file systems (``/proc``, ``/sys``)."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".spicecim-probe-")
    except OSError as exc:
        raise SpecError(f"{option} {str(path)!r}: folder {str(folder)!r} is not writable "
                        f"({exc.strerror}): expected a folder this user can write") from None
    os.close(fd)
    os.unlink(probe)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _same(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file: the same inode where both exist (hard links,
    symbolic links), else the same resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_not_input(outputs: Iterable[Path], inputs: Iterable[tuple[str, Path | None]],
                    option: str = "--out") -> None:
    """Refuse if a file the command would write (``outputs``: a file output, or each file a
    folder output writes) is one of ``inputs`` (``(option, path)``; ``None`` skipped): writing
    it would destroy what the command reads."""
    given = [(name, path) for name, path in inputs if path is not None]
    for output in outputs:
        for name, path in given:
            if _same(output, path):
                raise SpecError(f"{option} {str(output)!r} is the input {name} {str(path)!r}: "
                                "expected an output path that is none of the command's "
                                "inputs (--overwrite never replaces an input)")
