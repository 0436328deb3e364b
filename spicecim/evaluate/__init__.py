"""A model on simulated tiles: mapping, costs, accuracy, baselines, the NeRF scene.

``spicecim.evaluate.run(model, runs, ...)`` (:func:`spicecim.evaluate.evaluation.run`) is the
one call: a :class:`~spicecim.evaluate.report.Report` of latency, energy, accuracy and digital
baselines, which ``spicecim evaluate`` prints. :class:`Settings` says what else to do.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run", "Settings", "Report"]


def __getattr__(name: str) -> Any:
    if name in ("run", "Settings"):
        from spicecim.evaluate import evaluation

        return getattr(evaluation, name)
    if name == "Report":
        from spicecim.evaluate.report import Report

        return Report
    raise AttributeError(f"module 'spicecim.evaluate' has no attribute {name!r}")
