"""The full array's line solver (cyclic reduction) against LAPACK's tridiagonal solve."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from spicecim.sim.batched import lines


@pytest.mark.parametrize(("nodes", "axis"), [(1, 0), (2, 1), (7, 0), (8, 1), (257, 0), (256, 1)])
def test_cyclic_reduction_solves_as_lapack_does(nodes: int, axis: int) -> None:
    """Lines of a row wire's kind (the off-diagonal -g on every link, the diagonal the links
    and a small conductance to ground, one end held harder), every length parity, along
    either axis: the same solution as ``gtsv`` to rounding, and a reused factorisation
    solves a second right-hand side."""
    rng = np.random.default_rng(nodes)
    count = 5
    g = rng.uniform(0.5, 2.0, count)  # (lines,)
    links = np.full((count, nodes), 2.0) * g[:, None]
    links[:, -1] -= g  # the far end has one link
    diag = links + rng.uniform(1e-6, 1e-4, (count, nodes))
    diag[:, 0] += 0.3
    with jax.enable_x64(True):
        lower = np.where(np.arange(nodes) == 0, 0.0, -g[:, None])
        upper = np.where(np.arange(nodes) == nodes - 1, 0.0, -g[:, None])
        moved = (lambda v: v.T) if axis == 0 else (lambda v: v)
        off = (-g)[None, :] if axis == 0 else (-g)[:, None]
        fac = lines.factor(moved(diag), off, axis)
        for _ in range(2):
            rhs = rng.normal(size=(count, nodes))
            ref = np.asarray(jax.lax.linalg.tridiagonal_solve(
                lower, diag, upper, rhs[..., None])[..., 0])
            got = moved(np.asarray(lines.solve(fac, moved(rhs), axis)))
            assert np.max(np.abs(got - ref)) <= 1e-9 * np.max(np.abs(ref))
