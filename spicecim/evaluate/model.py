"""NeRF MLPs as plain layer graphs: the model description every evaluator stage reads.

An :class:`Mlp` is a list of dense layers, each reading the concatenation of earlier tensors
('pos', 'dir' or an earlier layer's output): shapes, activations and skip/concat inputs in one
place. Keeping the graph this explicit lets an analog model replace each layer's matmul through
``forward(..., matmul=...)`` without knowing the architecture.

Weights come from a seeded initialisation (:func:`init_mlp`), a spicecim ``.npz``
(:func:`save_mlp` / :func:`load_mlp`) or a PyTorch state dict (:func:`load_weights`: a ``.pt``
file through ``torch.load`` when PyTorch is installed, or the same keys saved in an ``.npz``).

Presets:

- ``nerf``: Mildenhall et al. 2020 (arXiv 2003.08934, fig. 7) as the reference code builds it
  (``run_nerf_helpers.py``, ``skips=[4]``): eight 256-wide ReLU layers; the encoded position is
  concatenated in front of the fifth layer's activation, so the sixth layer (``fc5``) reads
  63 + 256 = 319 inputs; density from the trunk, a 256-wide feature, a 128-wide layer on
  feature + encoded direction (283 inputs) and the RGB head.
- ``nerf-4x256``: the seed's four-layer MLP: four 256-wide hidden layers ``fc0..fc3`` plus the
  density and colour heads. ``fc0`` reads the 63-wide encoding rather than 256 inputs; it is
  kept so because on tiles of 256 rows it still fills one row tile and the same columns as a
  256x256 layer (latency and energy come from the columns a layer uses, so its figures are a
  256x256 layer's; only its device count and utilisation are lower), while a model that really
  runs needs a layer that reads the encoding. The heads are real work the seed's 4 x 78 ns
  arithmetic left out; the report shows them as separate rows.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spicecim.errors import ResultFileError, SpecError, check
from spicecim.evaluate.encoding import (
    DIRECTION_LEVELS,
    POSITION_LEVELS,
    encoded_dim,
    positional_encoding,
)

Matmul = Callable[[str, np.ndarray, np.ndarray], np.ndarray]
ACTIVATIONS = ("relu", "none", "sigmoid", "softplus")
NONNEGATIVE = ("relu", "sigmoid", "softplus")
INPUTS = ("pos", "dir")
_FILE_FORMAT = "spicecim-nerf-mlp-v1"

# (name, sources, width, activation).
_PRESETS: dict[str, tuple[tuple[str, tuple[str, ...], int, str], ...]] = {
    "nerf": (
        ("fc0", ("pos",), 256, "relu"),
        ("fc1", ("fc0",), 256, "relu"),
        ("fc2", ("fc1",), 256, "relu"),
        ("fc3", ("fc2",), 256, "relu"),
        ("fc4", ("fc3",), 256, "relu"),
        ("fc5", ("pos", "fc4"), 256, "relu"),
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

# Layer names of the reference PyTorch code (nerf-pytorch, use_viewdirs=True) -> ours.
_TORCH_NAMES = {
    **{f"pts_linears.{i}": f"fc{i}" for i in range(8)},
    "alpha_linear": "sigma",
    "feature_linear": "feature",
    "views_linears.0": "rgb_hidden",
    "rgb_linear": "rgb",
}


def activate(z: np.ndarray, activation: str) -> np.ndarray:
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "sigmoid":
        return 0.5 + 0.5 * np.tanh(0.5 * z)  # no overflow for large |z|
    if activation == "softplus":
        return np.logaddexp(0.0, z)
    return z


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

    @property
    def fan_in(self) -> int:
        return int(self.weight.shape[0])

    @property
    def fan_out(self) -> int:
        return int(self.weight.shape[1])


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
        widths = self.input_widths()
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

    def input_widths(self) -> dict[str, int]:
        return {"pos": encoded_dim(3, self.pos_levels), "dir": encoded_dim(3, self.dir_levels)}

    def signed_inputs(self, layer: Dense) -> bool:
        """Whether ``layer``'s input can be negative: it reads an encoding (values in [-1, 1])
        or a layer without a non-negative activation."""
        kinds = {other.name: other.activation for other in self.layers}
        return any(s in INPUTS or kinds[s] not in NONNEGATIVE for s in layer.sources)

    def forward(
        self, pos_enc: np.ndarray, dir_enc: np.ndarray, matmul: Matmul | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(sigma (N,), rgb (N, 3)) from encoded positions and directions.

        ``matmul(layer_name, x, weight) -> x @ weight`` is the hook through
        which an analog crossbar model can stand in for each layer's product.
        """
        tensors = self.tensors(pos_enc, dir_enc, matmul)
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

    def tensors(self, pos_enc: np.ndarray, dir_enc: np.ndarray, matmul: Matmul | None = None
                ) -> dict[str, tuple[np.ndarray | None, np.ndarray]]:
        """Every tensor of the graph as name -> (pre-activation, output)."""
        tensors: dict[str, tuple[np.ndarray | None, np.ndarray]] = {
            "pos": (None, np.asarray(pos_enc, np.float32)),
            "dir": (None, np.asarray(dir_enc, np.float32)),
        }
        for layer in self.layers:
            parts = [tensors[s][1] for s in layer.sources]
            x = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
            z = x @ layer.weight if matmul is None else matmul(layer.name, x, layer.weight)
            z = z + layer.bias
            tensors[layer.name] = (z, activate(z, layer.activation))
        return tensors


@dataclass(frozen=True, slots=True)
class Points:
    """Encoded inputs of a batch of samples."""

    pos_enc: np.ndarray
    dir_enc: np.ndarray

    def __post_init__(self) -> None:
        check(len(self.pos_enc) == len(self.dir_enc) >= 1, "points", len(self.pos_enc),
              "one or more, as many directions as positions")

    def __len__(self) -> int:
        return len(self.pos_enc)


def sample_points(mlp: Mlp, n: int, rng: np.random.Generator) -> Points:
    """``n`` positions uniform in the model's cube and uniform unit view directions."""
    check(isinstance(n, int) and n >= 1, "points", n, "an integer >= 1")
    pos = rng.uniform(-1.0, 1.0, (n, 3))
    dirs = rng.standard_normal((n, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return Points(positional_encoding(pos, mlp.pos_levels),
                  positional_encoding(dirs, mlp.dir_levels))


def preset_layers(preset: str) -> tuple[tuple[str, tuple[str, ...], int, str], ...]:
    """(name, sources, width, activation) of each layer of a named preset."""
    check(preset in _PRESETS, "model", preset, f"one of {PRESETS}")
    return _PRESETS[preset]


def init_mlp(preset: str, rng: np.random.Generator, bound: float = 1.0) -> Mlp:
    """A freshly initialised MLP of a named preset (see PRESETS)."""
    widths = {"pos": encoded_dim(3, POSITION_LEVELS), "dir": encoded_dim(3, DIRECTION_LEVELS)}
    layers = []
    for name, sources, width, activation in preset_layers(preset):
        fan_in = sum(widths[s] for s in sources)
        # He init keeps ReLU activations at unit scale through the depth;
        # the heads get LeCun scale.
        gain = 6.0 if activation == "relu" else 3.0
        limit = np.sqrt(gain / fan_in)
        weight = rng.uniform(-limit, limit, (fan_in, width)).astype(np.float32)
        layers.append(Dense(name, sources, weight, np.zeros(width, np.float32), activation))
        widths[name] = width
    return Mlp(tuple(layers), bound=bound)


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
                Dense(spec["name"], tuple(spec["sources"]), data[f"w{i}"].copy(),
                      data[f"b{i}"].copy(), spec["activation"])
                for i, spec in enumerate(meta["layers"])
            )
            return Mlp(layers, bound=meta["bound"], pos_levels=meta["pos_levels"],
                       dir_levels=meta["dir_levels"])
    except (OSError, KeyError, AttributeError, TypeError, ValueError) as exc:
        raise ResultFileError(f"{path}: not a readable spicecim MLP file ({exc})") from exc


def from_state_dict(preset: str, state: Mapping[str, np.ndarray], bound: float = 1.0) -> Mlp:
    """A preset MLP with weights from a PyTorch-style state dict.

    Keys are ``<layer>.weight`` in PyTorch's (out, in) layout and ``<layer>.bias``, with our
    layer names or the reference nerf-pytorch names (``pts_linears.<i>``, ``alpha_linear``,
    ``feature_linear``, ``views_linears.0``, ``rgb_linear``). Keys of other layers are refused,
    so a checkpoint of another architecture fails instead of loading in part.
    """
    arrays: dict[str, np.ndarray] = {}
    for key, value in state.items():
        layer, _, kind = str(key).rpartition(".")
        name = _TORCH_NAMES.get(layer, layer)
        arrays[f"{name}.{kind}"] = np.asarray(value, dtype=np.float32)
    names = {name for name, *_ in preset_layers(preset)}
    extra = sorted({k.rpartition(".")[0] for k in arrays} - names)
    if extra:
        raise SpecError(f"state dict has layers {extra} that model {preset!r} does not: "
                        f"expected {sorted(names)}")
    layers = []
    for name, sources, _, activation in preset_layers(preset):
        try:
            weight, bias = arrays[f"{name}.weight"], arrays[f"{name}.bias"]
        except KeyError as exc:
            raise SpecError(f"state dict lacks {exc.args[0]!r} for model {preset!r}") from exc
        layers.append(Dense(name, sources, np.ascontiguousarray(weight.T), bias, activation))
    return Mlp(tuple(layers), bound=bound)


def load_weights(preset: str, path: str | os.PathLike, bound: float = 1.0) -> Mlp:
    """Weights for ``preset`` from a file: a spicecim ``.npz`` (its own graph must be the
    preset's), an ``.npz`` of state-dict keys, or a PyTorch ``.pt``/``.pth`` (needs torch)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"weights file {str(path)!r} does not exist: expected .npz, .pt or .pth")
    if path.suffix in (".pt", ".pth"):
        return from_state_dict(preset, _torch_state(path), bound)
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.keys())
            state = {k: data[k] for k in keys if k != "meta"}
    except (OSError, ValueError) as exc:
        raise ResultFileError(f"{path}: not a readable .npz file ({exc})") from exc
    if "meta" not in keys:
        return from_state_dict(preset, state, bound)
    mlp = load_mlp(path)
    want = [(n, s, w, a) for n, s, w, a in preset_layers(preset)]
    have = [(d.name, d.sources, d.fan_out, d.activation) for d in mlp.layers]
    if have != want:
        raise SpecError(f"{path} holds another graph than model {preset!r}: layers "
                        f"{[h[0] for h in have]}, expected {[w[0] for w in want]}")
    return mlp


def _torch_state(path: Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError as exc:
        raise SpecError(f"weights file {str(path)!r} is a PyTorch file, but PyTorch is not "
                        "installed: pip install torch, or save the state dict as .npz") from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ResultFileError(f"{path}: not a readable PyTorch file ({exc})") from exc
    # nerf-pytorch checkpoints hold both networks; the fine one is what 192 samples run through.
    for key in ("network_fine_state_dict", "network_fn_state_dict", "state_dict"):
        if isinstance(obj, dict) and key in obj:
            obj = obj[key]
            break
    if not isinstance(obj, Mapping):
        raise ResultFileError(f"{path}: expected a state dict, found {type(obj).__name__}")
    return {str(k): v.detach().cpu().numpy() for k, v in obj.items()}
