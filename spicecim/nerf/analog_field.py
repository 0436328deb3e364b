"""The fitted NeRF MLP as a radiance field read through its crossbars: a frame's samples in
compiled batches.

:class:`CrossbarField` is a ``field_fn`` for :func:`spicecim.nerf.render.render` whose MLP
reads every layer off its programmed tiles through the one forward,
:func:`spicecim.analog.forward.read_layer` (the physics is not repeated here). What it changes
is how a frame goes through it:

- the whole MLP (every layer's read, bias and activation) is one compiled function of a batch
  of :data:`BATCH_ROWS` samples, so a frame costs one host round trip per batch instead of one
  per layer, and every batch (the last one padded) reuses one compilation;
- the read noise's standard normals are drawn on the host by NumPy's float32 ziggurat (a
  fraction of the time JAX's counter-based generator takes on a CPU) for the next batch while
  the compiled function reads the current one (JAX dispatches asynchronously), at most
  :data:`IN_FLIGHT` batches ahead so memory stays bounded whatever the frame;
- no normal is drawn where none is read: the negative phase of a row group whose inputs are
  all outputs of non-negative activations (or inputs declared non-negative) is never driven.

The read noise is seeded by the settings' seed, the call and the batch, so a render is
reproducible; it is drawn in another order than :class:`spicecim.analog.forward.AnalogMatmul`
draws it, the same distribution (``benchmarks/bench_render.py`` compares the PSNR of both over
seeds).
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from spicecim import Mlp, WeightMapping
from spicecim.analog import forward as fwd
from spicecim.errors import check, raise_if_stopped
from spicecim.models import jax_mlp
from spicecim.models.mlp import NONNEGATIVE
from spicecim.models.presets import NerfField, default_cache_dir

if TYPE_CHECKING:
    from spicecim import Nonideality
    from spicecim.analog.accuracy import ProgrammedLayer

BATCH_ROWS = 1024
"""Samples per compiled call: large enough that a 256-wide product runs near the matmul's
peak, small enough that the noise drawn for the next batch overlaps the current one's read
(measured on the demo's frame by ``benchmarks/bench_render.py``)."""

FRAME_POINTS = 1 << 22
"""Samples :func:`~spicecim.nerf.render.render` hands this field at once: a frame of up to 4 M
samples in one call (its points and directions in float64: 200 MB), so its batches split
evenly and compile once."""

IN_FLIGHT = 2
"""Batches dispatched and not yet collected: the one being read and the next one."""


@dataclass(frozen=True, slots=True)
class _LayerShape:
    """What shapes one layer's compiled read: its row groups, phases and width, and which row
    groups the negative phase drives (their noise drawn)."""

    shapes: tuple[fwd.GroupShape, ...]
    phases: int
    signed: tuple[bool, ...]


@dataclass(frozen=True, slots=True)
class _Graph:
    """The compiled function's key: the layers' read shapes, the read's kind and the row
    drive; ``mlp`` (its graph: sources and activations) rides along, the key names it by
    ``structure``."""

    structure: tuple[Any, ...]
    layers: tuple[tuple[str, _LayerShape], ...]
    config: fwd.ReadConfig
    v_full: float
    mlp: Mlp = field(compare=False, hash=False)


def signed_rows(mlp: Mlp, name: str) -> np.ndarray:
    """Per input row of layer ``name``: whether it can be negative (its source is an input
    not declared non-negative or a layer without a non-negative activation)."""
    kinds = {layer.name: layer.activation for layer in mlp.layers}
    widths = mlp.widths() | mlp.input_widths()
    return np.concatenate([
        np.full(widths[s], s not in mlp.nonnegative if s in mlp.input_widths()
                else kinds[s] not in NONNEGATIVE)
        for s in mlp.layer(name).sources])


def normals(words: jax.Array) -> jax.Array:
    """Standard normals (float32) from uniform 32-bit words: ``sqrt(2) erfinv(2u - 1)`` at the
    centres ``u`` of 2^24 equal bins of (0, 1), as ``jax.random.normal`` turns its own bits
    into normals (its tails end at 5.3 sigma, a chance of 1e-7 per draw). Compiled beside the
    read, with the words from NumPy's PCG64, it costs a third of NumPy's ziggurat."""
    u = ((words >> 8).astype(jnp.float32) + 0.5) * (2.0 / (1 << 24)) - 1.0
    return jnp.float32(np.sqrt(2.0)) * jax.lax.erf_inv(u)


@functools.lru_cache(maxsize=16)
def _compiled(graph: _Graph) -> Callable[..., dict[str, jax.Array]]:
    """The MLP of ``graph`` on the crossbars, jitted: compiled once per batch shape, and kept
    under ``<cache>/jax`` as the batched engine keeps its solvers (a render's compilation takes
    seconds, several times its read: the next run of the same ladder loads it)."""
    if getattr(jax.config, "jax_compilation_cache_dir", None) is None:  # the caller's choice
        jax.config.update("jax_compilation_cache_dir", str(default_cache_dir() / "jax"))
    shapes = dict(graph.layers)

    def run(params: jax_mlp.Params, inputs: dict[str, jax.Array], reads: dict[str, Any],
            bits: dict[str, jax.Array | None], numbers: fwd.ReadNumbers
            ) -> dict[str, jax.Array]:
        def matmul(name: str, x: jax.Array, w: jax.Array) -> jax.Array:
            groups, scale, w_max = reads[name]
            words = bits[name]
            z = None if words is None else normals(words).reshape(x.shape[0], -1)
            return fwd.read_layer(x, groups, shapes[name].shapes, z, graph.config, numbers,
                                  scale, w_max, graph.v_full, shapes[name].phases, w.shape[1])

        return jax_mlp.forward(graph.mlp, params, inputs, matmul)

    return jax.jit(run)


def split(mlp: Mlp, first: str) -> tuple[Mlp, Mlp | None]:
    """``mlp`` as two graphs: the layers output ``first`` needs, and the others (None where
    there are none), reading the inputs and the first graph's tensors they need."""
    layers = {layer.name: layer for layer in mlp.layers}
    need, todo = set(), [first]
    while todo:
        name = todo.pop()
        if name in layers and name not in need:
            need.add(name)
            todo.extend(layers[name].sources)
    rest = tuple(layer for layer in mlp.layers if layer.name not in need)
    if not rest:
        return mlp, None
    own = {layer.name for layer in rest}
    reads = list(dict.fromkeys(s for layer in rest for s in layer.sources if s not in own))
    handed = tuple(s for s in reads if s in need)
    head = tuple(layer for layer in mlp.layers if layer.name in need)
    widths = mlp.widths() | mlp.input_widths()
    nonnegative = tuple(s for s in reads if s in mlp.nonnegative
                        or (s in layers and layers[s].activation in NONNEGATIVE))
    return (Mlp(mlp.inputs, head, (first, *handed), mlp.nonnegative),
            Mlp(tuple((s, widths[s]) for s in reads), rest,
                tuple(o for o in mlp.outputs if o in own), nonnegative))


class CrossbarField:
    """``nerf`` with every layer read off ``layers`` (programmed tiles) under ``settings``, in
    ``dtype`` (float32 as renders read: a current rounded by 1e-7 of itself, far below any LSB
    and the read noise): a ``field_fn`` for :func:`~spicecim.nerf.render.render`.

    The density's layers are read for every sample inside the scene's cube, the colour's own
    layers only where the density read is above 0: elsewhere a sample's weight in the render,
    ``T (1 - exp(-sigma delta))``, is exactly 0 whatever its colour, which is returned as 0.
    ``done(samples)`` is told of every batch of samples whose density is read (a progress
    bar's update)."""

    def __init__(self, nerf: NerfField, layers: Mapping[str, ProgrammedLayer], v_full: float,
                 weights: WeightMapping, settings: Nonideality, dtype: type = np.float32,
                 batch_rows: int = BATCH_ROWS,
                 done: Callable[[int], object] | None = None) -> None:
        check(isinstance(batch_rows, int) and batch_rows >= 1, "batch_rows", batch_rows,
              "an integer >= 1")
        self.nerf, self.settings, self.dtype, self.batch_rows = nerf, settings, dtype, batch_rows
        self.done = done or (lambda _: None)
        self._calls = 0
        calibrated = settings.adc_range == "calibrated"
        self.reads: dict[str, Any] = {}
        shapes: dict[str, _LayerShape] = {}
        with jax.enable_x64(True):
            for layer in nerf.mlp.layers:
                programmed = layers[layer.name]
                groups, group_shapes = fwd.layer_groups(programmed, weights, calibrated,
                                                        layer.fan_out)
                signed = signed_rows(nerf.mlp, layer.name)
                shapes[layer.name] = _LayerShape(
                    group_shapes, programmed.phases,
                    tuple(bool(signed[g.start:g.stop].any()) for g in group_shapes))
                self.reads[layer.name] = (
                    tuple(fwd.ReadGroup(*(jnp.asarray(a, dtype) for a in g))
                          for g in groups), programmed.input_scale, programmed.w_max)
            self.params = jax_mlp.params_of(nerf.mlp, jnp.dtype(dtype))
        config = fwd.ReadConfig.of(settings)

        def graph(mlp: Mlp) -> _Graph:
            structure = (mlp.inputs, mlp.outputs, tuple(
                (layer.name, layer.sources, layer.activation, layer.fan_out)
                for layer in mlp.layers))
            return _Graph(structure, tuple((layer.name, shapes[layer.name])
                                           for layer in mlp.layers), config, v_full, mlp)

        density, colour = split(nerf.mlp, "sigma")
        self.density, self.colour = graph(density), None if colour is None else graph(colour)
        self.numbers = fwd.ReadNumbers.of(settings)

    def __call__(self, points: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Density (N,) and colour (N, 3) at world points (N, 3) seen along ``dirs`` (N, 3);
        0 outside the scene's cube, where the MLP is not read."""
        points = np.asarray(points, np.float32)
        inside = np.all(np.abs(points) <= self.nerf.bound, axis=1)
        sigma = np.zeros(len(points), np.float32)
        rgb = np.zeros((len(points), 3), np.float32)
        if not inside.any():
            return sigma, rgb
        call, self._calls = self._calls, self._calls + 1
        inputs = self.nerf.encode(points[inside], np.asarray(dirs)[inside])
        n = int(inside.sum())
        # the density's batches split evenly, none over batch_rows (the samples inside the
        # cube are the same for every render of a frame: one compilation, no padding wasted);
        # the colour's of batch_rows, as the samples lit differ from render to render
        even = -(-n // -(-n // self.batch_rows))
        first = self._read(self.density, inputs, [call, 0], self.done, -(-even // 8) * 8)
        sigma[inside] = first["sigma"][:, 0]
        if self.colour is None:
            rgb[inside] = first["rgb"]
            return sigma, rgb
        lit = first["sigma"][:, 0] > 0
        if lit.any():
            known = first | inputs
            rest = self._read(self.colour, {name: known[name][lit]
                                            for name, _ in self.colour.mlp.inputs},
                              [call, 1], lambda _: None, self.batch_rows)
            where = np.flatnonzero(inside)[lit]
            rgb[where] = rest["rgb"]
        return sigma, rgb

    def _read(self, graph: _Graph, inputs: Mapping[str, np.ndarray], seed: list[int],
              done: Callable[[int], object], rows: int) -> dict[str, np.ndarray]:
        """``graph``'s outputs on ``inputs``, batch by batch of ``rows`` (module docstring)."""
        n = len(next(iter(inputs.values())))
        run = _compiled(graph)
        parts: dict[str, list[np.ndarray]] = {name: [] for name in graph.mlp.outputs}
        pending: deque[tuple[int, dict[str, jax.Array]]] = deque()

        def collect() -> None:
            size, out = pending.popleft()
            for name, value in out.items():
                parts[name].append(np.asarray(value)[:size])
            done(size)

        params = {name: self.params[name] for name, _ in graph.layers}
        reads = {name: self.reads[name] for name, _ in graph.layers}
        with jax.enable_x64(True):
            for k, start in enumerate(range(0, n, rows)):
                raise_if_stopped()  # one batch (well under a second) between a stop and its exit
                size = min(rows, n - start)
                batch = {}
                for name, _ in graph.mlp.inputs:
                    padded: np.ndarray = np.zeros((rows, inputs[name].shape[1]), self.dtype)
                    padded[:size] = inputs[name][start:start + size]
                    batch[name] = padded
                noise = self._noise(graph, np.random.default_rng([self.settings.seed, *seed, k]),
                                    rows)
                pending.append((size, run(params, batch, reads, noise, self.numbers)))
                while len(pending) > IN_FLIGHT:
                    collect()
            while pending:
                collect()
        return {name: np.concatenate(values) for name, values in parts.items()}

    def _noise(self, graph: _Graph, rng: np.random.Generator, rows: int
               ) -> dict[str, np.ndarray | None]:
        """One batch's uniform 32-bit words per layer, one per standard normal
        :func:`~spicecim.analog.forward.read_layer` reads (a phase that never drives a row
        group reads its normals times a sigma of 0); None without read noise."""
        noise: dict[str, np.ndarray | None] = {}
        for name, shape in graph.layers:
            if not graph.config.noisy:
                noise[name] = None
                continue
            size = rows * fwd.noise_columns(self.reads[name][0], shape.phases)
            noise[name] = rng.bit_generator.random_raw(-(-size // 2)).view(np.uint32)[:size]
        return noise
