"""A model's tiles programmed once and kept by content, so a ladder line run again reads them.

Programming (:func:`spicecim.analog.accuracy.program`: conductances, variation, IR-drop-aware
pre-distortion and a transfer matrix per tile, or per pre-distortion step) takes most of a
ladder line: on the demo's 256x256 tiles about 20 times the frame's read. What it gives depends
only on what it reads, the MLP, the mapping, the tile, the conductance mapping, the settings
that program (not those read at read time), the calibration batch, and on the code that
programs. :func:`programmed_layers` hashes all of it (the code as the package's source text, so
any edit programs afresh) into the name of one file under ``<cache>/programmed``; a later run
with the same key (the demo again, a benchmark, a render of the same design point) reads the
layers instead. Inside a programming that does run, each transfer matrix is kept under
``<cache>/transfer`` (:func:`spicecim.solve.transfer_cache`): a run whose calibration batch
alone differs (another frame, other calibration points) computes none of them again.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

import spicecim
from spicecim import CrossbarSpec, Mlp, WeightMapping
from spicecim.analog import accuracy as acc
from spicecim.cost.mapping import ModelMapping
from spicecim.solve import transfer_cache
from spicecim.store.files import atomic_write

_FORMAT = b"programmed-layers 1"  # how the file is written (pickle of the layers' dict)


def programming_settings(settings: acc.Nonideality) -> acc.Nonideality:
    """The settings that decide how tiles are programmed (not what happens at read time: the
    ADC and DAC bits, the read noise, the ADC range and the column calibration)."""
    return dataclasses.replace(settings, adc_bits=None, dac_bits=None, read_noise=0.0,
                               adc_range="calibrated", calibrate=True, acam_edges=None)


def programmed_layers(mlp: Mlp, mapping: ModelMapping, spec: CrossbarSpec,
                      weights: WeightMapping, settings: acc.Nonideality,
                      calibration: Mapping[str, np.ndarray], cache_dir: Path | None,
                      done: Callable[[int], object] | None = None
                      ) -> dict[str, acc.ProgrammedLayer]:
    """:func:`~spicecim.analog.accuracy.program`'s layers, read from ``cache_dir`` where a
    run with the same content key kept them, else programmed and kept there (``cache_dir``
    None: programmed, nothing kept); ``done`` is told of the tiles programmed (read: all at
    once). Settings that differ only at read time (:func:`programming_settings`) share a key."""
    tell = done or (lambda _: None)
    if cache_dir is None:
        return acc.program(mlp, mapping, spec, weights, settings, calibration, tell)
    key = content_key(mlp, mapping, spec, weights, programming_settings(settings), calibration)
    path = Path(cache_dir) / "programmed" / f"{key}.pkl"
    if path.is_file():
        try:
            with open(path, "rb") as fh:
                layers = pickle.load(fh)  # the user's own cache, written below
            if isinstance(layers, dict) and set(layers) == {layer.name for layer in mlp.layers}:
                tell(sum(len(layer.tiles) for layer in layers.values()))
                return layers
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, TypeError):
            pass  # damaged or of another layout: programmed again and replaced
    with transfer_cache(Path(cache_dir) / "transfer"):
        layers = acc.program(mlp, mapping, spec, weights, settings, calibration, tell)
    atomic_write(path, lambda tmp: _dump(tmp, layers))
    return layers


def _dump(path: Path, layers: dict[str, acc.ProgrammedLayer]) -> None:
    with open(path, "wb") as fh:
        pickle.dump(layers, fh, protocol=pickle.HIGHEST_PROTOCOL)


def content_key(*parts: Any) -> str:  # noqa: ANN401 - any of the inputs above
    """The hash of ``parts`` (arrays by dtype, shape and bytes; dataclasses field by field;
    mappings by sorted key; anything else by ``repr``) and of the package's source text."""
    digest = hashlib.sha256(_FORMAT)
    digest.update(_source_digest())
    for part in parts:
        _feed(digest, part)
    return digest.hexdigest()[:32]


def _feed(digest: Any, value: Any) -> None:  # noqa: ANN401 - hashlib's object, any value
    if isinstance(value, np.ndarray):
        digest.update(f"array {value.dtype.str} {value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        digest.update(type(value).__qualname__.encode())
        for f in dataclasses.fields(value):
            digest.update(f.name.encode())
            _feed(digest, getattr(value, f.name))
    elif isinstance(value, Mapping):
        digest.update(f"mapping {len(value)}".encode())
        for k in sorted(value, key=repr):
            _feed(digest, k)
            _feed(digest, value[k])
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__} {len(value)}".encode())
        for item in value:
            _feed(digest, item)
    else:  # numbers (repr round-trips a float exactly), strings, None, slices
        digest.update(repr(value).encode())
    digest.update(b";")


@functools.cache
def _source_digest() -> bytes:
    """Every source file of the package, by path and text: what programs, whatever module."""
    root = Path(spicecim.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.digest()
