"""The shipped macro descriptions load, and the validation table in docs/validation.md and the
README is the one the code produces (scripts/macro_table.py regenerates it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spicecim.errors import InputFileError
from spicecim.macros import load, parse, shipped
from spicecim.macros.table import BEGIN, END, markdown, results

ROOT = Path(__file__).resolve().parents[2]


def test_every_shipped_macro_loads_with_each_value_cited() -> None:
    assert len(shipped()) >= 3
    for name in shipped():
        desc = load(name)
        for field, cited in desc.cited().items():
            assert cited.source.strip(), f"{name}.{field} has no source"


def test_a_description_missing_a_field_is_refused() -> None:
    with pytest.raises(InputFileError, match="missing fields"):
        parse('name = "x"\n', "x.toml")


def _table(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    return text[text.index(BEGIN):text.index(END) + len(END)] + "\n"


@pytest.mark.slow
@pytest.mark.ngspice
def test_the_committed_tables_are_what_the_code_produces() -> None:
    table = markdown(results())
    assert _table(ROOT / "docs" / "validation.md") == table
    assert _table(ROOT / "README.md") == table


def test_a_description_file_loads_like_a_shipped_macro(tmp_path: Path) -> None:
    text = (ROOT / "spicecim" / "macros" / "hung2023.toml").read_text(encoding="utf-8")
    path = tmp_path / "mine.toml"
    path.write_text(text.replace('name = "hung2023"', 'name = "mine"'), encoding="utf-8")
    assert load(path).name == "mine"
    assert load(path).measured_tops_per_w == load("hung2023").measured_tops_per_w
