"""Fixtures the CLI tests share."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from spicecim.cli import cli


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 4x4 run, made once and only read: some cases need a real run to resume,
    evaluate or name."""
    out = tmp_path_factory.mktemp("run") / "run.h5"
    result = CliRunner().invoke(cli, ["simulate", "--rows", "4", "--cols", "4", "--workers", "1",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out
