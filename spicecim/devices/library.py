"""The model files in ``device_models/``: where they are, how their text is read.

Every model lives in one ``device_models/<family>/<name>.lib`` file whose header names its source
and whose ``params:`` line (or ``.model`` card) holds the cited parameter set; the modules of this
package parse those files into frozen dataclasses, so the numbers are written once, in the file a
SPICE user reads, and Python (netlist writer, fast solver, evaluator) uses the same values.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from spicecim.errors import SpecError

PARAMS_LINE = re.compile(r"^(\.subckt\s+\S+\s+.*?\bparams:)(.*)$", re.IGNORECASE | re.MULTILINE)
MODEL_LINE = re.compile(r"^\.model\s+(\S+)\s+(\S+)\s*\((.*)\)\s*$", re.IGNORECASE | re.MULTILINE)
ASSIGN = re.compile(r"(\w+)\s*=\s*([-+0-9.eE]+)")


def models_root() -> Path:
    """The ``device_models/`` folder shipped beside the package (never the working directory)."""
    return Path(__file__).resolve().parents[2] / "device_models"


def available_models(family: str) -> tuple[str, ...]:
    """Names of the models of one family (``memristor``, ``transistor``, ``acam``...)."""
    return tuple(sorted(p.stem for p in (models_root() / family).glob("*.lib")))


@cache
def read_lib(family: str, name: str) -> str:
    path = models_root() / family / f"{name}.lib"
    if not path.is_file():
        names = ", ".join(available_models(family)) or "none"
        raise SpecError(f"{family} model {name!r} not found: expected one of {names}")
    return path.read_text()


def source_of(text: str) -> str:
    """The ``* source:`` lines of a model file's header, joined."""
    lines = [ln[len("* source:") :].strip() for ln in text.splitlines()
             if ln.startswith("* source:")]
    return " ".join(lines)


def header_value(text: str, key: str) -> str:
    for line in text.splitlines():
        if line.lower().startswith(f"* {key}:"):
            return line.split(":", 1)[1]
    raise SpecError(f"model file lacks a '* {key}:' header line")


def fmt(value: float) -> str:
    """Shortest round-tripping text for a SPICE number."""
    return repr(float(value)).replace("e+", "e")
