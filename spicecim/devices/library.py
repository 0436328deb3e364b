"""The model files in ``spicecim/device_models/``: where they are, how their text is read.

Every model lives in one ``device_models/<family>/<name>.lib`` file whose header names its source
and whose ``params:`` line (or ``.model`` card) holds the cited parameter set; the modules of this
package parse those files into frozen dataclasses, so the numbers are written once, in the file a
SPICE user reads, and Python (netlist writer, fast solver, evaluator) uses the same values.

The files ship inside the package (package data, found through :mod:`importlib.resources`, so an
installed wheel has them wherever it is). A user's own folder of the same layout, named by
``$SPICECIM_DEVICE_MODELS``, is searched first: a file there adds a model or replaces the shipped
one of the same family and name.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from spicecim.errors import SpecError

MODELS_ENV = "SPICECIM_DEVICE_MODELS"
PARAMS_LINE = re.compile(r"^(\.subckt\s+\S+\s+.*?\bparams:)(.*)$", re.IGNORECASE | re.MULTILINE)
MODEL_LINE = re.compile(r"^\.model\s+(\S+)\s+(\S+)\s*\((.*)\)\s*$", re.IGNORECASE | re.MULTILINE)
ASSIGN = re.compile(r"(\w+)\s*=\s*([-+0-9.eE]+)")


def models_root() -> Traversable:
    """The ``device_models/`` folder shipped in the package (never the working directory)."""
    return resources.files("spicecim") / "device_models"


def model_roots() -> tuple[Traversable, ...]:
    """Where model files are looked up, first match first: ``$SPICECIM_DEVICE_MODELS`` when
    set (read at each call, never at import), then the shipped folder."""
    user = os.environ.get(MODELS_ENV)
    if user and not Path(user).is_dir():
        raise SpecError(f"{MODELS_ENV}={user!r} is not a folder: expected one holding "
                        "<family>/<name>.lib model files")
    return ((Path(user),) if user else ()) + (models_root(),)


def available_models(family: str) -> tuple[str, ...]:
    """Names of the models of one family (``memristor``, ``transistor``, ``acam``...)."""
    return tuple(sorted({f.name[:-len(".lib")] for root in model_roots()
                         if (root / family).is_dir() for f in (root / family).iterdir()
                         if f.name.endswith(".lib")}))


def read_lib(family: str, name: str) -> str:
    for root in model_roots():
        path = root / family / f"{name}.lib"
        if path.is_file():
            return path.read_text()
    names = ", ".join(available_models(family)) or "none"
    raise SpecError(f"{family} model {name!r} not found: expected one of {names}")


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
