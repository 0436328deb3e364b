"""Monte Carlo over programming variation: replicas of a tile and the spread of its schedules.

Replica ``k`` (1..N) is the tile programmed again: every cell's conductance ``G`` becomes
``clip(G + sigma_G(G) z, g_off, g_on)``, ``z`` standard normal, ``sigma_G`` from
:func:`spicecim.netlist.weights.programming_sigma_s` (its default model, Wan et al. 2022 as
fitted in aihwkit, in the range of the tile's weight mapping: the formula the accuracy pass and
the co-simulation use too); the inputs stay, and so does the readout (its sizing pinned to the
nominal tile's: the circuit is designed once). Its draws come from child ``k`` of
``numpy.random.SeedSequence(seed)``, so replica ``k`` is the same whatever ``N`` is, and
independent of the weights and inputs ``default_rng(seed)`` drew.

The run driver (:func:`spicecim.sim.driver.simulate`) simulates the replicas beside the nominal
tile, in one job: tiles ``tile0_mcKKKK``, and layers ``layer0_pPP`` for each ``PP`` of
:data:`PERCENTILES`, the schedules with every figure (latency, sampling and rows-on times, each
energy part) replaced by its ``PP``-th percentile over the replicas (numpy's linear
interpolation); a layer's total energy is the sum of its parts' percentiles. Each figure has
its own percentile: the p95 latency and the p95 energy may come from different replicas. A
replica with a column that is not ``ok`` has missing (NaN) figures, and so do the percentiles:
they are never taken over the replicas that happened to succeed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from spicecim.errors import check
from spicecim.measure import ENERGY_PARTS, LayerSchedule
from spicecim.netlist.spec import Tile
from spicecim.netlist.weights import (
    DEFAULT_VARIATION_MODEL,
    VARIATION_SOURCES,
    default_mapping,
    programming_sigma_s,
)

PERCENTILES = (5, 50, 95)
SIGMA_SOURCE = (f"{VARIATION_SOURCES[DEFAULT_VARIATION_MODEL]} "
                "(spicecim.netlist.weights.programming_sigma_s)")
NOMINAL = "tile0"
NOMINAL_LAYER = "layer0"


def replica_tile(k: int) -> str:
    """The run file's name of replica ``k``'s tile."""
    return f"{NOMINAL}_mc{k:04d}"


def spread_layer(percentile: int) -> str:
    """The run file's name of the layer holding one percentile of the replicas' schedules."""
    return f"{NOMINAL_LAYER}_p{percentile:02d}"


def parameters(replicas: int, seed: int) -> dict[str, object]:
    """What a run's ``/config`` records of its Monte Carlo (a rerun must ask the same)."""
    check(isinstance(replicas, int) and replicas >= 1, "mc", replicas, "an integer >= 1")
    check(isinstance(seed, int) and seed >= 0, "seed", seed, "an integer >= 0")
    return {"replicas": replicas, "seed": seed, "sigma_g": SIGMA_SOURCE,
            "percentiles": list(PERCENTILES)}


def replica(tile: Tile, k: int, seed: int) -> Tile:
    """Replica ``k`` (>= 1) of ``tile``: the same tile with programming variation, read by the
    nominal tile's readout."""
    check(k >= 1, "replica", k, "an integer >= 1")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
    mem = tile.spec.cell.memristor
    g_max_s = (tile.mapping or default_mapping(tile.spec)).g_max_s
    sigma = programming_sigma_s(tile.g_s, g_max_s)
    g = np.clip(tile.g_s + sigma * rng.standard_normal(tile.g_s.shape), mem.g_off_s, mem.g_on_s)
    readout = tile.spec.readout.pinned(tile.readout)
    return Tile(dataclasses.replace(tile.spec, readout=readout), g, tile.x_in, tile.mapping)


def replicas(tile: Tile, count: int, seed: int) -> list[tuple[str, Tile]]:
    """Replicas 1..``count`` of ``tile`` by their names in a run file."""
    parameters(count, seed)  # the same checks
    return [(replica_tile(k), replica(tile, k, seed)) for k in range(1, count + 1)]


_SPREAD_FIELDS = ("latency_s", "t_sample_s", "rows_on_s",
                  *(f"energy_{part}_j" for part in ENERGY_PARTS))


def percentile(p: int) -> Callable[[Sequence[Sequence[LayerSchedule]]], list[LayerSchedule]]:
    """The layer combination that takes the ``p``-th percentile of every figure over the
    replicas' schedules (the same schedules in the same order for each)."""
    check(0 <= p <= 100, "percentile", p, "a value in [0, 100]")

    def combine(per_replica: Sequence[Sequence[LayerSchedule]]) -> list[LayerSchedule]:
        out = []
        for i, s in enumerate(per_replica[0]):
            figures = np.array([[getattr(r[i], f) for f in _SPREAD_FIELDS]
                                for r in per_replica])
            spread = dict(zip(_SPREAD_FIELDS, np.percentile(figures, p, axis=0).tolist(),
                              strict=True))
            out.append(dataclasses.replace(s, **spread))
        return out

    return combine
