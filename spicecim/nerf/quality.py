"""Image quality as the NeRF literature reports it: PSNR and SSIM (scikit-image).

PSNR with a peak of 1.0 (images in [0, 1]); SSIM with scikit-image's defaults for a colour
image in [0, 1] (``structural_similarity(a, b, channel_axis=-1, data_range=1.0)``: a 7x7
uniform window, K1 = 0.01, K2 = 0.03), as Mildenhall et al. 2020 report next to PSNR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spicecim.errors import check
from spicecim.nerf.render import psnr


@dataclass(frozen=True, slots=True)
class Quality:
    """PSNR (dB) and SSIM of an image against a reference."""

    psnr_db: float
    ssim: float


def ssim(image: np.ndarray, reference: np.ndarray) -> float:
    from skimage.metrics import structural_similarity  # imported when first used

    a = np.clip(np.asarray(image, float), 0.0, 1.0)
    b = np.clip(np.asarray(reference, float), 0.0, 1.0)
    check(a.shape == b.shape and a.ndim == 3, "image.shape", a.shape,
          f"(height, width, channels) as the reference's {b.shape}")
    return float(structural_similarity(a, b, channel_axis=-1, data_range=1.0))


def quality(image: np.ndarray, reference: np.ndarray) -> Quality:
    return Quality(psnr(image, reference), ssim(image, reference))
