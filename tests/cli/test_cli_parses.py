"""The CLI only parses and prints: no function of the commands whose logic moved into the
library (simulate, evaluate, nerf) is over 40 lines, decorators not counted."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import spicecim.cli

CLI = Path(spicecim.cli.__file__).parent
LONGEST = 40


@pytest.mark.parametrize("module", ["simulate.py", "evaluate.py", "nerf.py"])
def test_no_function_of_the_command_is_over_40_lines(module: str) -> None:
    tree = ast.parse((CLI / module).read_text())
    lengths = {node.name: (node.end_lineno or node.lineno) - node.lineno + 1
               for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert {"simulate", "evaluate", "nerf_cmd"} & set(lengths)  # the command itself is seen
    assert {name: n for name, n in lengths.items() if n > LONGEST} == {}
