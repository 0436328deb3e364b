"""The one atomic writer: the target appears whole or not at all, and a failed write leaves the
folder as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spicecim.store import files


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        files.atomic_write(target, fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_text_and_stream_writes_land_whole(tmp_path: Path) -> None:
    assert files.write_text(tmp_path / "sub" / "a.txt", "hello").read_text() == "hello"
    path = files.write_stream(tmp_path / "w.npz", lambda f: np.savez(f, x=np.arange(3)))
    with np.load(path) as z:
        assert z["x"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub", "w.npz"]
