"""ngspice through PySpice's shared library: the one module that imports PySpice.

:class:`NgspiceSession` is the one ngspice of this process (the library is not re-entrant, so
a lock serialises threads), loaded on first use. Nothing it returns carries PySpice types:
plain numpy arrays and strings.
"""

from __future__ import annotations

import ctypes.util
import logging
import os
import threading
from collections.abc import Sequence
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
    raise SimulatorNotFoundError(
        f"the ngspice shared library was not found: install it with '{INSTALL_HINT}'")


class NgspiceSession:
    """The ngspice instance of this process, driven through PySpice's shared-library binding.

    PySpice's own ``exec_command``/``load_circuit`` treat any output line containing "error" as a
    failure and parse every vector of a plot; we call the C API it binds directly, read only the
    vectors asked for, and judge success from the plot itself.
    """

    _lock = threading.Lock()
    _ng: object = None

    def _shared(self):  # noqa: ANN202 - PySpice's type stays inside this module
        if NgspiceSession._ng is None:
            library = find_library()
            os.environ["NGSPICE_LIBRARY_PATH"] = str(library)
            # PySpice logs every ngspice stderr line and a version warning at WARNING level.
            logging.getLogger("PySpice").setLevel(logging.CRITICAL)
            from PySpice.Spice.NgSpice.Shared import NgSpiceShared

            try:
                NgspiceSession._ng = NgSpiceShared.new_instance()
            except OSError as exc:
                raise SimulatorNotFoundError(
                    f"cannot load ngspice from {library}: {exc}; install it with '{INSTALL_HINT}'"
                ) from exc
        return NgspiceSession._ng

    def command(self, command: str) -> str:
        """Run one ngspice command; return what it printed."""
        ng = self._shared()
        ng.clear_output()
        ng._ngspice_shared.ngSpice_Command(command.encode())
        return self.output()

    def output(self) -> str:
        ng = self._shared()
        return "\n".join(line for line in ng._stdout + ng._stderr if line.strip())

    def load(self, netlist: str) -> None:
        """Load a circuit (replacing none: call :meth:`reset` between circuits)."""
        # _shared() first, here and below: PySpice fixes the library path on its first import
        ng = self._shared()
        from PySpice.Spice.NgSpice.Shared import ffi

        keep = [ffi.new("char[]", line.encode()) for line in netlist.splitlines() if line]
        keep += [ffi.new("char[]", b""), ffi.NULL]  # ngspice wants a last empty line
        ng.clear_output()
        ng._ngspice_shared.ngSpice_Circ(ffi.new("char *[]", keep))
        output = self.output()
        if any(ln.strip().lower().startswith("error") for ln in output.splitlines()):
            raise SimulationError(f"ngspice rejected the netlist: {message(output)}",
                                  output=output)

    def plot(self) -> str:
        lib = self._shared()._ngspice_shared
        from PySpice.Spice.NgSpice.Shared import ffi

        return ffi.string(lib.ngSpice_CurPlot()).decode()

    def vectors(self, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Vectors of the current plot by lower-case name (all of them when ``names`` is None)."""
        lib = self._shared()._ngspice_shared
        from PySpice.Spice.NgSpice.Shared import ffi

        plot = self.plot()
        if names is None:
            listed = lib.ngSpice_AllVecs(plot.encode())
            names, k = [], 0
            while listed[k] != ffi.NULL:
                names.append(ffi.string(listed[k]).decode())
                k += 1
        out = {}
        for name in names:
            info = lib.ngGet_Vec_Info(f"{plot}.{name}".encode())
            if info == ffi.NULL:
                raise SimulationError(f"ngspice has no vector {name!r} in plot {plot}")
            if info.v_compdata != ffi.NULL:
                raw = ffi.buffer(info.v_compdata, info.v_length * 16)
                data = np.frombuffer(raw, np.float64)[0::2]
            else:
                data = np.frombuffer(ffi.buffer(info.v_realdata, info.v_length * 8), np.float64)
            out[name.lower()] = data.copy()
        return out

    def reset(self) -> None:
        """Drop every plot and circuit, so memory stays flat over thousands of runs."""
        self.command("destroy all")
        self.command("remcirc")

    def run(self, netlist: str) -> dict[str, np.ndarray]:
        """Run every analysis in ``netlist``; return the last plot's vectors by lower-case name."""
        with self._lock:
            self.reset()
            try:
                self.load(netlist)
                output = self.command("run")
                if self.plot() == "const" or "aborted" in output:
                    raise SimulationError(f"ngspice failed: {message(output)}", output=output)
                return self.vectors()
            finally:
                self.reset()

    def version(self) -> str:
        with self._lock:
            for line in self.command("version -s").splitlines():
                if "ngspice-" in line:
                    return line.strip("* ").strip()
        return "ngspice"


_FAILURE_WORDS = ("error", "too small", "abort", "singular", "no convergence", "failed")


def _error_lines(output: str, words: Sequence[str]) -> list[str]:
    return [ln.strip() for ln in output.splitlines() if any(w in ln.lower() for w in words)]


def message(output: str) -> str:
    lines = (_error_lines(output, _FAILURE_WORDS)
             or [ln for ln in output.splitlines() if ln.strip()][-1:])
    text = "; ".join(dict.fromkeys(lines))
    return text[:400] or "no output"
