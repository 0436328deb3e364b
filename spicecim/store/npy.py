"""Reading a user's ``.npy`` and ``.npz`` arrays: the one reader every input file goes through
(tile weights and inputs, conductances, a model's inputs and weights).

``numpy.load`` answers a bad file in many ways: an empty file raises ``EOFError`` (which click
takes for Ctrl-D: "Aborted.", exit 130), a zip archive named ``.npy`` comes back as an archive,
a corrupt archive raises ``zipfile.BadZipFile``, a pickled object array a ``ValueError``; and a
complex array loads fine, to be cut to its real part with a warning by the first
``astype(float)``. Here each becomes one :class:`~spicecim.errors.InputFileError` naming the file
and what was expected, and an array is returned only if it holds finite real numbers.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from spicecim.errors import InputFileError


def _open(path: Path, what: str, expected: str) -> np.ndarray | np.lib.npyio.NpzFile:
    if not path.is_file():
        raise InputFileError(f"{what} file {str(path)!r} does not exist: expected {expected}")
    if path.stat().st_size == 0:
        raise InputFileError(f"{what} file {str(path)!r} is empty: expected {expected}")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputFileError(f"{what} file {str(path)!r} is not a readable .npy or .npz file "
                             f"({exc}): expected {expected}") from exc


def real_array(array: np.ndarray, what: str) -> np.ndarray:
    """``array`` as float64 if it holds finite real numbers (integers or floats), else a
    :class:`InputFileError` naming ``what``: never a complex array cut to its real part."""
    kind = array.dtype.kind
    if kind not in "iuf":
        holds = "complex numbers" if kind == "c" else f"non-numeric {array.dtype} values"
        raise InputFileError(f"{what} holds {holds}: expected real numbers")
    with np.errstate(all="ignore"):
        if not np.all(np.isfinite(array)):
            raise InputFileError(f"{what} holds non-finite values (NaN or infinity): expected "
                                 "finite numbers")
    return array.astype(float)


def load(path: Path | str, what: str, expected: str, *,
         text: tuple[str, ...] = ()) -> np.ndarray | dict[str, np.ndarray]:
    """A ``.npy`` file's array, or a ``.npz`` archive's arrays by name (whatever the file's
    name says), each checked by :func:`real_array` except the string arrays named in ``text``
    (a file's metadata), returned as they are."""
    path = Path(path)
    loaded = _open(path, what, expected)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        return real_array(loaded, f"{what} file {str(path)!r}")
    try:
        with loaded:
            arrays = {name: loaded[name] for name in loaded.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputFileError(f"{what} file {str(path)!r} is not a readable .npz archive "
                             f"({exc}): expected {expected}") from exc
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray):  # a zip member that is no .npy
            raise InputFileError(f"{what} file {str(path)!r} is a zip archive whose {name!r} is "
                                 f"not a numpy array: expected {expected}")
    return {name: a if name in text else real_array(a, f"{what} file {str(path)!r}: {name!r}")
            for name, a in arrays.items()}


def load_npy(path: Path | str, what: str, expected: str = "a .npy array") -> np.ndarray:
    """The one array of a ``.npy`` file (:func:`load`; its shape is the caller's to check)."""
    loaded = load(path, what, expected)
    if isinstance(loaded, dict):
        raise InputFileError(f"{what} file {str(path)!r} is a .npz archive, not one array: "
                             f"expected {expected}")
    return loaded


def load_npz(path: Path | str, what: str, expected: str = "a .npz archive", *,
             text: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The arrays of a ``.npz`` archive by name (:func:`load`)."""
    loaded = load(path, what, expected, text=text)
    if not isinstance(loaded, dict):
        raise InputFileError(f"{what} file {str(path)!r} is a .npy array, not a .npz archive: "
                             f"expected {expected}")
    return loaded
