"""Outputs get the mode the user's umask gives any new file, not the temporary file's 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from spicecim.store import files


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_an_output_is_as_readable_as_the_umask_allows(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        assert files.umask() == mask
        out = files.write_text(tmp_path / f"out{mask:o}.txt", "x")
        plain = tmp_path / f"plain{mask:o}.txt"
        plain.write_text("x")  # what any program writing a new file gets
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~mask
