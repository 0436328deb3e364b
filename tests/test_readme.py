"""The README's Python API example, run as a user would: a script file, no ``__main__``
guard, in a fresh interpreter."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _api_example() -> str:
    match = re.search(r"^## Python API\n.*?```python\n(.*?)```", README.read_text(),
                      re.S | re.M)
    assert match, "README.md has no Python API example"
    return match.group(1)


def test_the_example_needs_at_most_three_imports() -> None:
    tree = ast.parse(_api_example())
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert 1 <= len(imports) <= 3
    assert not any(isinstance(n, ast.If) for n in tree.body)  # no __main__ guard


@pytest.mark.ngspice
def test_the_python_api_example_runs_as_a_script_without_a_main_guard(tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(_api_example())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, env=env, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "layer0 (tile0):" in out and "fully_parallel hold" in out  # the tables
    for layer in ("hidden", "out"):
        row = next(line for line in out.splitlines() if line.startswith(f"{layer} "))
        assert row.count(" ns") == 3 and row.endswith("generic tile")
    assert "accuracy vs the ideal float64 pass, 256 points" in out
    # the user's own model as an AnalogModel: called, scored and costed
    line = next(line for line in out.splitlines() if line.startswith("relative error "))
    assert "top-1 " in line and line.endswith("pJ per sample") and "nan" not in line, line
    assert (tmp_path / "my_mlp.npz").is_file()
    assert (tmp_path / "runs" / "api16.h5").is_file()
