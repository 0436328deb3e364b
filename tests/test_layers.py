"""The package's shape, read from its source: the import contract of scripts/layers.py (no part
imports a part above it or beside it; no import circle, deferred imports included), the layer
table of docs/architecture.md as the code has it, no module over 500 lines and no part over
15 % of the package's lines."""

from __future__ import annotations

import ast
from pathlib import Path

import layers

MAX_MODULE_LINES = 500
MAX_PART_SHARE = 0.15
# Modules allowed over MAX_MODULE_LINES while they are being split elsewhere: none now.
OVER_LIMIT_ELSEWHERE: set[str] = set()


def test_every_import_follows_the_layers() -> None:
    assert layers.violations(layers.import_graph()) == []


def test_only_the_simulator_bridge_imports_pyspice() -> None:
    assert layers.confined() == []


def test_no_import_circle() -> None:
    assert layers.circles(layers.import_graph(typing_only=False)) == []


def test_a_deferred_import_closes_a_circle_and_a_typing_one_does_not() -> None:
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import spicecim.b\n"
              "def f():\n    import spicecim.c\n")
    known = {"spicecim.b": Path(), "spicecim.c": Path()}
    tree = ast.parse(source)

    def imported(typing_only: bool) -> set[str]:
        return {t for node in layers._statements(tree, typing_only)
                for t in layers._imported(node, known)}

    assert imported(typing_only=True) == {"spicecim.b", "spicecim.c"}
    assert imported(typing_only=False) == {"spicecim.c"}
    assert layers.circles({"x.a": {"x.b"}, "x.b": {"x.a"}, "x.c": {"x.a"}}) == [["x.a", "x.b"]]


def test_a_lower_part_importing_a_higher_one_is_named() -> None:
    graph = {"spicecim.cost.cosim": {"spicecim.nerf.frame"}, "spicecim.nerf.frame": set()}
    assert layers.violations(graph) == [
        "spicecim.cost.cosim imports spicecim.nerf.frame: cost may not import nerf"]


def test_architecture_doc_has_the_layers_of_the_code() -> None:
    assert layers.documented() == layers.layer_table(layers.import_graph()), (
        "run: python scripts/layers.py --write")


def test_no_module_over_500_lines_and_no_part_over_15_percent() -> None:
    lines = {m: len(p.read_text().splitlines()) for m, p in layers.modules().items()}
    assert {m for m, n in lines.items() if n > MAX_MODULE_LINES} <= OVER_LIMIT_ELSEWHERE
    by_part: dict[str, int] = {}
    for module, n in lines.items():
        by_part[layers.part(module)] = by_part.get(layers.part(module), 0) + n
    total = sum(by_part.values())
    assert {p: n for p, n in by_part.items() if n > MAX_PART_SHARE * total} == {}


def test_the_public_api_imports_nothing_when_it_runs() -> None:
    assert layers.api_loads_lazily() == []
