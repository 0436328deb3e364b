"""Published RRAM compute-in-memory macros: descriptions, and their reproduction in the tool.

A macro is described in a TOML file (one shipped per macro under this package, read through
:mod:`importlib.resources`; a user's own file works the same). Every physical field is a table
``{value, source, status}``: ``status`` is ``primary`` (read in the paper or its abstract),
``secondary`` (someone else's reading of the paper, named in ``source``) or ``assumed`` (not
found in a stored source; ``source`` says why the value was taken). Field names carry their SI
unit. No value is chosen to make the reproduction land on the measured figure:
:func:`spicecim.macros.reproduce.reproduce` turns the description into a tile with the
repository's circuit and compares what it predicts with the ``measured_*`` fields.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

from spicecim.devices.readout import FRONT_ENDS
from spicecim.errors import InputFileError, SpecError, check

STATUSES = ("primary", "secondary", "assumed")


@dataclass(frozen=True, slots=True)
class Cited:
    """One value of a macro description and where it comes from (see the module docstring)."""

    value: float | str
    source: str
    status: str

    def __post_init__(self) -> None:
        check(self.status in STATUSES, "status", self.status, f"one of {STATUSES}")
        check(bool(self.source.strip()), "source", self.source, "a citation or a reason")

    @property
    def number(self) -> float:
        """The value as a number (the description checks which fields are numbers)."""
        assert not isinstance(self.value, str)
        return float(self.value)


@dataclass(frozen=True, slots=True)
class MacroDescription:
    """A published macro as the tool can rebuild it.

    Geometry: ``rows_per_read`` word lines are driven at once and ``cols_per_read`` bit lines
    converted per read; ``columns_per_weight`` columns (bit slices, differential pairs) make
    one weight. Inputs take ``input_cycles`` reads (bit-serial inputs: one read per slice), the
    rows driven at ``v_read_v`` from the rail ``v_rail_v``. Each column is converted by an ADC
    of ``adc_bits`` shared by ``columns_per_adc`` columns. ``readout`` names the macro's own
    readout circuit; ``unmodelled`` says which part of it the tool's front end does not
    reproduce (printed where the prediction misses)."""

    name: str
    title: str
    reference: str
    node_m: Cited
    rows: Cited
    cols: Cited
    rows_per_read: Cited
    cols_per_read: Cited
    g_min_s: Cited
    g_max_s: Cited
    v_read_v: Cited
    v_rail_v: Cited
    input_bits: Cited
    input_cycles: Cited
    weight_bits: Cited
    columns_per_weight: Cited
    front_end: Cited
    readout: Cited
    adc_bits: Cited
    adc_t_conv_s: Cited
    adc_e_conv_j: Cited
    columns_per_adc: Cited
    measured_access_time_s: Cited
    measured_tops_per_w: Cited
    measured_precision: Cited
    unmodelled: str

    def __post_init__(self) -> None:
        for name in _INTEGERS:
            v = getattr(self, name).value
            check(isinstance(v, int) and v >= 1, name, v, "an integer >= 1")
        for name in _POSITIVE:
            v = getattr(self, name).value
            check(isinstance(v, int | float) and math.isfinite(v) and v > 0, name, v,
                  "a finite number > 0")
        n = {name: getattr(self, name).number for name in _INTEGERS + _POSITIVE}
        check(n["g_min_s"] < n["g_max_s"], "g_min_s", n["g_min_s"],
              f"below g_max_s ({n['g_max_s']})")
        check(n["rows_per_read"] <= n["rows"], "rows_per_read", n["rows_per_read"],
              f"at most rows ({n['rows']:g})")
        check(n["cols_per_read"] <= n["cols"], "cols_per_read", n["cols_per_read"],
              f"at most cols ({n['cols']:g})")
        check(n["cols_per_read"] % n["columns_per_weight"] == 0, "cols_per_read",
              n["cols_per_read"], "a multiple of columns_per_weight")
        check(n["input_cycles"] <= n["input_bits"], "input_cycles", n["input_cycles"],
              f"at most input_bits ({n['input_bits']:g})")
        check(self.front_end.value in FRONT_ENDS, "front_end", self.front_end.value,
              f"one of {FRONT_ENDS}")

    @property
    def outputs_per_read(self) -> int:
        """Weights (dot products) one read computes."""
        return int(self.cols_per_read.number) // int(self.columns_per_weight.number)

    @property
    def input_bits_per_cycle(self) -> int:
        """The DAC's bits per read: the input's bits over its reads."""
        return math.ceil(self.input_bits.number / self.input_cycles.number)

    def cited(self) -> dict[str, Cited]:
        """Every cited field by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if isinstance(getattr(self, f.name), Cited)}

    @property
    def assumed(self) -> list[str]:
        """The fields no stored source gave."""
        return [name for name, c in self.cited().items() if c.status == "assumed"]


_INTEGERS = ("rows", "cols", "rows_per_read", "cols_per_read", "input_bits", "input_cycles",
             "weight_bits", "columns_per_weight", "adc_bits", "columns_per_adc")
_POSITIVE = ("node_m", "g_min_s", "g_max_s", "v_read_v", "v_rail_v", "adc_t_conv_s",
             "adc_e_conv_j", "measured_access_time_s", "measured_tops_per_w")


def shipped() -> list[str]:
    """The names of the macros shipped with spicecim."""
    return sorted(p.name.removesuffix(".toml") for p in resources.files(__name__).iterdir()
                  if p.name.endswith(".toml"))


def load(name_or_path: str | Path) -> MacroDescription:
    """A shipped macro by name, or a description file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputFileError(f"{path}: {exc.strerror or exc}") from exc
        return parse(text, str(path))
    names = shipped()
    if str(name_or_path) not in names:
        raise SpecError(f"macro {str(name_or_path)!r} is neither a file nor a shipped macro "
                        f"(one of {names})")
    text = resources.files(__name__).joinpath(f"{name_or_path}.toml").read_text("utf-8")
    return parse(text, str(name_or_path))


def parse(text: str, origin: str) -> MacroDescription:
    """The description a TOML text holds (``origin`` names it in errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(f"{origin}: not TOML ({exc})") from exc
    expected = {f.name for f in fields(MacroDescription)}
    unknown, missing = sorted(set(data) - expected), sorted(expected - set(data))
    if unknown or missing:
        raise InputFileError(f"{origin}: unknown fields {unknown}, missing fields {missing}")
    values: dict[str, object] = {}
    for name, raw in data.items():
        if isinstance(raw, dict):
            keys = sorted(raw)
            if keys != ["source", "status", "value"]:
                raise InputFileError(f"{origin}: field {name} has {keys}, expected "
                                     "value, source and status")
            values[name] = Cited(raw["value"], raw["source"], raw["status"])
        else:
            values[name] = raw
    try:
        return MacroDescription(**values)  # type: ignore[arg-type]
    except SpecError as exc:
        raise InputFileError(f"{origin}: {exc}") from exc
