"""The evaluation report: ``spicecim.evaluate.run(model, runs, ...)``
(:func:`spicecim.report.evaluation.run`) is the one call: a
:class:`~spicecim.report.report.Report` of latency, energy, accuracy and digital baselines, which
``spicecim evaluate`` prints. :class:`Settings` says what else to do. The public API names this
package ``spicecim.evaluate``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run", "Settings", "Report"]


def __getattr__(name: str) -> Any:
    if name in ("run", "Settings"):
        from spicecim.report import evaluation

        return getattr(evaluation, name)
    if name == "Report":
        from spicecim.report.report import Report

        return Report
    raise AttributeError(f"module 'spicecim.report' has no attribute {name!r}")
