"""The notebooks: committed without outputs, and run top to bottom on a fresh kernel."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS] == ["waveforms.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for k, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"cell {k}"


@pytest.mark.ngspice
@pytest.mark.slow
def test_the_waveforms_notebook_runs_on_a_fresh_machine(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # Without SPICECIM_RUN the notebook simulates its own small run.
    monkeypatch.delenv("SPICECIM_RUN", raising=False)
    nb = nbformat.read(Path(__file__).parents[1] / "notebooks" / "waveforms.ipynb", as_version=4)
    # Appended here, not committed: proves the kernel is this interpreter (the venv's).
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.prefix, end='')"))
    NotebookClient(nb, kernel_name="python3", timeout=120,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert nb.cells[-1].outputs[0].text == sys.prefix
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    # Three columns' waveforms, latency, energy and one layer's schedules.
    assert len(images) == 6
    text = "".join(o.get("text", "") for o in outputs)
    assert "16 columns simulated" in text and "fully_parallel" in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_use_only_the_public_api(path: Path) -> None:
    import ast
    import re

    import spicecim

    nb = nbformat.read(path, as_version=4)
    code = "\n".join(re.sub(r"^%.*$", "", c.source, flags=re.M) for c in nb.cells
                     if c.cell_type == "code")
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert not (node.module or "").startswith("spicecim"), node.module
        if isinstance(node, ast.Import):
            assert all(a.name == "spicecim" or not a.name.startswith("spicecim")
                       for a in node.names)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == "spicecim":
            assert node.attr in spicecim.__all__, node.attr
