"""The NeRF render calibrates on other views than the one it scores."""

from __future__ import annotations

import numpy as np

from spicecim.nerf.pipeline import Frame, calibration_samples, inside_samples, view


def test_calibration_samples_come_from_other_views() -> None:
    frame = Frame(16, 16, 16)
    rays, near, far = view(frame, 1.0)
    scored, scored_dirs = inside_samples(rays, frame, near, far, 1.0)
    points, dirs = calibration_samples(frame, 1.0, 500, seed=0)
    assert len(points) == 500 and np.all(np.abs(points) <= 1.0)
    # no calibration sample shares its view direction with a ray of the scored frame
    cosine = (dirs / np.linalg.norm(dirs, axis=1, keepdims=True)) @ np.unique(
        scored_dirs / np.linalg.norm(scored_dirs, axis=1, keepdims=True), axis=0).T
    assert cosine.max() < 0.99
    again = calibration_samples(frame, 1.0, 500, seed=0)
    assert np.array_equal(points, again[0])  # seeded: the same rows every run
