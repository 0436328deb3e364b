"""spicecim: memristor compute-in-memory from SPICE circuits to model-level figures."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spicecim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
