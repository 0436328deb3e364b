"""The command group itself: every command listed, and ``--version`` without the heavy
libraries (commands import them only when they run)."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from spicecim.cli import COMMANDS, cli

HEAVY = ("scipy", "h5py", "matplotlib", "jax", "numpy", "dask", "PySpice")


def test_version_loads_none_of_the_heavy_libraries() -> None:
    code = ("import sys\nfrom spicecim.cli import main\nsys.argv = ['spicecim', '--version']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    version, loaded = done.stdout.strip().splitlines()
    assert version.startswith("spicecim, version ")
    assert loaded == "[]"


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].splitlines()
              if line.strip()]
    assert listed == sorted(COMMANDS)


def test_an_unknown_command_is_one_line() -> None:
    result = CliRunner().invoke(cli, ["simulat"])
    assert result.exit_code == 2 and "No such command 'simulat'" in result.output
