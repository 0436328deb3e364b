"""The validation table: each shipped macro's prediction against its measurement, as
``docs/validation.md`` and the README's "Published macros" section hold it
(``scripts/macro_table.py`` writes both; ``tests/macros/test_table.py`` checks them)."""

from __future__ import annotations

from collections.abc import Sequence

from spicecim.macros import load, shipped
from spicecim.macros.reproduce import MacroResult, reproduce

BEGIN = "<!-- macro-table:begin (scripts/macro_table.py writes it) -->"
END = "<!-- macro-table:end -->"
TOLERANCE = 0.3
"""A prediction within +-30 % of the measurement needs no explanation (issue 22)."""


def results() -> list[MacroResult]:
    """Every shipped macro reproduced (a few seconds each)."""
    return [reproduce(load(name)) for name in shipped()]


def _time(measured_s: float, *values_s: float) -> str:
    """``values_s`` in the unit that suits ``measured_s`` (ns below a microsecond, else us)."""
    scale, unit = (1e9, "ns") if measured_s < 1e-6 else (1e6, "us")
    return " / ".join(f"{v * scale:.3g}" for v in values_s) + f" {unit}"


def _miss(result: MacroResult) -> str:
    if result.within:
        return f"within +-{TOLERANCE:.0%}"
    return result.macro.unmodelled


def markdown(rows: Sequence[MacroResult]) -> str:
    """The table, between the markers a regenerating script finds it by."""
    lines = [BEGIN, "",
             "| macro | precision | access time predicted / measured (ratio) "
             "| TOPS/W predicted / measured (ratio) | largest energy part | "
             "not modelled, where it misses |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        m = r.macro
        measured = m.measured_access_time_s.number
        part = max(r.energy_j, key=lambda k: r.energy_j[k])
        share = r.energy_j[part] / r.total_energy_j
        lines.append(
            f"| {m.name} | {m.measured_precision.value} "
            f"| {_time(measured, r.access_time_s, measured)} ({r.access_ratio:.2f}) "
            f"| {r.tops_per_w:.3g} / {m.measured_tops_per_w.number:.3g}"
            f" ({r.tops_ratio:.2f}) | {part} {share:.0%} | {_miss(r)} |")
    lines += ["", "Predicted: `spicecim macro NAME` (ngspice, the macro's rows per read, "
              "2 of its columns); measured: the description's cited figures. Assumed "
              "parameters per macro: "
              + "; ".join(f"{r.macro.name} {len(r.macro.assumed)}" for r in rows)
              + " (listed by `spicecim macro NAME`).", "", END]
    return "\n".join(lines) + "\n"


def replace_table(text: str, table: str) -> str:
    """``text`` with the table between its markers replaced by ``table``."""
    start, end = text.index(BEGIN), text.index(END) + len(END) + 1
    return text[:start] + table + text[end:]
