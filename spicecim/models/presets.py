"""Named model graphs, their seeded initialisation, and the NeRF field around an MLP.

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
- ``mlp:IN-H1-...-OUT``: a plain MLP on one input ``x`` of width IN, ReLU hidden layers
  ``fc0, fc1, ...`` of the given widths and a linear last layer (logits, for a classifier).

The NeRF presets read the inputs ``pos`` (63) and ``dir`` (27); :class:`NerfField` turns world
points and view directions into those encodings and the outputs ``sigma`` and ``rgb`` into the
radiance field the renderer samples.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spicecim.errors import InputFileError, ResultFileError, SpecError, check
from spicecim.models.encoding import (
    DIRECTION_LEVELS,
    POSITION_LEVELS,
    encoded_dim,
    positional_encoding,
)
from spicecim.models.mlp import (
    Dense,
    Matmul,
    Mlp,
    from_state_dict,
    load_mlp_extra,
    random_inputs,
    save_mlp,
    torch_state,
)
from spicecim.store import npy

LayerSpec = tuple[str, tuple[str, ...], int, str]  # (name, sources, width, activation)

_NERF_INPUTS = {"pos": encoded_dim(3, POSITION_LEVELS), "dir": encoded_dim(3, DIRECTION_LEVELS)}
_NERF: dict[str, tuple[LayerSpec, ...]] = {
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
NERF_PRESETS = tuple(_NERF)
CACHE_ENV = "SPICECIM_CACHE"


def default_cache_dir() -> Path:
    """Where fitted weights are kept: ``$SPICECIM_CACHE``, else ``~/.cache/spicecim``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "spicecim")


_PLAIN = re.compile(r"^mlp:(\d+(?:-\d+)+)$")

# Layer names of the reference PyTorch code (nerf-pytorch, use_viewdirs=True) -> ours.
_TORCH_NAMES = {
    **{f"pts_linears.{i}": f"fc{i}" for i in range(8)},
    "alpha_linear": "sigma",
    "feature_linear": "feature",
    "views_linears.0": "rgb_hidden",
    "rgb_linear": "rgb",
}


def check_preset(preset: str) -> str:
    """``preset`` if it names a preset, else one clear error."""
    ok = preset in _NERF or bool(_PLAIN.match(str(preset))) and all(
        int(w) >= 1 for w in str(preset)[4:].split("-"))
    check(ok, "model", preset, f"one of {NERF_PRESETS} or mlp:IN-H1-...-OUT (widths >= 1)")
    return preset


def preset_graph(preset: str) -> tuple[dict[str, int], tuple[LayerSpec, ...]]:
    """The inputs (name -> width) and the (name, sources, width, activation) of each layer."""
    check_preset(preset)
    if preset in _NERF:
        return dict(_NERF_INPUTS), _NERF[preset]
    widths = [int(w) for w in preset[4:].split("-")]
    layers = tuple((f"fc{i}", ("x",) if i == 0 else (f"fc{i - 1}",), w,
                    "relu" if i < len(widths) - 2 else "none")
                   for i, w in enumerate(widths[1:]))
    return {"x": widths[0]}, layers


def preset_mlp(preset: str, *, seed: int = 0, weights: Path | str | None = None) -> Mlp:
    """A preset (``nerf``, ``nerf-4x256``, ``mlp:IN-H1-...-OUT``) with ``weights`` from a
    file (:func:`load_weights`) or a seeded initialisation."""
    return choose_model(preset, None if weights is None else Path(weights), seed=seed).mlp


def init_mlp(preset: str, rng: np.random.Generator) -> Mlp:
    """A freshly initialised MLP of a named preset (module docstring)."""
    inputs, specs = preset_graph(preset)
    widths = dict(inputs)
    layers = []
    for name, sources, width, activation in specs:
        fan_in = sum(widths[s] for s in sources)
        # He init keeps ReLU activations at unit scale through the depth;
        # the heads get LeCun scale.
        gain = 6.0 if activation == "relu" else 3.0
        limit = np.sqrt(gain / fan_in)
        weight = rng.uniform(-limit, limit, (fan_in, width)).astype(np.float32)
        layers.append(Dense(name, sources, weight, np.zeros(width, np.float32), activation))
        widths[name] = width
    return Mlp(tuple(inputs.items()), tuple(layers))


def same_graph(mlp: Mlp, preset: str) -> bool:
    inputs, specs = preset_graph(preset)
    have = [(d.name, d.sources, d.fan_out, d.activation) for d in mlp.layers]
    return mlp.input_widths() == inputs and have == list(specs)


def preset_state_dict(preset: str, state: Mapping[str, np.ndarray]) -> Mlp:
    """A preset MLP with weights from a PyTorch-style state dict (our layer names, or for the
    NeRF presets the reference nerf-pytorch names: ``pts_linears.<i>``, ``alpha_linear``,
    ``feature_linear``, ``views_linears.0``, ``rgb_linear``)."""
    template = init_mlp(preset, np.random.default_rng(0))
    return from_state_dict(template, state, preset, _TORCH_NAMES if preset in _NERF else None)


def load_weights(preset: str, path: str | os.PathLike) -> Mlp:
    """Weights for ``preset`` from a file: a spicecim ``.npz`` (its own graph must be the
    preset's), an ``.npz`` of state-dict keys, or a PyTorch ``.pt``/``.pth`` (needs torch)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"weights file {str(path)!r} does not exist: expected .npz, .pt or .pth")
    if path.suffix in (".pt", ".pth"):
        return preset_state_dict(preset, torch_state(path))
    arrays = npy.load_npz(path, "weights", "a .npz of weights, a .pt or a .pth",
                          text=("meta",))
    keys = list(arrays)
    state = {k: v for k, v in arrays.items() if k != "meta"}
    if "meta" not in keys:
        return preset_state_dict(preset, state)
    mlp = load_mlp_extra(path)[0]
    if not same_graph(mlp, preset):
        raise SpecError(f"{path} holds another graph than model {preset!r}: layers "
                        f"{[d.name for d in mlp.layers]}, expected "
                        f"{[s[0] for s in preset_graph(preset)[1]]}")
    return mlp


# --- the NeRF field ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NerfField:
    """A NeRF MLP as a radiance field on points in the cube [-bound, bound]^3 (m), outside
    which density is 0.

    Positions are scaled by 1/bound before the positional encoding so the encoding sees
    [-1, 1]; the MLP reads inputs ``pos`` and ``dir`` of the encodings' widths and has outputs
    ``sigma`` (width 1, density in 1/m) and ``rgb`` (width 3).
    """

    mlp: Mlp
    bound: float = 1.0
    pos_levels: int = POSITION_LEVELS
    dir_levels: int = DIRECTION_LEVELS

    def __post_init__(self) -> None:
        ok = bool(np.isfinite(self.bound) and self.bound > 0)
        check(ok, "bound", self.bound, "a finite float > 0 (m)")
        for name in ("pos_levels", "dir_levels"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 0, name, value, "an int >= 0")
        want = {"pos": encoded_dim(3, self.pos_levels), "dir": encoded_dim(3, self.dir_levels)}
        check(self.mlp.input_widths() == want, "NeRF inputs", self.mlp.input_widths(), str(want))
        widths = self.mlp.widths()
        for name, width in (("sigma", 1), ("rgb", 3)):
            ok = name in self.mlp.outputs and widths[name] == width
            check(ok, f"NeRF output {name!r}", widths.get(name), f"an output of width {width}")

    def encode(self, points: np.ndarray, dirs: np.ndarray) -> dict[str, np.ndarray]:
        """The MLP's inputs for world points (N, 3) in m and unit view directions (N, 3)."""
        return {"pos": positional_encoding(np.asarray(points, np.float32) / self.bound,
                                           self.pos_levels),
                "dir": positional_encoding(dirs, self.dir_levels)}

    def sample_inputs(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Encodings of ``n`` positions uniform in the cube and uniform unit view directions."""
        check(isinstance(n, int) and n >= 1, "points", n, "an integer >= 1")
        pos = rng.uniform(-1.0, 1.0, (n, 3))
        dirs = rng.standard_normal((n, 3))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        return {"pos": positional_encoding(pos, self.pos_levels),
                "dir": positional_encoding(dirs, self.dir_levels)}

    def field(self, points: np.ndarray, dirs: np.ndarray, matmul: Matmul | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """Radiance field on world points (N, 3) in m and unit dirs (N, 3), for render():
        (sigma (N,), rgb (N, 3)); ``matmul`` as in :meth:`Mlp.forward`."""
        points = np.asarray(points, dtype=np.float32)
        inside = np.all(np.abs(points) <= self.bound, axis=1)
        sigma = np.zeros(len(points), dtype=np.float32)
        rgb = np.zeros((len(points), 3), dtype=np.float32)
        if inside.any():  # samples outside the cube cost nothing: density there is 0
            out = self.mlp.forward(self.encode(points[inside], np.asarray(dirs)[inside]),
                                   matmul)
            sigma[inside], rgb[inside] = out["sigma"][:, 0], out["rgb"]
        return sigma, rgb

    def save(self, path: str | os.PathLike) -> None:
        save_mlp(self.mlp, path, {"nerf": {"bound": self.bound, "pos_levels": self.pos_levels,
                                           "dir_levels": self.dir_levels}})

    @classmethod
    def load(cls, path: str | os.PathLike) -> NerfField:
        mlp, extra = load_mlp_extra(path)
        if "nerf" not in extra:
            raise ResultFileError(f"{path}: an MLP without NeRF field settings (bound, levels)")
        nerf = extra["nerf"]
        return cls(mlp, float(nerf["bound"]), int(nerf["pos_levels"]), int(nerf["dir_levels"]))


def as_field(mlp: Mlp, bound: float = 1.0) -> NerfField | None:
    """The NeRF field of a graph shaped like one (inputs ``pos``/``dir`` of encoding widths,
    outputs ``sigma``/``rgb``), else None."""
    widths = mlp.input_widths()
    if set(widths) != {"pos", "dir"} or any((w - 3) % 6 or w < 3 for w in widths.values()):
        return None
    try:
        return NerfField(mlp, bound, (widths["pos"] - 3) // 6, (widths["dir"] - 3) // 6)
    except SpecError:
        return None


def sample_inputs(mlp: Mlp, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Representative inputs: a NeRF graph's encodings of points in its cube and view
    directions (:meth:`NerfField.sample_inputs`), else :func:`random_inputs`."""
    field = as_field(mlp)
    return field.sample_inputs(n, rng) if field else random_inputs(mlp, n, rng)


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """A model as a user names it: the network, its name and where its weights came from."""

    mlp: Mlp
    name: str
    weights: str


MODEL_FILES = (".npz", ".onnx")
"""The files that bring a model's own graph with its weights: a spicecim ``.npz``
(:func:`~spicecim.models.mlp.save_mlp`) and an ONNX MLP."""


def _model_file(path: Path) -> Path:
    """``path`` if it is a regular file (a link to one counts): its bytes are hashed before it is
    parsed, and reading a FIFO with no writer would block for ever."""
    if not path.is_file():
        what = "does not exist" if not path.exists() else "is not a regular file"
        raise InputFileError(f"model file {str(path)!r} {what}: expected an existing "
                             f"{' or '.join(MODEL_FILES)} file")
    return path


def choose_model(model: str, weights_path: Path | None = None, *, seed: int = 0
                 ) -> ModelChoice:
    """``model`` (a preset name, ``mlp:IN-H1-...-OUT``, or a file of :data:`MODEL_FILES` that
    brings its own graph) with weights from ``weights_path`` (an ``.onnx`` brings its own
    graph; ``.npz``, ``.pt``/``.pth`` the preset's weights) or, by default, a seeded
    initialisation."""
    if weights_path is None and Path(model).suffix in MODEL_FILES:  # graph and weights in one
        if Path(model).suffix == ".onnx":
            return choose_model("", Path(model))
        path = _model_file(Path(model))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        return ModelChoice(load_mlp_extra(path)[0], f"npz:{path.name}", f"{path} ({digest})")
    if weights_path is not None and Path(weights_path).suffix == ".onnx":
        from spicecim.models.onnx_import import load_onnx

        path = _model_file(Path(weights_path))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        return ModelChoice(load_onnx(path), f"onnx:{path.name}", f"{path} ({digest})")
    check_preset(model)
    if weights_path is not None:
        path = Path(weights_path)
        mlp = load_weights(model, path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        return ModelChoice(mlp, model, f"{path} ({digest})")
    return ModelChoice(init_mlp(model, np.random.default_rng(seed)), model,
                       f"seeded initialisation, seed {seed}")
