"""Procedural 3-D scene with an analytic radiance field, used as NeRF ground truth.

The scene is a few coloured solids whose density is a soft occupancy of each
solid's signed distance, so the field is smooth enough for an MLP to fit and
for volume rendering (Mildenhall et al. 2020, arXiv 2003.08934) to resolve
with a modest number of samples per ray.  Lengths are in metres, densities in
1/m, colours are linear RGB in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spicecim.errors import check

Vec3 = tuple[float, float, float]


def _check_vec3(name: str, value: tuple, low: float, high: float) -> None:
    ok = len(value) == 3 and all(np.isfinite(v) and low <= v <= high for v in value)
    check(ok, name, value, f"3 finite floats in [{low}, {high}]")


def _check_positive(name: str, value: float) -> None:
    check(bool(np.isfinite(value) and value > 0), name, value, "a finite float > 0")


def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


@dataclass(frozen=True, slots=True)
class Sphere:
    """Solid sphere; centre and radius in metres, albedo as linear RGB."""

    center: Vec3
    radius: float
    albedo: Vec3

    def __post_init__(self) -> None:
        _check_vec3("center", self.center, -1e3, 1e3)
        _check_positive("radius", self.radius)
        _check_vec3("albedo", self.albedo, 0.0, 1.0)

    def sdf(self, points: np.ndarray) -> np.ndarray:
        return np.linalg.norm(points - np.asarray(self.center), axis=-1) - self.radius

    def normal(self, points: np.ndarray) -> np.ndarray:
        return _normalize(points - np.asarray(self.center))

    def surface_samples(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(self.center) + self.radius * _normalize(rng.standard_normal((n, 3)))


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned solid box; centre and half extents in metres."""

    center: Vec3
    half_extent: Vec3
    albedo: Vec3

    def __post_init__(self) -> None:
        _check_vec3("center", self.center, -1e3, 1e3)
        _check_vec3("half_extent", self.half_extent, 1e-6, 1e3)
        _check_vec3("albedo", self.albedo, 0.0, 1.0)

    def sdf(self, points: np.ndarray) -> np.ndarray:
        q = np.abs(points - np.asarray(self.center)) - np.asarray(self.half_extent)
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=-1)
        return outside + np.minimum(q.max(axis=-1), 0.0)

    def normal(self, points: np.ndarray) -> np.ndarray:
        # Gradient of the exact box SDF: outside it points from the nearest
        # surface point; inside it is the face normal of the nearest face.
        local = points - np.asarray(self.center)
        q = np.abs(local) - np.asarray(self.half_extent)
        sign = np.where(local >= 0.0, 1.0, -1.0)
        outside = sign * np.maximum(q, 0.0)
        inside = sign * (np.arange(3) == q.argmax(axis=-1)[..., None])
        is_out = (q > 0.0).any(axis=-1, keepdims=True)
        return _normalize(np.where(is_out, outside, inside))

    def surface_samples(self, n: int, rng: np.random.Generator) -> np.ndarray:
        h = np.asarray(self.half_extent)
        # Pick faces with probability proportional to their area so the
        # samples are uniform over the surface.
        area = np.array([h[1] * h[2], h[0] * h[2], h[0] * h[1]])
        axis = rng.choice(3, size=n, p=area / area.sum())
        local = rng.uniform(-1.0, 1.0, (n, 3)) * h
        side = rng.choice([-1.0, 1.0], size=n)
        local[np.arange(n), axis] = side * h[axis]
        return np.asarray(self.center) + local


Solid = Sphere | Box


@dataclass(frozen=True, slots=True)
class Scene:
    """A union of soft solids inside the cube [-bound, bound]^3.

    Each solid k has occupancy o_k = sigmoid(-sdf_k / edge_width) and the
    density is sigma_max * sum_k o_k: optical depths of disjoint media add.
    The colour is the occupancy-weighted mean of the solids' shaded colours,
    Lambertian plus a weak Blinn-Phong highlight so that the view direction
    matters a little, as in the real scenes NeRF was designed for.
    """

    solids: tuple[Solid, ...]
    bound: float = 1.0
    sigma_max: float = 30.0
    edge_width: float = 0.03
    light_dir: Vec3 = (0.4, -0.5, 0.77)
    ambient: float = 0.35
    specular: float = 0.12
    shininess: float = 8.0

    def __post_init__(self) -> None:
        ok = len(self.solids) > 0 and all(isinstance(s, (Sphere, Box)) for s in self.solids)
        check(ok, "solids", self.solids, "a non-empty tuple of Sphere and Box")
        _check_positive("bound", self.bound)
        _check_positive("sigma_max", self.sigma_max)
        _check_positive("edge_width", self.edge_width)
        _check_vec3("light_dir", self.light_dir, -1.0, 1.0)
        check(
            np.linalg.norm(self.light_dir) > 1e-6, "light_dir", self.light_dir, "a non-zero vector"
        )
        check(0.0 <= self.ambient <= 1.0, "ambient", self.ambient, "a float in [0, 1]")
        check(0.0 <= self.specular <= 1.0, "specular", self.specular, "a float in [0, 1]")
        _check_positive("shininess", self.shininess)

    def _log_occupancy(self, points: np.ndarray) -> np.ndarray:
        """log o_k for every solid, shape (K, N); log space keeps the colour
        weights exact far from every solid where o_k underflows."""
        s = np.stack([-solid.sdf(points) / self.edge_width for solid in self.solids])
        return -np.logaddexp(0.0, -s)

    def density(self, points: np.ndarray) -> np.ndarray:
        """Density sigma(x) in 1/m for points (N, 3)."""
        points = np.asarray(points, dtype=np.float64)
        return self.sigma_max * np.exp(self._log_occupancy(points)).sum(axis=0)

    def query(self, points: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Density (N,) in 1/m and RGB (N, 3) for points (N, 3) seen along unit dirs (N, 3)."""
        points = np.asarray(points, dtype=np.float64)
        dirs = np.asarray(dirs, dtype=np.float64)
        ok = points.ndim == 2 and points.shape[1] == 3 and dirs.shape == points.shape
        check(ok, "points/dirs shapes", (points.shape, dirs.shape), "both (N, 3)")
        log_occ = self._log_occupancy(points)
        sigma = self.sigma_max * np.exp(log_occ).sum(axis=0)
        weight = np.exp(log_occ - log_occ.max(axis=0))
        weight /= weight.sum(axis=0)
        light = _normalize(np.asarray(self.light_dir))
        half = _normalize(light - _normalize(dirs))
        rgb = np.zeros_like(points)
        for w, solid in zip(weight, self.solids, strict=True):
            n = solid.normal(points)
            diffuse = self.ambient + (1.0 - self.ambient) * np.clip(n @ light, 0.0, None)
            gloss = self.specular * np.clip((n * half).sum(axis=-1), 0.0, None) ** self.shininess
            rgb += w[:, None] * (np.asarray(solid.albedo) * diffuse[:, None] + gloss[:, None])
        return sigma, np.clip(rgb, 0.0, 1.0)

    def surface_samples(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n points on the solids' surfaces, an equal share per solid, (n, 3)."""
        which = rng.integers(len(self.solids), size=n)
        out = np.empty((n, 3))
        for k, solid in enumerate(self.solids):
            mask = which == k
            out[mask] = solid.surface_samples(int(mask.sum()), rng)
        return out


def default_scene() -> Scene:
    """Three spheres and a box of distinct colours, all within |x| < 0.8 m."""
    return Scene(
        solids=(
            Sphere(center=(0.0, 0.0, 0.1), radius=0.42, albedo=(0.85, 0.25, 0.2)),
            Sphere(center=(0.45, -0.45, -0.3), radius=0.25, albedo=(0.2, 0.7, 0.3)),
            Sphere(center=(-0.55, 0.4, 0.4), radius=0.22, albedo=(0.25, 0.35, 0.9)),
            Box(
                center=(-0.3, -0.35, -0.55), half_extent=(0.28, 0.2, 0.15), albedo=(0.9, 0.8, 0.25)
            ),
        )
    )
