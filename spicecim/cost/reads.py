"""How a co-simulated layer's reads add up: each programmed tile's reads (a sample, an input
phase, a row group) combined into the layer's schedules, per sample and then over the samples
(:mod:`spicecim.cost.cosim`'s module docstring says the rule)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spicecim.measure import ENERGY_PARTS, LayerSchedule


@dataclass(frozen=True, slots=True)
class Read:
    """One read of a programmed tile (``array``, its group name): a sample, an input phase and
    a row group (None: every row at once); ``columns`` converted, ``inputs`` driven by DACs."""

    array: str
    sample: int
    phase: int
    group: int | None
    columns: int
    inputs: int

    @property
    def name(self) -> str:
        rows = "" if self.group is None else f"g{self.group}"
        return f"{self.array}.k{self.sample}p{self.phase}{rows}"



_FIGURES = ("latency_s", "t_sample_s", "rows_on_s",
            *(f"energy_{part}_j" for part in ENERGY_PARTS))
_TIMES = 3
"""The first :data:`_FIGURES` are times (a read's slowest tile counts), the rest energies."""


_STATISTIC: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": lambda a: np.mean(a, axis=0), "max": lambda a: np.max(a, axis=0),
    "p95": lambda a: np.percentile(a, 95, axis=0)}
"""Each statistic over the samples (axis 0) of a layer's figures."""


def combine_reads(reads: Sequence[Read], samples: int, stat: str):  # noqa: ANN202 - a Combine
    """Per sample: each array reads its row groups one after another (times add), the arrays
    of a phase in parallel (the slowest counts), the phases one after the other (times add);
    every read's energy adds. Then ``stat`` over the samples (module docstring)."""
    steps: dict[tuple[int, str], int] = {}
    for r in reads:
        steps[r.sample, r.array] = steps.get((r.sample, r.array), 0) + 1
    sequential = max(steps.values())  # reads one after another on the busiest array

    def combine(per_tile: Sequence[Sequence[LayerSchedule]]) -> list[LayerSchedule]:
        out = []
        for i, template in enumerate(per_tile[0]):
            per_sample = np.zeros((samples, len(_FIGURES)))
            times: dict[tuple[int, int, str], np.ndarray] = {}
            for r, schedules in zip(reads, per_tile, strict=True):
                figures = np.array([getattr(schedules[i], f) for f in _FIGURES])
                key = (r.sample, r.phase, r.array)
                times[key] = times.get(key, 0.0) + figures[:_TIMES]
                per_sample[r.sample, _TIMES:] += figures[_TIMES:]
            slowest: dict[tuple[int, int], np.ndarray] = {}
            for (s, p, _), t in times.items():
                slowest[s, p] = t if (s, p) not in slowest else np.maximum(slowest[s, p], t)
            for (s, _), t in slowest.items():
                per_sample[s, :_TIMES] += t
            figures = _STATISTIC[stat](per_sample)
            conversions = sum(m[i].conversions for m in per_tile) // samples
            rounds = sequential * max(m[i].rounds for m in per_tile)
            # Every name in _FIGURES is a float field of LayerSchedule.
            floats: dict[str, Any] = dict(zip(_FIGURES, map(float, figures), strict=True))
            out.append(dataclasses.replace(template, conversions=conversions, rounds=rounds,
                                           **floats))
        return out

    return combine
