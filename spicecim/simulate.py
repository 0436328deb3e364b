"""ngspice through PySpice's shared-library interface. The only module that imports PySpice."""

from __future__ import annotations

import ctypes.util
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spicecim.errors import SimulationError, SimulatorNotFoundError

# Debian's libngspice0 ships only the versioned name; the unversioned link is in the -dev package.
_LIBRARY_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libngspice.so.0",
    "/usr/lib/aarch64-linux-gnu/libngspice.so.0",
    "/usr/lib/libngspice.so.0",
    "/usr/local/lib/libngspice.so",
    "/usr/lib/x86_64-linux-gnu/libngspice.so",
)
INSTALL_HINT = "apt-get install ngspice libngspice0"


def find_library() -> Path:
    """The ngspice shared library: ``NGSPICE_LIBRARY_PATH`` if set, else the system's."""
    explicit = os.environ.get("NGSPICE_LIBRARY_PATH")
    if explicit:
        if Path(explicit).is_file():
            return Path(explicit)
        raise SimulatorNotFoundError(
            f"NGSPICE_LIBRARY_PATH={explicit!r} is not a file: expected the path of libngspice.so"
        )
    for candidate in _LIBRARY_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    found = ctypes.util.find_library("ngspice")
    if found:
        return Path(found)
    raise SimulatorNotFoundError(f"the ngspice shared library was not found: install it with '{INSTALL_HINT}'")


@dataclass(slots=True)
class NgspiceSession:
    """One ngspice instance in this process (the shared library is not re-entrant)."""

    _ng: object = field(default=None, repr=False)

    def _shared(self):  # noqa: ANN202 - PySpice's type stays inside this module
        if self._ng is None:
            library = find_library()
            os.environ["NGSPICE_LIBRARY_PATH"] = str(library)
            logging.getLogger("PySpice").setLevel(logging.ERROR)
            from PySpice.Spice.NgSpice.Shared import NgSpiceShared

            try:
                self._ng = NgSpiceShared.new_instance()
            except OSError as exc:
                raise SimulatorNotFoundError(
                    f"cannot load ngspice from {library}: {exc}; install it with '{INSTALL_HINT}'"
                ) from exc
        return self._ng

    def version(self) -> str:
        ng = self._shared()
        for line in ng.exec_command("version -s").splitlines():
            if "ngspice-" in line:
                return line.strip("* ").strip()
        return "ngspice"

    def run(self, netlist: str) -> dict[str, np.ndarray]:
        """Run every analysis in ``netlist``; return the last plot's vectors by lower-case name."""
        ng = self._shared()
        ng.clear_output() if hasattr(ng, "clear_output") else None
        stdout_before = len(ng._stdout)
        try:
            ng.load_circuit(netlist)
            ng.run()
        except Exception as exc:  # PySpice raises NgSpiceCommandError and friends
            raise SimulationError(f"ngspice failed: {exc}", output=_output(ng, stdout_before)) from exc
        finally:
            pass
        plot_name = ng.last_plot
        if plot_name == "const":
            output = _output(ng, stdout_before)
            ng.remove_circuit()
            raise SimulationError("ngspice produced no results", output=output)
        plot = ng.plot(None, plot_name)
        vectors = {name.lower(): np.real(np.asarray(vec._data)) for name, vec in plot.items()}
        ng.remove_circuit()
        ng.destroy()
        return vectors


def _output(ng, start: int) -> str:  # noqa: ANN001
    return "\n".join(ng._stdout[start:] + ng._stderr)
