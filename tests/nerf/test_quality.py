"""PSNR and SSIM as the NeRF literature reports them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spicecim.errors import SpecError
from spicecim.nerf.quality import quality, ssim


def test_identical_images_are_perfect_and_noise_lowers_both() -> None:
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (32, 40, 3))
    same = quality(image, image)
    assert math.isinf(same.psnr_db) and same.ssim == pytest.approx(1.0)
    noisy = np.clip(image + rng.normal(0, 0.01, image.shape), 0, 1)
    noisier = np.clip(image + rng.normal(0, 0.05, image.shape), 0, 1)
    a, b = quality(noisy, image), quality(noisier, image)
    assert a.psnr_db == pytest.approx(40.0, abs=0.5)  # sigma 0.01: MSE 1e-4 (a little clipped)
    assert a.psnr_db > b.psnr_db and 1 > a.ssim > b.ssim > 0


def test_shapes_must_match() -> None:
    with pytest.raises(SpecError, match="image.shape"):
        ssim(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))
