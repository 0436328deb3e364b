"""Options shared by every command that builds a tile, and the one function that reads them."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click
import numpy as np

from spicecim import devices
from spicecim.cli import limits, ranges
from spicecim.errors import SpecError
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import WeightMapping, make_tile
from spicecim.store import npy
from spicecim.store.lock import check_not_in_use


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
NON_NEGATIVE = Finite(min=0.0)
POSITIVE = Finite(min=0.0, min_open=True)
_D = specs.DEFAULT_WIRE, specs.DEFAULT_DRIVER, specs.DEFAULT_READOUT
_POSITIVE = POSITIVE
_BITS = click.IntRange(1, 16)


def _within(bounds: ranges.Range) -> Finite:
    """A float option's type: the finite numbers of a physical range (:mod:`ranges`)."""
    return Finite(min=bounds[0], max=bounds[1])


def _opts(encodings: tuple[str, ...]) -> list[Callable[[Callable[..., Any]], Callable[..., Any]]]:
    wire, driver, readout = _D
    return [
        click.option("--rows", type=click.IntRange(min=1), default=256, show_default=True,
                     help="Rows (inputs) of the tile."),
        click.option("--cols", type=click.IntRange(min=2), default=256, show_default=True,
                     help="Physical columns of the tile."),
        click.option("--cell", type=click.Choice(specs.CELL_KINDS), default="memristor",
                     show_default=True),
        click.option("--memristor", "memristor_name", default=specs.DEFAULT_MEMRISTOR,
                     show_default=True, help="Memristor model in device_models/memristor/."),
        click.option("--memristor-state", type=click.Choice(specs.CELL_STATES), default="frozen",
                     show_default=True,
                     help="frozen: each cell's read I-V at its programmed state (reads); "
                          "dynamic: the full model, whose state moves (switching drives)."),
        click.option("--access/--no-access", default=specs.DEFAULT_ACCESS, show_default=True,
                     help="1T1R cells."),
        click.option("--r-wire", type=_within(ranges.R_WIRE),
                     default=wire.r_row_ohm, show_default=True,
                     help="Row and column wire resistance per cell (ohm)."),
        click.option("--c-wire", type=_within(ranges.C_WIRE),
                     default=wire.c_row_f, show_default=True,
                     help="Row and column wire capacitance per cell (F)."),
        click.option("--r-driver", type=_within(ranges.R_DRIVER),
                     default=driver.r_out_ohm, show_default=True,
                     help="DAC output resistance (ohm)."),
        click.option("--v-read", type=_within(ranges.V_READ),
                     default=driver.v_full_v, show_default=True,
                     help="Full-scale input voltage (V)."),
        click.option("--rise", type=_within(ranges.RISE),
                     default=driver.rise_s, show_default=True,
                     help="Input rise time (s)."),
        click.option("--dac-bits", type=_BITS, default=driver.dac_bits, show_default=True),
        click.option("--encoding", type=click.Choice(encodings), default=driver.encoding,
                     show_default=True,
                     help="How an input sets its row's drive: the DAC's amplitude, or (netlists "
                          "and the solver only) the length of a full-scale pulse."
                     if len(encodings) > 1 else "Amplitude: the only encoding simulate "
                     "measures (pulse-width netlists: spicecim generate)."),
        click.option("--front-end", type=click.Choice(devices.FRONT_ENDS),
                     default=readout.front_end, show_default=True,
                     help="Column readout: TIA (virtual ground), charge integrator, or a passive "
                          "sense resistor; each ends in a sample-and-hold."),
        click.option("--r-f", type=_within(ranges.R_F),
                     help="TIA feedback resistance (ohm) [default: sized so the tile's worst-case "
                          "column current reaches the amplifier's swing]."),
        click.option("--c-int", type=_within(ranges.C_INT),
                     default=readout.c_int_f, show_default=True,
                     help="Integrator capacitance (F)."),
        click.option("--t-int", type=_within(ranges.T_INT),
                     help="Integration window (s) [default: sized like --r-f]."),
        click.option("--r-sense", type=_within(ranges.R_SENSE),
                     help="Passive sense resistance (ohm) [default: sized for a full scale of "
                          "10 % of --v-read]."),
        click.option("--c-sample", type=_within(ranges.C_SAMPLE),
                     help="Sampling capacitance (F) [default: 4x the kT/C bound at the ADC's bits "
                          "and full scale]."),
        click.option("--gbw", type=_within(ranges.GBW),
                     help="Readout amplifier gain-bandwidth product (Hz) [default: the highest "
                          "its output stage allows at 60 degrees of phase margin in its load]."),
        click.option("--adc-bits", type=_BITS, default=readout.adc.bits, show_default=True),
        click.option("--tile-weights", "weights_file",
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="The tile's signed weights .npy, (rows, cols/2) differential or "
                          "(rows, cols-1) reference [default: uniform in [-1, 1] from --seed]."),
        click.option("--weight-scheme", type=click.Choice(specs.WEIGHT_SCHEMES),
                     default="differential", show_default=True),
        click.option("--weight-bits", type=_BITS, default=specs.DEFAULT_WEIGHT_BITS,
                     show_default=True, help="Conductance levels per device = 2^bits."),
        click.option("--g-min", type=_POSITIVE,
                     help=f"Lowest programmed conductance (S) [default: {specs.DEFAULT_G_MIN_S} "
                          "within the device's range]."),
        click.option("--g-max", type=_POSITIVE,
                     help=f"Highest programmed conductance (S) [default: {specs.DEFAULT_G_MAX_S} "
                          "within the device's range]."),
        click.option("--tile-inputs", "inputs_file",
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="The tile's input vector .npy, (rows,) with values in [0, 1] "
                          "[default: uniform from --seed]."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Seed of random weights/inputs."),
    ]


def tile_options(func: Callable[..., Any] | None = None, *,
                 encodings: tuple[str, ...] = specs.ENCODINGS) -> Any:
    """Decorate a command with every tile option (they arrive as keyword arguments);
    ``encodings``: the input encodings the command offers (``@tile_options(encodings=...)``),
    only those it can carry out."""
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(_opts(encodings)):
            func = option(func)
        return func

    return decorate if func is None else decorate(func)


TILE_OPTION_NAMES = (
    "rows", "cols", "cell", "memristor_name", "memristor_state", "access", "r_wire", "c_wire",
    "r_driver", "v_read", "rise", "dac_bits", "encoding", "front_end", "r_f", "c_int", "t_int",
    "r_sense", "c_sample", "gbw", "adc_bits", "weights_file", "weight_scheme", "weight_bits",
    "g_min", "g_max", "inputs_file", "seed",
)


def pop_tile_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {name: kwargs.pop(name) for name in TILE_OPTION_NAMES}


def build_tile(opts: dict[str, Any]) -> specs.Tile:
    """A tile from the option values: validated spec, mapped weights, quantised inputs."""
    o = opts
    spec = build_spec(o)
    mapping = weight_mapping(o, spec.cell.memristor)
    outputs = mapping.outputs_for(o["cols"])
    w = (None if o["weights_file"] is None
         else load_npy(o["weights_file"], "weights", (o["rows"], outputs)))
    x = None if o["inputs_file"] is None else load_npy(o["inputs_file"], "inputs", (o["rows"],))
    return make_tile(spec, mapping, w, x, seed=o["seed"])


def build_spec(opts: dict[str, Any]) -> specs.CrossbarSpec:
    """The tile specification the option values describe (if its tile fits in memory)."""
    o = opts
    limits.check_tile(o["rows"], o["cols"])
    base = specs.default_spec(o["rows"], o["cols"], cell=o["cell"], memristor=o["memristor_name"],
                              access=o["access"], state=o["memristor_state"])
    mem = base.cell.memristor
    if abs(o["v_read"] - mem.v_read_v) > 1e-15:
        mem = dataclasses.replace(mem, v_read_v=o["v_read"])
    return specs.CrossbarSpec(
        rows=o["rows"],
        cols=o["cols"],
        cell=dataclasses.replace(base.cell, memristor=mem),
        wire=specs.WireParams(o["r_wire"], o["c_wire"], o["r_wire"], o["c_wire"]),
        driver=dataclasses.replace(base.driver, v_full_v=o["v_read"], r_out_ohm=o["r_driver"],
                                   rise_s=o["rise"], dac_bits=o["dac_bits"],
                                   encoding=o["encoding"]),
        readout=readout_of(o, base.readout),
    )


def readout_of(opts: dict[str, Any], base: devices.Readout) -> devices.Readout:
    """The readout the options describe, on top of the default ``base``."""
    o = opts
    return dataclasses.replace(
        base, front_end=o["front_end"], r_f_ohm=o["r_f"], c_int_f=o["c_int"], t_int_s=o["t_int"],
        r_sense_ohm=o["r_sense"], opamp=dataclasses.replace(base.opamp, gbw_hz=o["gbw"]),
        sample_hold=dataclasses.replace(base.sample_hold, c_s_f=o["c_sample"]),
        adc=dataclasses.replace(base.adc, bits=o["adc_bits"]))


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
    Nothing is created here: the one message of every command that writes."""
    if inside is None and path.is_dir():
        raise SpecError(f"{option} {str(path)!r} is a directory: expected a file path")
    if inside is not None and path.exists() and not path.is_dir():
        raise SpecError(f"{option} {str(path)!r} is a file: expected a folder")
    for target in [path] if inside is None else [path / name for name in inside]:
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
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SpecError(f"{option} {str(path)!r}: folder {str(folder)!r} is not writable: "
                        "expected a folder this user can write")
