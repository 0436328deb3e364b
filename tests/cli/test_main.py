"""The command group itself: every command listed, ``--version`` without the heavy
libraries (commands import them only when they run), a signal while the command line loads,
and no CLI function over 40 lines."""

from __future__ import annotations

import ast
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from spicecim.cli import COMMANDS, INTERRUPTED_EARLY, cli

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


CLI_FOLDER = Path(__file__).resolve().parents[2] / "spicecim" / "cli"
MOST_LINES = 40
"""The CLI only parses and prints: no function of it longer than this (its ``def`` line to its
last, decorators not counted)."""


def test_no_cli_function_is_over_40_lines() -> None:
    long = []
    for path in sorted(CLI_FOLDER.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MOST_LINES:
                    long.append(f"{path.name}::{node.name} ({lines} lines)")
    assert long == []
    assert len(list(CLI_FOLDER.glob("*.py"))) > 5  # the folder the test means


# The program as a shell starts it (SIGINT not ignored), signalled by itself the moment it
# begins to load the command line's libraries (click): inside spicecim's main, before any
# command and its own handler.
_SIGNALLED_WHILE_LOADING = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
class Signal:
    def find_spec(self, name, path=None, target=None):
        if name == "click":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.{sig})
        return None
sys.meta_path.insert(0, Signal())
from spicecim.cli import main
sys.argv = ["spicecim", "--version"]
main()
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_cli_loads_is_one_line_and_its_exit_code(sig: signal.Signals) -> None:
    done = subprocess.run([sys.executable, "-c", _SIGNALLED_WHILE_LOADING.format(sig=sig.name)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 128 + sig, done.stderr
    assert done.stdout == "" and done.stderr == INTERRUPTED_EARLY + "\n"
