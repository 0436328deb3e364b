"""Many tridiagonal systems ("lines") solved at once by cyclic reduction, in JAX.

The full array's row lines and column lines (:mod:`~spicecim.sim.batched.array`) are a few
hundred tridiagonal systems of a few hundred nodes each, solved several times per Newton
iteration with the same matrix. Cyclic reduction factors every line together in about
``log2(nodes)`` wide steps, and each solve reuses the factors: LAPACK's ``gtsv`` (what
``jax.lax.linalg.tridiagonal_solve`` calls on the CPU) goes line by line and factors anew on
every call, and a Thomas scan along the line pays a dispatch per node. The lines may run along
either axis, so that the row lines and the column lines share one array layout and no array is
transposed between them. The lines are diagonally dominant, where cyclic reduction is as stable
as Gaussian elimination (tests/sim/test_batched_lines.py checks it against ``gtsv``).
"""

from __future__ import annotations

from typing import Any

Factors = tuple[list[tuple[int, Any, Any, Any, Any, Any]], Any]


def _take(v: Any, start: int, axis: int) -> Any:
    import jax

    return jax.lax.slice_in_dim(v, start, None, stride=2, axis=axis)


def _odd(v: Any, fill: float, axis: int) -> Any:
    """``v`` with one more node of value ``fill`` where it has an even number, so that every
    odd node of a reduction level has a neighbour on both sides (an identity equation:
    ``fill`` 1 on the diagonal, 0 elsewhere)."""
    import jax.numpy as jnp

    if v.shape[axis] % 2:
        return v
    shape = list(v.shape)
    shape[axis] = 1
    return jnp.concatenate([v, jnp.full(shape, fill, v.dtype)], axis=axis)


def _shift(v: Any, before: bool, axis: int) -> Any:
    """``v`` with a zero node added before (or after) it along ``axis``."""
    import jax.numpy as jnp

    shape = list(v.shape)
    shape[axis] = 1
    zero = jnp.zeros(shape, v.dtype)
    return jnp.concatenate([zero, v] if before else [v, zero], axis=axis)


def factor(diag: Any, off: Any, axis: int) -> Factors:
    """The reduction of the lines along ``axis`` of ``diag``, each line's (symmetric)
    off-diagonal ``off`` broadcast against ``diag``: what :func:`solve` reuses."""
    import jax
    import jax.numpy as jnp

    node = jax.lax.broadcasted_iota(int, diag.shape, axis)
    # no neighbour before the first node, nor after the last
    a = jnp.where(node == 0, 0.0, off)
    c = jnp.where(node == diag.shape[axis] - 1, 0.0, off)
    b = diag
    levels = []
    while b.shape[axis] > 1:
        size = b.shape[axis]
        a, b, c = _odd(a, 0.0, axis), _odd(b, 1.0, axis), _odd(c, 0.0, axis)
        ae, be, ce = _take(a, 0, axis), _take(b, 0, axis), _take(c, 0, axis)
        first, last = _drop(be, True, axis), _drop(be, False, axis)
        alpha, gamma = -_take(a, 1, axis) / last, -_take(c, 1, axis) / first
        levels.append((size, alpha, gamma, ae, be, ce))
        a = alpha * _drop(ae, False, axis)
        b = _take(b, 1, axis) + alpha * _drop(ce, False, axis) + gamma * _drop(ae, True, axis)
        c = gamma * _drop(ce, True, axis)
    return levels, b


def _drop(v: Any, first: bool, axis: int) -> Any:
    """``v`` without its first (or last) node along ``axis``."""
    import jax

    n = v.shape[axis]
    return jax.lax.slice_in_dim(v, 1 if first else 0, n if first else n - 1, axis=axis)


def solve(fac: Factors, d: Any, axis: int) -> Any:
    """The factored lines (:func:`factor`) solved for the right-hand side ``d``."""
    import jax.numpy as jnp

    levels, b_last = fac
    evens = []
    for _, alpha, gamma, _, _, _ in levels:
        d = _odd(d, 0.0, axis)
        de = _take(d, 0, axis)
        evens.append(de)
        d = _take(d, 1, axis) + alpha * _drop(de, False, axis) + gamma * _drop(de, True, axis)
    x = d / b_last
    for (size, _, _, ae, be, ce), de in zip(reversed(levels), reversed(evens), strict=True):
        xe = (de - ae * _shift(x, True, axis) - ce * _shift(x, False, axis)) / be
        both = jnp.stack([_drop(xe, False, axis), x], axis=axis + 1)
        shape = list(x.shape)
        shape[axis] *= 2
        x = jnp.concatenate([both.reshape(shape), _last(xe, axis)], axis=axis)
        x = _drop(x, False, axis) if x.shape[axis] > size else x
    return x


def _last(v: Any, axis: int) -> Any:
    import jax

    return jax.lax.slice_in_dim(v, v.shape[axis] - 1, None, axis=axis)
