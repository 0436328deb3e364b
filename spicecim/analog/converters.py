"""The converters at a column's end, in JAX, behind one interface: a column current in, the
current its output code stands for out, given the converter's full scale.

:class:`Adc`: ``2^bits`` uniform codes, ``lsb = full / 2^bits``, rounded and clipped to
``[0, (2^bits - 1) lsb]`` (the readout's output is proportional to the current).
:class:`Acam`: an ACAM converter's code edges (:mod:`spicecim.acam.converter`, fractions of its
input range) mapped linearly onto ``[0, full]``; a current reads as the centre of its interval
(the ends: 0 and the full scale). Both pass their gradient straight through (the
straight-through estimator), so fine-tuning trains through the same converter the accuracy
pass reads with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

import jax
import jax.numpy as jnp

from spicecim.errors import check

_C = TypeVar("_C")


def round_ste(x: jax.Array) -> jax.Array:
    """``round(x)`` whose gradient is 1 (the straight-through estimator)."""
    return x + jax.lax.stop_gradient(jnp.round(x) - x)


class Converter(Protocol):
    """A column converter: ``bits`` of output code, and the current each code stands for."""

    @property
    def bits(self) -> int: ...

    def convert(self, current_a: jax.Array, full_a: jax.Array) -> jax.Array:
        """The current (A) the converted code of ``current_a`` stands for, at full scale
        ``full_a`` (A, broadcast against the last axis: one per column)."""
        ...


@dataclass(frozen=True, slots=True)
class Adc:
    """A uniform ADC of ``bits`` bits."""

    bits: int

    def __post_init__(self) -> None:
        check(isinstance(self.bits, int) and 1 <= self.bits <= 16, "adc_bits", self.bits,
              "an integer from 1 to 16")

    def convert(self, current_a: jax.Array, full_a: jax.Array) -> jax.Array:
        codes = 2.0 ** self.bits  # bits may be traced (a pytree leaf)
        lsb = full_a / codes
        return jnp.clip(round_ste(current_a / lsb), 0, codes - 1) * lsb


@dataclass(frozen=True, slots=True)
class Acam:
    """An ACAM converter of ``2^bits`` codes with ``edges`` (``2^bits - 1`` fractions of the
    full scale, rising)."""

    edges: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.edges)
        check(n >= 1 and (n + 1) & n == 0, "acam_edges", f"{n} edges", "2^bits - 1 edges")
        check(all(a <= b for a, b in zip(self.edges, self.edges[1:], strict=False)),
              "acam_edges", self.edges, "rising fractions of the full scale")

    @property
    def bits(self) -> int:
        return (len(self.edges) + 1).bit_length() - 1

    def convert(self, current_a: jax.Array, full_a: jax.Array) -> jax.Array:
        edges = jnp.asarray(self.edges)
        centres = 0.5 * (jnp.concatenate([jnp.zeros(1), edges])
                         + jnp.concatenate([edges, jnp.ones(1)]))
        fraction = jax.lax.stop_gradient(current_a / full_a)
        code = jnp.searchsorted(edges, fraction, side="right")
        read = centres[code] * full_a
        return current_a + jax.lax.stop_gradient(read - current_a)


def _unflatten(cls: type[_C], names: tuple[str, ...], values: tuple) -> _C:
    """A converter of traced values: built without ``__post_init__``'s checks on numbers."""
    obj = object.__new__(cls)
    for name, value in zip(names, values, strict=True):
        object.__setattr__(obj, name, value)
    return obj


# Converters pass into compiled functions as pytrees, their numbers traced: a sweep of the
# ADC's bits compiles the forward once.
jax.tree_util.register_pytree_node(
    Adc, lambda a: ((a.bits,), ("bits",)), lambda names, v: _unflatten(Adc, names, v))
jax.tree_util.register_pytree_node(
    Acam, lambda a: ((jnp.asarray(a.edges),), ("edges",)),
    lambda names, v: _unflatten(Acam, names, v))


def converter(adc_bits: int | None, acam_edges: tuple[float, ...] | None) -> Converter | None:
    """The converter of a column: an ACAM where its edges are given, else an ADC of
    ``adc_bits`` (None: no conversion, the current read as it is)."""
    if adc_bits is None:
        return None
    return Acam(acam_edges) if acam_edges is not None else Adc(adc_bits)
