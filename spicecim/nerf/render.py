"""Pinhole cameras and NeRF volume rendering (Mildenhall et al. 2020, arXiv 2003.08934).

Any radiance field ``field_fn(points (N, 3), dirs (N, 3)) -> (sigma (N,), rgb (N, 3))``
renders here, so the analytic scene and a fitted MLP (float or on a crossbar
model) go through the same quadrature and can be compared pixel for pixel.
Lengths are in metres, densities in 1/m, focal lengths in pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from spicecim.errors import check, raise_if_stopped

FieldFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
Rays = tuple[np.ndarray, np.ndarray]
Background = Literal["white", "black"]
_BACKGROUND = {"white": 1.0, "black": 0.0}


def camera_rays(height: int, width: int, focal: float, camera_to_world: np.ndarray) -> Rays:
    """Rays through the pixel centres of a pinhole camera, each (H, W, 3).

    The camera frame follows the reference NeRF code (x right, y up, looking
    down -z); directions are unit length so sample depths are distances in m.
    """
    check(isinstance(height, int) and height > 0, "height", height, "an int > 0")
    check(isinstance(width, int) and width > 0, "width", width, "an int > 0")
    check(bool(np.isfinite(focal) and focal > 0), "focal", focal, "a finite float > 0 (pixels)")
    pose = np.asarray(camera_to_world, dtype=np.float64)
    check(pose.shape in ((3, 4), (4, 4)), "camera_to_world.shape", pose.shape, "(3, 4) or (4, 4)")
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    local = np.stack([(u - 0.5 * width) / focal, -(v - 0.5 * height) / focal, -np.ones_like(u)], -1)
    dirs = local @ pose[:3, :3].T
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    origins = np.broadcast_to(pose[:3, 3], dirs.shape).copy()
    return origins, dirs


def look_at(eye: np.ndarray, target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """4x4 camera-to-world matrix of a camera at ``eye`` looking at ``target``."""
    eye = np.asarray(eye, dtype=np.float64)
    back = eye - np.asarray(target, dtype=np.float64)
    check(np.linalg.norm(back) > 1e-9, "eye", tuple(eye), "a point distinct from target")
    back /= np.linalg.norm(back)
    right = np.cross(np.asarray(up, dtype=np.float64), back)
    check(np.linalg.norm(right) > 1e-9, "up", up, "a vector not parallel to the view axis")
    right /= np.linalg.norm(right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, np.cross(back, right), back, eye
    return pose


def orbit_pose(radius: float, azimuth: float, elevation: float) -> np.ndarray:
    """Camera-to-world matrix on a sphere of ``radius`` m around the origin, z up.

    Angles are in radians; elevation is measured from the xy plane.
    """
    check(bool(np.isfinite(radius) and radius > 0), "radius", radius, "a finite float > 0 (m)")
    check(abs(elevation) < np.pi / 2, "elevation", elevation, "a float in (-pi/2, pi/2) rad")
    eye = radius * np.array(
        [
            np.cos(elevation) * np.cos(azimuth),
            np.cos(elevation) * np.sin(azimuth),
            np.sin(elevation),
        ]
    )
    return look_at(eye)


DEFAULT_AZIMUTH = -0.9
"""The rendered view's orbit azimuth (rad); calibration views are turned from it."""


def default_view(
    height: int,
    width: int,
    *,
    radius: float = 3.0,
    azimuth: float = DEFAULT_AZIMUTH,
    elevation: float = 0.45,
    fov: float = 0.75,
    bound: float = 1.0,
) -> tuple[Rays, float, float]:
    """Rays, near and far (m) for an orbit camera framing the cube [-bound, bound]^3.

    ``fov`` is the horizontal field of view in radians.  Near and far enclose
    the cube's circumscribed sphere so no sample range misses the scene.
    """
    check(bool(0 < fov < np.pi), "fov", fov, "a float in (0, pi) rad")
    reach = np.sqrt(3.0) * bound
    check(radius > reach, "radius", radius, f"a distance > sqrt(3) * bound = {reach:.3g} m")
    focal = 0.5 * width / np.tan(0.5 * fov)
    rays = camera_rays(height, width, focal, orbit_pose(radius, azimuth, elevation))
    return rays, radius - reach, radius + reach


def sample_depths(
    n_rays: int, n_samples: int, near: float, far: float, rng: np.random.Generator | None
) -> np.ndarray:
    """Sample distances (n_rays, n_samples) in m along each ray.

    Stratified sampling (Mildenhall et al. 2020, eq. 2): one uniform sample per
    equal bin of [near, far]; with ``rng=None`` the bin midpoints, so a render
    is deterministic and comparable across fields.
    """
    check(isinstance(n_samples, int) and n_samples > 0, "n_samples", n_samples, "an int > 0")
    check(bool(0 <= near < far), "near/far", (near, far), "0 <= near < far (m)")
    offset = 0.5 if rng is None else rng.uniform(size=(n_rays, n_samples))
    bins = np.arange(n_samples) + offset
    return near + (far - near) / n_samples * np.broadcast_to(bins, (n_rays, n_samples))


def sample_spacing(t: np.ndarray, far: float) -> np.ndarray:
    """delta_i = t_{i+1} - t_i of eq. 3, the last sample reaching to ``far``.

    The reference code uses 1e10 for the last interval, which paints the last
    sample over the background; ending at ``far`` keeps the background visible.
    """
    return np.diff(t, axis=-1, append=np.full(t.shape[:-1] + (1,), far))


def transmittance(sigma: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """T_i = exp(-sum_{j<i} sigma_j delta_j) (Mildenhall et al. 2020, eq. 3), per ray."""
    depth = np.cumsum(sigma * deltas, axis=-1)
    return np.exp(-np.concatenate([np.zeros_like(depth[..., :1]), depth[..., :-1]], axis=-1))


def composite(
    sigma: np.ndarray, rgb: np.ndarray, deltas: np.ndarray, background: Background = "white"
) -> np.ndarray:
    """Pixel colours (R, 3) from samples sigma (R, S), rgb (R, S, 3), deltas (R, S).

    C = sum_i T_i alpha_i c_i + T_S c_bg with alpha_i = 1 - exp(-sigma_i delta_i)
    (Mildenhall et al. 2020, eq. 3); the light left after the last sample
    shows the background.
    """
    check(background in _BACKGROUND, "background", background, f"one of {sorted(_BACKGROUND)}")
    trans = transmittance(sigma, deltas)
    alpha = -np.expm1(-sigma * deltas)
    weights = trans * alpha
    left = trans[..., -1] * (1.0 - alpha[..., -1])
    return (weights[..., None] * rgb).sum(axis=-2) + _BACKGROUND[background] * left[..., None]


def render(
    field_fn: FieldFn,
    rays: Rays,
    n_samples: int,
    near: float,
    far: float,
    rng: np.random.Generator | None = None,
    *,
    background: Background = "white",
    max_points: int = 1 << 16,
) -> np.ndarray:
    """Volume-render ``field_fn`` along ``rays`` (origins, dirs of shape (..., 3)).

    Returns an image of the rays' leading shape plus 3, e.g. (H, W, 3), float64.
    Rays go through the field in chunks of at most ``max_points`` samples so
    an MLP's activations stay bounded whatever the image size.
    """
    origins, dirs = (np.asarray(a, dtype=np.float64) for a in rays)
    shapes = (origins.shape, dirs.shape)
    ok = origins.shape == dirs.shape and origins.shape[-1:] == (3,)
    check(ok, "rays shapes", shapes, "origins and dirs both (..., 3)")
    check(isinstance(n_samples, int) and n_samples > 0, "n_samples", n_samples, "an int > 0")
    ok = isinstance(max_points, int) and max_points >= n_samples
    check(ok, "max_points", max_points, f"an int >= n_samples = {n_samples}")
    flat_o, flat_d = origins.reshape(-1, 3), dirs.reshape(-1, 3)
    chunk = max_points // n_samples
    out = np.empty_like(flat_o)
    for start in range(0, len(flat_o), chunk):
        raise_if_stopped()
        o, d = flat_o[start : start + chunk], flat_d[start : start + chunk]
        t = sample_depths(len(o), n_samples, near, far, rng)
        points = o[:, None, :] + t[..., None] * d[:, None, :]
        view = np.broadcast_to(d[:, None, :], points.shape)
        sigma, rgb = field_fn(points.reshape(-1, 3), view.reshape(-1, 3))
        sigma = np.asarray(sigma, dtype=np.float64).reshape(t.shape)
        rgb = np.asarray(rgb, dtype=np.float64).reshape(t.shape + (3,))
        out[start : start + chunk] = composite(sigma, rgb, sample_spacing(t, far), background)
    return out.reshape(origins.shape)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1] (peak 1.0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    check(a.shape == b.shape, "image shapes", (a.shape, b.shape), "equal shapes")
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0.0 else float(-10.0 * np.log10(mse))
