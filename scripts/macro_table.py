"""Write the validation table of the shipped macros into docs/validation.md and README.md.

Run from the repository root: ``.venv/bin/python scripts/macro_table.py``. The table sits
between markers in both files; tests/macros/test_table.py checks it is what the code gives.
"""

from __future__ import annotations

from pathlib import Path

from spicecim.macros.table import markdown, replace_table, results


def main() -> None:
    table = markdown(results())
    for path in (Path("docs/validation.md"), Path("README.md")):
        path.write_text(replace_table(path.read_text(encoding="utf-8"), table), encoding="utf-8")


if __name__ == "__main__":
    main()
