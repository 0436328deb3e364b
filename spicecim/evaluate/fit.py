"""NeRF MLPs as plain layer graphs, and fitting them to an analytic scene in NumPy.

An :class:`Mlp` is a list of dense layers, each reading the concatenation of
earlier tensors ('pos', 'dir' or an earlier layer's output).  Keeping the
graph this explicit lets an analog model replace each layer's matmul through
``forward(..., matmul=...)`` without knowing the architecture.  Fitting
supervises density and colour directly on points in the scene's bounding
cube, which is far cheaper than photometric NeRF training and is enough to
get a render that matches the analytic scene's.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from spicecim.errors import ResultFileError, check
from spicecim.evaluate.encoding import (
    DIRECTION_LEVELS,
    POSITION_LEVELS,
    encoded_dim,
    positional_encoding,
)
from spicecim.evaluate.scene import Scene

Matmul = Callable[[str, np.ndarray, np.ndarray], np.ndarray]
ACTIVATIONS = ("relu", "none", "sigmoid", "softplus")
INPUTS = ("pos", "dir")
# Bump when the fitting recipe changes so cached weights from an older recipe are not reused.
_FIT_VERSION = 1
# Small batches at a high rate reach a given PSNR with fewer samples than
# large ones; 512 is still wide enough to keep BLAS efficient.
_BATCH_SIZE = 512
_LEARNING_RATE = 3e-3
_FILE_FORMAT = "spicecim-nerf-mlp-v1"

# (name, sources, width, activation).  'nerf' is the architecture of
# Mildenhall et al. 2020 (arXiv 2003.08934, fig. 7): 8 x 256 ReLU with a skip
# of gamma(x) into the 5th layer, density from the trunk, and colour from a
# 256-wide feature joined with gamma(d).
_PRESETS: dict[str, tuple[tuple[str, tuple[str, ...], int, str], ...]] = {
    "nerf": (
        ("fc0", ("pos",), 256, "relu"),
        ("fc1", ("fc0",), 256, "relu"),
        ("fc2", ("fc1",), 256, "relu"),
        ("fc3", ("fc2",), 256, "relu"),
        ("fc4", ("fc3", "pos"), 256, "relu"),
        ("fc5", ("fc4",), 256, "relu"),
        ("fc6", ("fc5",), 256, "relu"),
        ("fc7", ("fc6",), 256, "relu"),
        ("sigma", ("fc7",), 1, "relu"),
        ("feature", ("fc7",), 256, "none"),
        ("rgb_hidden", ("feature", "dir"), 128, "relu"),
        ("rgb", ("rgb_hidden",), 3, "sigmoid"),
    ),
    "nerf-4x256": (
        ("fc0", ("pos",), 256, "relu"),
        ("fc1", ("fc0",), 256, "relu"),
        ("fc2", ("fc1",), 256, "relu"),
        ("fc3", ("fc2",), 256, "relu"),
        ("sigma", ("fc3",), 1, "relu"),
        ("rgb_hidden", ("fc3", "dir"), 128, "relu"),
        ("rgb", ("rgb_hidden",), 3, "sigmoid"),
    ),
}
PRESETS = tuple(_PRESETS)


def _activate(z: np.ndarray, activation: str) -> np.ndarray:
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "sigmoid":
        return 0.5 + 0.5 * np.tanh(0.5 * z)  # no overflow for large |z|
    if activation == "softplus":
        return np.logaddexp(0.0, z)
    return z


def _activation_slope(z: np.ndarray, a: np.ndarray, activation: str) -> np.ndarray:
    if activation == "relu":
        return z > 0.0  # a bool mask multiplies in the gradient's dtype
    if activation == "sigmoid":
        return a * (1.0 - a)
    if activation == "softplus":
        return 0.5 + 0.5 * np.tanh(0.5 * z)
    return np.ones_like(z)


@dataclass(frozen=True, slots=True)
class Dense:
    """One layer: activation(concat(sources) @ weight + bias), weight (in, out) float32."""

    name: str
    sources: tuple[str, ...]
    weight: np.ndarray
    bias: np.ndarray
    activation: str

    def __post_init__(self) -> None:
        name, w, b = self.name, self.weight, self.bias
        check(isinstance(name, str) and name not in INPUTS, "name", name, f"a str not in {INPUTS}")
        check(len(self.sources) > 0, f"{name}.sources", self.sources, "one or more tensor names")
        check(self.activation in ACTIVATIONS, "activation", self.activation, str(ACTIVATIONS))
        ok = isinstance(w, np.ndarray) and w.dtype == np.float32 and w.ndim == 2
        check(ok, f"{name}.weight", getattr(w, "shape", w), "a float32 array (in, out)")
        ok = isinstance(b, np.ndarray) and b.dtype == np.float32 and b.shape == w.shape[1:]
        check(ok, f"{name}.bias", getattr(b, "shape", b), f"a float32 array ({w.shape[1]},)")


@dataclass(frozen=True, slots=True)
class Mlp:
    """A NeRF MLP on points in the cube [-bound, bound]^3 (m), outside which density is 0.

    Positions are scaled by 1/bound before the positional encoding so the
    encoding sees [-1, 1]; the graph must end in layers 'sigma' (width 1,
    density in 1/m) and 'rgb' (width 3).
    """

    layers: tuple[Dense, ...]
    bound: float
    pos_levels: int = POSITION_LEVELS
    dir_levels: int = DIRECTION_LEVELS

    def __post_init__(self) -> None:
        ok = bool(np.isfinite(self.bound) and self.bound > 0)
        check(ok, "bound", self.bound, "a finite float > 0 (m)")
        for name in ("pos_levels", "dir_levels"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 0, name, value, "an int >= 0")
        widths = {"pos": encoded_dim(3, self.pos_levels), "dir": encoded_dim(3, self.dir_levels)}
        for layer in self.layers:
            check(isinstance(layer, Dense), "layer", layer, "a Dense")
            check(layer.name not in widths, "layer name", layer.name, "a name used once")
            ok = all(s in widths for s in layer.sources)
            check(ok, f"{layer.name}.sources", layer.sources, "inputs or earlier layers")
            fan_in = sum(widths[s] for s in layer.sources)
            shape = layer.weight.shape
            check(shape[0] == fan_in, f"{layer.name}.weight.shape", shape, f"({fan_in}, out)")
            widths[layer.name] = layer.weight.shape[1]
        check(widths.get("sigma") == 1, "sigma layer width", widths.get("sigma"), "1")
        check(widths.get("rgb") == 3, "rgb layer width", widths.get("rgb"), "3")

    def forward(
        self, pos_enc: np.ndarray, dir_enc: np.ndarray, matmul: Matmul | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(sigma (N,), rgb (N, 3)) from encoded positions and directions.

        ``matmul(layer_name, x, weight) -> x @ weight`` is the hook through
        which an analog crossbar model can stand in for each layer's product.
        """
        tensors = _run(self, pos_enc, dir_enc, matmul)
        return tensors["sigma"][1][:, 0], tensors["rgb"][1]

    def field(
        self, points: np.ndarray, dirs: np.ndarray, matmul: Matmul | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Radiance field on world points (N, 3) in m and unit dirs (N, 3), for render()."""
        points = np.asarray(points, dtype=np.float32)
        inside = np.all(np.abs(points) <= self.bound, axis=1)
        sigma = np.zeros(len(points), dtype=np.float32)
        rgb = np.zeros((len(points), 3), dtype=np.float32)
        if inside.any():  # samples outside the cube cost nothing: density there is 0
            pos_enc = positional_encoding(points[inside] / self.bound, self.pos_levels)
            dir_enc = positional_encoding(np.asarray(dirs)[inside], self.dir_levels)
            sigma[inside], rgb[inside] = self.forward(pos_enc, dir_enc, matmul)
        return sigma, rgb


def _run(mlp: Mlp, pos_enc: np.ndarray, dir_enc: np.ndarray, matmul: Matmul | None) -> dict:
    """Every tensor of the graph as name -> (pre-activation, output)."""
    tensors = {
        "pos": (None, np.asarray(pos_enc, np.float32)),
        "dir": (None, np.asarray(dir_enc, np.float32)),
    }
    for layer in mlp.layers:
        parts = [tensors[s][1] for s in layer.sources]
        x = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        z = x @ layer.weight if matmul is None else matmul(layer.name, x, layer.weight)
        z = z + layer.bias
        tensors[layer.name] = (z, _activate(z, layer.activation))
    return tensors


def _backward(mlp: Mlp, tensors: dict, grads: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """Weight and bias gradients given d loss / d output for the output layers."""
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for layer in reversed(mlp.layers):
        z, a = tensors[layer.name]
        dz = grads.pop(layer.name) * _activation_slope(z, a, layer.activation)
        parts = [tensors[s][1] for s in layer.sources]
        x = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        out.append((x.T @ dz, dz.sum(axis=0)))
        if all(source in INPUTS for source in layer.sources):
            continue  # nothing upstream to train
        dx = dz @ layer.weight.T
        start = 0
        for source, part in zip(layer.sources, parts, strict=True):
            width = part.shape[1]
            if source not in INPUTS:
                g = dx[:, start : start + width]
                grads[source] = grads[source] + g if source in grads else g
            start += width
    return out[::-1]


def init_mlp(preset: str, rng: np.random.Generator, bound: float = 1.0) -> Mlp:
    """A freshly initialised MLP of a named preset (see PRESETS)."""
    check(preset in _PRESETS, "preset", preset, f"one of {PRESETS}")
    widths = {"pos": encoded_dim(3, POSITION_LEVELS), "dir": encoded_dim(3, DIRECTION_LEVELS)}
    layers = []
    for name, sources, width, activation in _PRESETS[preset]:
        fan_in = sum(widths[s] for s in sources)
        # He init keeps ReLU activations at unit scale through the depth;
        # the heads get LeCun scale.
        gain = 6.0 if activation == "relu" else 3.0
        limit = np.sqrt(gain / fan_in)
        weight = rng.uniform(-limit, limit, (fan_in, width)).astype(np.float32)
        layers.append(Dense(name, sources, weight, np.zeros(width, np.float32), activation))
        widths[name] = width
    return Mlp(tuple(layers), bound=bound)


def _training_batch(scene: Scene, n: int, rng: np.random.Generator):
    """Half uniform in the cube, half within a few edge widths of a surface,
    where density changes fastest and render error concentrates."""
    near = scene.surface_samples(n // 2, rng)
    near += rng.normal(scale=2.0 * scene.edge_width, size=near.shape)
    uniform = rng.uniform(-scene.bound, scene.bound, (n - n // 2, 3))
    points = np.clip(np.concatenate([near, uniform]), -scene.bound, scene.bound)
    dirs = rng.standard_normal((n, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    sigma, rgb = scene.query(points, dirs)
    return points.astype(np.float32), dirs.astype(np.float32), sigma, rgb


def _fit(
    scene: Scene, preset: str, steps: int, seed: int, time_budget_s: float | None
) -> tuple[Mlp, bool]:
    """Adam on L = mean((log1p(s^) - log1p(s))^2) + mean(occ * |c^ - c|^2), s in 1/m.

    Density is compared on a log scale because a faint haze of 0.1/m in empty
    space darkens a 3 m ray by a quarter while a 10 % error inside a solid is
    invisible; colour only counts where there is matter to carry it.
    Returns the MLP and whether all steps ran.
    """
    check(isinstance(steps, int) and steps > 0, "steps", steps, "an int > 0")
    ok = time_budget_s is None or time_budget_s > 0
    check(ok, "time_budget_s", time_budget_s, "None or a float > 0 (s)")
    rng = np.random.default_rng(seed)
    mlp = init_mlp(preset, rng, bound=scene.bound)
    params = [p for layer in mlp.layers for p in (layer.weight, layer.bias)]
    moment1 = [np.zeros_like(p) for p in params]
    moment2 = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-7
    start = time.perf_counter()
    step = 0
    # The per-step products are small: a second BLAS thread gains little on an
    # idle machine and, measured on a busy 2-core one, made fitting 10x slower.
    with threadpool_limits(1, user_api="blas"):
        while step < steps:
            elapsed = time.perf_counter() - start
            progress = step / steps
            if time_budget_s is not None:
                progress = max(progress, elapsed / time_budget_s)
                if progress >= 1.0:
                    break
            points, dirs, sigma, rgb = _training_batch(scene, _BATCH_SIZE, rng)
            tensors = _run(
                mlp,
                positional_encoding(points / scene.bound, mlp.pos_levels),
                positional_encoding(dirs, mlp.dir_levels),
                None,
            )
            sigma_hat, rgb_hat = tensors["sigma"][1][:, 0], tensors["rgb"][1]
            err = np.log1p(sigma_hat) - np.log1p(sigma)
            occupancy = np.minimum(sigma / scene.sigma_max, 1.0)
            d_sigma = 2.0 * err / (1.0 + sigma_hat) / _BATCH_SIZE
            d_rgb = 2.0 * occupancy[:, None] * (rgb_hat - rgb) / _BATCH_SIZE
            grads = {"sigma": d_sigma.astype(np.float32)[:, None], "rgb": d_rgb.astype(np.float32)}
            step += 1
            # Exponential decay to a tenth of the rate: large steps find the shapes,
            # small ones settle the edges that dominate the render error.
            rate = _LEARNING_RATE * 0.1**progress * (1.0 - beta2**step) ** 0.5 / (1.0 - beta1**step)
            flat = [g for pair in _backward(mlp, tensors, grads) for g in pair]
            for p, g, m, v in zip(params, flat, moment1, moment2, strict=True):
                m *= beta1
                m += (1.0 - beta1) * g
                v *= beta2
                v += (1.0 - beta2) * g * g
                p -= rate * m / (np.sqrt(v) + eps)
    return mlp, step == steps


def fit_scene(
    scene: Scene,
    preset: str = "nerf-4x256",
    steps: int = 3000,
    seed: int = 0,
    time_budget_s: float | None = None,
) -> Mlp:
    """Fit a preset MLP to ``scene`` with Adam on the CPU.

    With ``time_budget_s`` the learning-rate schedule runs on whichever of
    steps or wall time is further along, and fitting stops when either ends.
    """
    return _fit(scene, preset, steps, seed, time_budget_s)[0]


def cached_fit(
    cache_dir: str | os.PathLike,
    scene: Scene,
    preset: str = "nerf-4x256",
    steps: int = 3000,
    seed: int = 0,
    time_budget_s: float | None = None,
) -> Mlp:
    """fit_scene, reusing weights saved under ``cache_dir`` for the same
    (preset, scene, steps, seed).  A fit cut short by ``time_budget_s`` is
    returned but not saved, so the cache only ever holds complete fits."""
    key = hashlib.sha256(repr((_FIT_VERSION, preset, scene, steps, seed)).encode()).hexdigest()
    path = Path(cache_dir) / f"{preset}-{key[:16]}.npz"
    if path.exists():
        return load_mlp(path)
    mlp, complete = _fit(scene, preset, steps, seed, time_budget_s)
    if complete:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_mlp(mlp, path)
    return mlp


def save_mlp(mlp: Mlp, path: str | os.PathLike) -> None:
    """Write ``mlp`` to an .npz file atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    meta = {
        "format": _FILE_FORMAT,
        "bound": mlp.bound,
        "pos_levels": mlp.pos_levels,
        "dir_levels": mlp.dir_levels,
        "layers": [
            {"name": layer.name, "sources": list(layer.sources), "activation": layer.activation}
            for layer in mlp.layers
        ],
    }
    arrays = {"meta": np.array(json.dumps(meta))}
    for i, layer in enumerate(mlp.layers):
        arrays[f"w{i}"], arrays[f"b{i}"] = layer.weight, layer.bias
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_mlp(path: str | os.PathLike) -> Mlp:
    """Read an MLP written by :func:`save_mlp`."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != _FILE_FORMAT:
                raise ResultFileError(
                    f"{path}: format {meta.get('format')!r}, expected {_FILE_FORMAT!r}"
                )
            layers = tuple(
                Dense(
                    spec["name"],
                    tuple(spec["sources"]),
                    data[f"w{i}"].copy(),
                    data[f"b{i}"].copy(),
                    spec["activation"],
                )
                for i, spec in enumerate(meta["layers"])
            )
            return Mlp(
                layers,
                bound=meta["bound"],
                pos_levels=meta["pos_levels"],
                dir_levels=meta["dir_levels"],
            )
    except (OSError, KeyError, AttributeError, TypeError, ValueError) as exc:
        raise ResultFileError(f"{path}: not a readable spicecim MLP file ({exc})") from exc
