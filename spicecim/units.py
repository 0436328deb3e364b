"""Display scaling of SI values: stored values stay in base units, text and axes get a prefix."""

from __future__ import annotations

import math

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
