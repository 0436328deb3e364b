"""spicecim's import contract: which part of the package may import which, and no import circle.

Read from the source (``ast``), so an import deferred into a function counts like one at the
top of a module: a circle that loads only because one side is deferred is still a circle. An
import under ``if TYPE_CHECKING:`` obeys the layers but closes no circle (it never runs).
``make lint`` runs ``python scripts/layers.py --check``; the test suite runs the same checks
(tests/test_layers.py) and checks that the layer table in docs/architecture.md is the one
``python scripts/layers.py --write`` writes.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "spicecim"
DOC = ROOT / "docs" / "architecture.md"

# Lowest first. A module may import its own part and any part on a lower line; parts on the
# same line are independent of each other. A part is a subpackage or a top-level module.
LAYERS: tuple[tuple[str, ...], ...] = (
    # The ground: the package root (imported for __version__ alone; its public names load
    # lazily by name), errors, units, the progress bar, and the atomic file writer (stdlib only,
    # so any layer writes its files through it).
    ("spicecim", "errors", "units", "progress", "store.files"),
    ("devices",),
    ("netlist",),
    ("solve",),
    ("measure",),
    ("store", "measure_batch"),
    # The simulation wing in three layers: one ngspice column transient (on the time scales
    # both engines step on, beside the ngspice bridge), the batched engine on those time
    # scales, and the run driver that dispatches to either.
    ("sim.ngspice", "sim.scales"),
    ("sim.column",),
    ("sim.batched",),
    ("sim",),
    ("acam", "plot"),
    ("models",),
    ("cost",),
    ("analog",),
    ("report",),
    ("nerf", "macros"),
    ("cli",),
)

WHAT = {
    "spicecim": "the public API (names load lazily) and `__version__`",
    "errors": "the error tree under `SpiceCimError`",
    "units": "SI formatting",
    "progress": "the progress bar on stderr",
    "store.files": "the one atomic file writer (stdlib only)",
    "devices": "compact models and readout front ends",
    "netlist": "specifications, weights -> conductances, SPICE text",
    "solve": "the DC solvers: wire-layer lines and the sparse nodal network",
    "measure": "latency, energy and schedules from waveforms (pure numpy)",
    "measure_batch": "the same figures for many columns in one pass",
    "store": "the HDF5 run file, its journal and lock (imports no simulator)",
    "sim.ngspice": "the ngspice shared library (the only PySpice import)",
    "sim.scales": "a column's time constants, maximum step and stop time, the run options",
    "sim.column": "one column transient in ngspice (and the full array as its reference)",
    "sim.batched": "the batched transient engine (JAX, float64): many columns at once",
    "sim": "sweeps, executors, the ngspice spot check, the run driver, Monte Carlo",
    "acam": "the analog CAM: cells, arrays, searches, converters",
    "plot": "figures of a run file",
    "models": "the MLP, presets, the scene, ONNX, the JAX fitter, digital baselines",
    "cost": "mapping onto tiles, bit slices, schedules, co-simulation, design points",
    "analog": "the crossbar forward pass and its scoring, IR-aware programming, fine-tuning",
    "report": "the evaluation report and `evaluation.run` (public as `spicecim.evaluate`)",
    "nerf": "the NeRF application: frames, renders, quality, pipeline, plans, outputs",
    "macros": "published macros described (TOML, cited), rebuilt as tiles and reproduced",
    "cli": "parse, call one library function, print",
}


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imported(node: ast.AST, known: dict[str, Path]) -> Iterator[str]:
    """The package's modules one import statement loads: ``from pkg import name`` is the
    submodule ``pkg.name`` when there is one, else ``pkg``."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name in known:
                yield alias.name
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        for alias in node.names:
            sub = f"{node.module}.{alias.name}"
            if sub in known:
                yield sub
            elif node.module in known:
                yield node.module


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _statements(tree: ast.AST, typing_only: bool) -> Iterator[ast.AST]:
    """Every node of ``tree``; the bodies of ``if TYPE_CHECKING:`` only with ``typing_only``."""
    for node in ast.iter_child_nodes(tree):
        if _type_checking(node) and not typing_only:
            yield from (n for child in node.orelse for n in ast.walk(child))
            continue
        yield node
        yield from _statements(node, typing_only)


def import_graph(typing_only: bool = True) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at any depth of its source (deferred into a
    function too); with ``typing_only`` also those imported for annotations alone."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[name] = {t for node in _statements(tree, typing_only)
                       for t in _imported(node, known)} - {name}
    return graph


def part(module: str) -> str:
    """The part of the contract ``module`` belongs to: the longest listed prefix."""
    rel = module.split(".")[1:]
    for n in range(len(rel), 0, -1):
        if ".".join(rel[:n]) in WHAT:
            return ".".join(rel[:n])
    return "spicecim"


def _layer(part_: str) -> int:
    return next(i for i, parts in enumerate(LAYERS) if part_ in parts)


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks the layers, one line each."""
    out = []
    for module, targets in sorted(graph.items()):
        if module == API:
            continue  # the facade: checked by api_loads_lazily instead
        a = part(module)
        for target in sorted(targets):
            b = part(target)
            if a != b and (_layer(b) > _layer(a) or _layer(b) == _layer(a)):
                out.append(f"{module} imports {target}: {a} may not import {b}")
    return out


API = "spicecim"
"""The package root: the ground every layer imports (for ``__version__``) and the public API's
facade over every layer at once, so its imports obey no layer; instead it must import nothing of
the package when it runs (its names load lazily by name, typed under ``TYPE_CHECKING``)."""


def api_loads_lazily() -> list[str]:
    """The package's modules the root imports when it runs: none may be."""
    return [f"{API} imports {target} when it runs: the public API must load names lazily"
            for target in sorted(import_graph(typing_only=False).get(API, set()))]


# Third-party modules one module of the package alone may import: PySpice's unit objects and
# import-time attributes stay behind the simulator bridge.
ONLY_IN = {"PySpice": "spicecim.sim.ngspice"}


def confined() -> list[str]:
    """Every import of a library of :data:`ONLY_IN` outside its module, one line each."""
    out = []
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                top = name.split(".")[0]
                if top in ONLY_IN and module != ONLY_IN[top]:
                    out.append(f"{module} imports {name}: only {ONLY_IN[top]} may")
    return out


# The public API a wing on top uses: the names of the package root (its ``__all__``), the
# names of a package's own ``__all__`` (``spicecim.solve``, ``spicecim.devices``), and each
# part's public modules below (those docs/architecture.md describes; the rest are how the part
# works inside). A part of PUBLIC_ONLY imports nothing else of the parts below it, no name that
# starts with an underscore, and a name the root exports only from the root.
PUBLIC_MODULES = {
    "netlist": ("crossbar", "spec", "weights"),
    "store": ("files", "hdf5", "kinds", "npy", "runs", "schema"),
    "sim": ("driver", "executors", "montecarlo", "sweep"),
    "models": ("baseline", "encoding", "fit", "jax_mlp", "mlp", "onnx_import", "presets",
               "scene"),
    "cost": ("cosim", "design", "duration", "inputs", "mapping", "schedule", "slicing"),
    "analog": ("accuracy", "converters", "finetune", "forward", "model", "programming",
               "scoring"),
}
PUBLIC_ONLY = ("nerf",)


def _exported(module: str) -> set[str]:
    """The names a module's literal ``__all__`` lists (none without one)."""
    tree = ast.parse(modules()[module].read_text())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                 for t in node.targets)):
            return {e.value for e in getattr(node.value, "elts", ())
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return set()


def _why_private(module: str, name: str | None) -> str | None:
    """Why importing ``name`` from ``module`` (the module itself: None) is not public API;
    None where it is."""
    if name is not None and name.startswith("_"):
        return "a private name"
    known = modules()
    sub = None if name is None else f"{module}.{name}"
    if sub in known:  # ``from spicecim.cost import schedule``: the module itself
        module, name = sub, None
    if module == API:
        return None if name is None or name in _exported(API) else "not in spicecim.__all__"
    if part(module) in LAYERS[0]:
        return None  # the ground (errors, units, the progress bar, the atomic writer)
    if name in _exported(API):
        return "the package root exports it: import it from spicecim"
    if name is not None and known[module].name == "__init__.py" and name in _exported(module):
        return None
    wing, _, rest = module.removeprefix(f"{API}.").partition(".")
    if rest.split(".")[0] in PUBLIC_MODULES.get(wing, ()):
        return None
    return f"not a public module of {wing} (PUBLIC_MODULES) nor in its __all__"


def private_imports() -> list[str]:
    """Every import by a module of a :data:`PUBLIC_ONLY` part that is not public API
    (:func:`_why_private`), one line each; the part's own modules excepted."""
    out = []
    for module, path in modules().items():
        own = part(module)
        if own not in PUBLIC_ONLY:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                pairs = [(node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                pairs = [(alias.name, None) for alias in node.names]
            else:
                continue
            for target, name in pairs:
                if target.split(".")[0] != API:
                    continue
                if target in modules() and part(target) == own:
                    continue
                why = _why_private(target, name)
                if why is not None:
                    what = target if name is None else f"{target}.{name}"
                    out.append(f"{module} imports {what}: {why}")
    return out


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer_table(graph: dict[str, set[str]]) -> str:
    """The layer table docs/architecture.md holds: top first, each part with the parts it
    imports today (from ``graph``; the ground left out)."""
    uses: dict[str, set[str]] = {}
    for module, targets in graph.items():
        uses.setdefault(part(module), set()).update(part(t) for t in targets)
    rows = ["| layer | part | what | imports (besides the ground) |", "|---|---|---|---|"]
    for i in range(len(LAYERS) - 1, -1, -1):
        for p in LAYERS[i]:
            name = "spicecim/__init__.py" if p == "spicecim" else p.replace(".", "/")
            name += "" if p == "spicecim" or (PACKAGE / p).is_dir() else ".py"
            below = sorted(uses.get(p, set()) - {p} - set(LAYERS[0]), key=lambda q: (_layer(q), q))
            rows.append(f"| {i} | `{name}` | {WHAT[p]} | {', '.join(below) or '-'} |")
    return "\n".join(rows) + "\n"


BEGIN = "<!-- layers: written by scripts/layers.py --write -->\n"
END = "<!-- end of layers -->\n"


def documented() -> str:
    text = DOC.read_text()
    return text[text.index(BEGIN) + len(BEGIN):text.index(END)]


def write_doc(graph: dict[str, set[str]]) -> None:
    text = DOC.read_text()
    head, rest = text.split(BEGIN)
    DOC.write_text(head + BEGIN + layer_table(graph) + END + rest.split(END, 1)[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail on a broken layer or circle")
    parser.add_argument("--write", action="store_true", help="rewrite docs/architecture.md's table")
    args = parser.parse_args()
    graph = import_graph()
    if args.write:
        write_doc(graph)
    # An annotation-only import runs nothing, so it closes no circle; it still obeys the layers.
    problems = violations(graph) + api_loads_lazily() + confined() + private_imports()
    problems += [f"import circle: {' <-> '.join(c)}"
                 for c in circles(import_graph(typing_only=False))]
    if not args.write and documented() != layer_table(graph):
        problems.append("docs/architecture.md's layer table is stale: run "
                        "python scripts/layers.py --write")
    for line in problems:
        print(line, file=sys.stderr)
    if not args.check and not args.write:
        print(layer_table(graph), end="")
    return 1 if problems and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
