"""Results that came out NaN are failures, never figures: a command checks its figures before
it prints or writes any, and a NaN (or an error of minus infinity dB) ends it with one line
naming each, and exit code 1 (a failed result, as ``simulate``'s failed columns)."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping

import click

FAILED_EXIT = 1


def refuse_failed(figures: Mapping[str, float], what: str) -> None:
    """Stop with one line if any of ``figures`` (name -> value) is NaN or minus infinity."""
    bad = [name for name, value in figures.items() if math.isnan(value) or value == -math.inf]
    if bad:
        click.echo(f"Error: {what} failed: {', '.join(bad)} came out NaN (not a number): "
                   "nothing printed or written; expected finite inputs and settings", err=True)
        sys.exit(FAILED_EXIT)
