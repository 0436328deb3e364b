"""Options shared by every command that builds a tile, and the one function that reads them."""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np

from spicecim import devices
from spicecim.cli import limits, paths
from spicecim.errors import SpecError
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import WeightMapping, make_tile
from spicecim.store import npy
from spicecim.store.lock import check_not_in_use
from spicecim.units import PARAM, Param


class Finite(click.FloatRange):
    """A float option's type: a finite number (click's ``float`` and ``FloatRange`` let NaN and
    infinity through), within the range given, if any."""

    def __init__(self, min: float | None = None, min_open: bool = False,  # noqa: A002
                 max: float | None = None, max_open: bool = False) -> None:  # noqa: A002
        super().__init__(min=min, min_open=min_open, max=max, max_open=max_open)
        if min is None and max is None:
            self.name = "float"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{number} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)

    def _describe_range(self) -> str:
        return "finite" if self.min is None and self.max is None else super()._describe_range()


FINITE = Finite()
POSITIVE = Finite(min=0.0, min_open=True)
MAX_VARIATION_SCALE = 20.0
"""The largest scale of sigma_G: the default fit peaks at 2.3 uS of its 40 uS range (Wan et al.
2022, docs/sources.md section 6), so at 20 times sigma_G exceeds the whole conductance range
and every device is programmed to noise; a larger scale (``--variation 1e300``) is a typo, not
a device."""
MAX_READ_NOISE = 1.0
"""The largest relative read-noise sigma: 100 %, noise as large as the signal it reads."""
VARIATION = Finite(min=0.0, max=MAX_VARIATION_SCALE)
READ_NOISE = Finite(min=0.0, max=MAX_READ_NOISE)
_BITS = click.IntRange(1, 16)
_ONE_ENCODING = ("Amplitude: the only encoding simulate measures (pulse-width netlists: "
                 "spicecim generate).")

FieldPath = tuple[str, ...]
"""Where a field sits in a :class:`~spicecim.netlist.spec.CrossbarSpec` (``("driver",
"rise_s")``)."""


@functools.cache
def _spec_fields() -> tuple[tuple[FieldPath, Param, Any], ...]:
    """Every field of the default tile's specification that names an option in its metadata
    (:class:`~spicecim.units.Param`), with its default value, in the specification's order."""
    return tuple(_walk(specs.default_spec(), ()))


def _walk(obj: Any, path: FieldPath) -> Iterator[tuple[FieldPath, Param, Any]]:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if PARAM in f.metadata:
            yield (*path, f.name), f.metadata[PARAM], value
        elif dataclasses.is_dataclass(value):
            yield from _walk(value, (*path, f.name))


OptionArgs = tuple[list[str], dict[str, Any]]
"""A click option's names and keyword arguments (``click.option(*names, **kwargs)``)."""


def _spec_option(p: Param, value: Any, encodings: tuple[str, ...]) -> OptionArgs:
    """The click option of a specification field: its type and checks from the field's
    accepted range or choices, its default the default tile's."""
    names = [p.option, p.dest] if p.dest else [p.option]
    kwargs: dict[str, Any] = {"help": p.text(), "show_default": True}
    if "/" in p.option:  # a yes/no flag: whether the part is there
        kwargs["default"] = value is not None
    elif p.choices:
        # a command offers only the input encodings it can carry out (tile_options)
        choices = encodings if p.choices == specs.ENCODINGS else p.choices
        kwargs.update(type=click.Choice(choices), default=value)
        if len(choices) == 1:
            kwargs["help"] = _ONE_ENCODING
    elif isinstance(value, int):
        lo, hi = (None if b is None else int(b) for b in p.accepted or (None, None))
        kwargs.update(type=click.IntRange(lo, hi), default=value)
    elif p.accepted is not None:
        kwargs.update(type=Finite(min=p.accepted[0], max=p.accepted[1]), default=value,
                      show_default=value is not None)
    else:  # a part chosen by its name
        kwargs["default"] = getattr(value, "name", value)
    return names, kwargs


def _other_options() -> list[OptionArgs]:
    """The tile options that are not the specification's: its weights, inputs and seed."""
    file = click.Path(dir_okay=False, path_type=Path)
    return [
        (["--tile-weights", "weights_file"], {
            "type": file,
            "help": "The tile's signed weights .npy, (rows, cols/2) differential or "
                    "(rows, cols-1) reference [default: uniform in [-1, 1] from --seed]."}),
        (["--weight-scheme"], {"type": click.Choice(specs.WEIGHT_SCHEMES),
                               "default": "differential", "show_default": True}),
        (["--weight-bits"], {"type": _BITS, "default": specs.DEFAULT_WEIGHT_BITS,
                             "show_default": True,
                             "help": "Conductance levels per device = 2^bits."}),
        (["--g-min"], {"type": POSITIVE,
                       "help": f"Lowest programmed conductance (S) [default: "
                               f"{specs.DEFAULT_G_MIN_S} within the device's range]."}),
        (["--g-max"], {"type": POSITIVE,
                       "help": f"Highest programmed conductance (S) [default: "
                               f"{specs.DEFAULT_G_MAX_S} within the device's range]."}),
        (["--tile-inputs", "inputs_file"], {
            "type": file,
            "help": "The tile's input vector .npy, (rows,) with values in [0, 1] "
                    "[default: uniform from --seed]."}),
        (["--seed"], {"type": click.IntRange(min=0), "default": 0, "show_default": True,
                      "help": "Seed of random weights/inputs."}),
    ]


def _options(encodings: tuple[str, ...]) -> list[OptionArgs]:
    """Every tile option: one per option a specification field names (fields sharing an
    option share it), then the weights', inputs' and seed's."""
    seen: dict[str, OptionArgs] = {}
    for _, p, value in _spec_fields():
        seen.setdefault(p.option, _spec_option(p, value, encodings))
    return [*seen.values(), *_other_options()]


def tile_options(func: Callable[..., Any] | None = None, *,
                 encodings: tuple[str, ...] = specs.ENCODINGS) -> Any:
    """Decorate a command with every tile option (they arrive as keyword arguments);
    ``encodings``: the input encodings the command offers (``@tile_options(encodings=...)``),
    only those it can carry out."""
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for names, kwargs in reversed(_options(encodings)):
            func = click.option(*names, **kwargs)(func)
        return func

    return decorate if func is None else decorate(func)


def pop_tile_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The tile options' values, taken out of a command's keyword arguments."""
    return {name: kwargs.pop(name) for name in _option_names()}


@functools.cache
def _option_names() -> tuple[str, ...]:
    """The keywords the tile options arrive as, as click names them."""
    return tuple(str(click.Option(names, **kwargs).name)
                 for names, kwargs in _options(specs.ENCODINGS))


def build_tile(opts: dict[str, Any]) -> specs.Tile:
    """A tile from the option values: validated spec, mapped weights, quantised inputs."""
    o = opts
    spec = build_spec(o)
    mapping = weight_mapping(o, spec.cell.memristor)
    w_shape, x_shape = (o["rows"], mapping.outputs_for(o["cols"])), (o["rows"],)
    paths.check_input_files([("--tile-weights", o["weights_file"]),
                             ("--tile-inputs", o["inputs_file"])],
                            {"--tile-weights": f"a .npy file of shape {w_shape}",
                             "--tile-inputs": f"a .npy file of shape {x_shape}"})
    w = None if o["weights_file"] is None else load_npy(o["weights_file"], "weights", w_shape)
    x = None if o["inputs_file"] is None else load_npy(o["inputs_file"], "inputs", x_shape)
    return make_tile(spec, mapping, w, x, seed=o["seed"])


def build_spec(opts: dict[str, Any]) -> specs.CrossbarSpec:
    """The tile specification the option values describe (if its tile fits in memory)."""
    o = opts
    limits.check_tile(o["rows"], o["cols"])
    base = specs.default_spec(o["rows"], o["cols"], cell=o["cell"], memristor=o["memristor_name"],
                              access=o["access"], state=o["memristor_state"])
    changes: dict[str, Any] = {}
    mem = base.cell.memristor
    if abs(o["v_read"] - mem.v_read_v) > 1e-15:  # the device is read at the full scale
        _put(changes, ("cell", "memristor", "v_read_v"), o["v_read"])
    for path, p, _ in _spec_fields():
        if path[0] != "cell":  # the cell's options chose it from its library above
            _put(changes, path, o[p.dest or _name(p.option)])
    return _replaced(base, changes)


def _name(option: str) -> str:
    return option.removeprefix("--").replace("-", "_")


def _put(changes: dict[str, Any], path: FieldPath, value: Any) -> None:
    for part in path[:-1]:
        changes = changes.setdefault(part, {})
    changes[path[-1]] = value


def _replaced(obj: Any, changes: dict[str, Any]) -> Any:
    """``obj`` with ``changes`` (nested by field) made, each object replaced once, so each is
    checked once with all its new values."""
    return dataclasses.replace(obj, **{
        name: _replaced(getattr(obj, name), value) if isinstance(value, dict) else value
        for name, value in changes.items()})


def weight_mapping(opts: dict[str, Any], mem: devices.MemristorParams) -> WeightMapping:
    """The weight mapping of the options for a tile whose cells are ``mem``."""
    o = opts
    # The default weight range is the cited multilevel range, narrowed to what the device reaches.
    g_min = o["g_min"] if o["g_min"] is not None else max(specs.DEFAULT_G_MIN_S, mem.g_off_s)
    g_max = o["g_max"] if o["g_max"] is not None else min(specs.DEFAULT_G_MAX_S, mem.g_on_s)
    return WeightMapping(o["weight_scheme"], g_min, g_max, o["weight_bits"])


def load_npy(path: Path, what: str, shape: tuple[int, ...]) -> np.ndarray:
    """Read a .npy array of an expected shape, or fail with one line saying what was expected."""
    array = npy.load_npy(path, what, f"a .npy file of shape {shape}")
    if array.shape != shape:
        raise SpecError(f"{what} file {str(path)!r} has shape {array.shape}: expected {shape}")
    return array


_SIZE = re.compile(r"^(\d+)x(\d+)$")


def parse_size(text: str, what: str) -> tuple[int, int]:
    """'800x600' -> (800, 600); both positive."""
    match = _SIZE.match(text.strip())
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise SpecError(f"{what}={text!r} is invalid: expected AxB with positive integers, "
                        "e.g. 800x800")
    return int(match[1]), int(match[2])


def check_output(path: Path, overwrite: bool, option: str = "--out", *,
                 inside: Iterable[str] | None = None) -> None:
    """Refuse, before any work, an output that could not be written or would replace a file
    without ``overwrite``: an existing file, a path under a file or an unwritable folder, and
    with or without ``overwrite`` a file another live run is writing (its lock). ``inside``
    makes ``path`` a folder output: the names of the files the command would write or remove
    in it (each existing one refused like a file); else ``path`` is a file, never a folder.
    Nothing is left here (a probe file shows the folder writable, and goes): the one message of
    every command that writes."""
    if inside is None and path.is_dir():
        raise SpecError(f"{option} {str(path)!r} is a directory: expected a file path")
    if inside is not None and path.exists() and not path.is_dir():
        raise SpecError(f"{option} {str(path)!r} is a file: expected a folder")
    for target in [path] if inside is None else [path / name for name in inside]:
        paths.check_not_special(target, option)
        if target.exists() and not overwrite:
            raise SpecError(f"{option} {str(target)!r} exists: expected a new path, or "
                            "--overwrite to replace it")
        if inside is None:
            check_not_in_use(target)
    folder = path.absolute() if inside is not None else path.absolute().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise SpecError(f"{option} {str(path)!r} lies under {str(folder)!r}, which is a file: "
                        "expected a path in a folder")
    paths.check_can_create(folder, path, option)
