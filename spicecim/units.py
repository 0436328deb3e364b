"""Display scaling of SI values: stored values stay in base units, text and axes get a prefix;
and what a specification field says of itself (:class:`Param`: unit, help, source, range)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

_PREFIXES = ((1e-18, "a"), (1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"),
             (1.0, ""), (1e3, "k"), (1e6, "M"), (1e9, "G"))


def display_unit(magnitude: float, unit: str, *, micro: str = "u",
                 smallest: float = 1e-18) -> tuple[float, str]:
    """``(scale, label)`` that show values of about ``magnitude`` as ``value / scale`` in
    ``label`` (``1.5e-10, "s"`` -> ``1e-12, "ps"``): between 1 and 1000 where a prefix allows.
    ``micro`` is the micro prefix ("u" in plain text, "µ" on figures); no prefix below
    ``smallest`` is used."""
    prefixes = [(s, p) for s, p in _PREFIXES if s >= smallest]
    scale, prefix = prefixes[0]
    for s, p in prefixes:
        if abs(magnitude) >= s:
            scale, prefix = s, p
    return scale, f"{micro if prefix == 'u' else prefix}{unit}"


def format_si(value: float, unit: str, *, micro: str = "u", smallest: float = 1e-18,
              digits: int = 4) -> str:
    """``1.23 ns``-style text for a value in SI base units, ``digits`` significant; 'missing'
    for NaN."""
    if not math.isfinite(value):
        return "missing" if math.isnan(value) else "inf"
    scale, label = display_unit(value, unit, micro=micro, smallest=smallest)
    return f"{value / scale:.{digits}g} {label}"


@dataclass(frozen=True, slots=True)
class Param:
    """What a specification field says of itself, in its metadata (:func:`param`): the
    command-line option that sets it, what it is, its unit, where its default comes from, the
    values a user may give it and, for a field left ``None`` by default, how it is then sized.
    The command line's tile options, their help and their range checks are generated from
    these (spicecim.cli.options); a field that several share (a row and a column wire) names
    the same option.

    ``accepted``: the lowest and the highest value, both included (``None``: unbounded);
    wide on purpose, each bound decades beyond any circuit of the kind modelled, so it refuses
    only what is absurd (the comment beside each says why). ``dest``: the keyword the command
    receives where it is not the option's own name."""

    option: str
    help: str
    unit: str = ""
    source: str = ""
    accepted: tuple[float | None, float | None] | None = None
    choices: tuple[str, ...] = ()
    sized: str = ""
    dest: str = ""

    def text(self) -> str:
        """The option's help: what it is, its unit, how it is sized by default, its source."""
        unit = f" ({self.unit})" if self.unit else ""
        sized = f" [default: {self.sized}]" if self.sized else ""
        source = f" Source: {self.source}." if self.source else ""
        return f"{self.help}{unit}{sized}.{source}"


PARAM = "param"
"""The metadata key of a field's :class:`Param`."""


def param(option: str, help: str, **kwargs: Any) -> dict[str, Param]:  # noqa: A002
    """A field's metadata: ``field(metadata=param("--r-wire", "Wire resistance", unit="ohm"))``."""
    return {PARAM: Param(option, help, **kwargs)}
