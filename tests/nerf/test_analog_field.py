"""The batched crossbar field reads what the per-layer forward reads: the same tiles give the
same density and colour without read noise, the density's layers split from the colour's
compose to the whole MLP, its normals are standard normal, and it reads the colour only where
the density is above 0. Each step's bar shows its units through a fake stream."""

from __future__ import annotations

import dataclasses
import functools
import io
import time

import numpy as np
import pytest
from scipy import stats

from spicecim import progress
from spicecim.analog import accuracy as acc
from spicecim.analog import forward
from spicecim.cost.mapping import TileGeometry, map_model
from spicecim.models.mlp import Dense, Mlp
from spicecim.models.presets import NerfField
from spicecim.nerf.analog_field import CrossbarField, normals, split
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import WeightMapping

TILE = 16  # a tile smaller than the layers, so layers span row and column tiles


def _field() -> NerfField:
    """A NeRF-shaped MLP (encodings of one level): the colour's hidden layer reads the trunk
    (non-negative) and the direction (signed), as nerf-4x256's does."""
    rng = np.random.default_rng(3)

    def dense(name: str, sources: tuple[str, ...], n_in: int, n_out: int, act: str) -> Dense:
        return Dense(name, sources, rng.normal(0, 0.6, (n_in, n_out)).astype(np.float32),
                     np.full(n_out, 0.05, np.float32), act)

    mlp = Mlp({"pos": 9, "dir": 9}, [
        dense("fc0", ("pos",), 9, 20, "relu"), dense("sigma", ("fc0",), 20, 1, "relu"),
        dense("rgb_hidden", ("fc0", "dir"), 29, 12, "relu"),
        dense("rgb", ("rgb_hidden",), 12, 3, "sigmoid")])
    return NerfField(mlp, pos_levels=1, dir_levels=1)


@pytest.fixture(scope="module")
def tiles():  # noqa: ANN201
    field = _field()
    spec = specs.default_spec(TILE, TILE)
    weights = WeightMapping("differential", specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S, 4)
    settings = acc.Nonideality.of(spec, weights)
    mapping = map_model(field.mlp, TileGeometry(TILE, TILE))
    done: list[int] = []
    layers = acc.program(field.mlp, mapping, spec, weights, settings,
                         field.sample_inputs(256, np.random.default_rng(1)), done.append)
    assert sum(done) == sum(m.row_tiles * m.col_tiles for m in mapping.layers)  # the bar's total
    return field, spec, weights, settings, layers


def _samples(n: int, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((n, 3))
    return rng.uniform(-1.2, 1.2, (n, 3)), dirs / np.linalg.norm(dirs, axis=1, keepdims=True)


def test_split_graphs_compose_to_the_whole_mlp() -> None:
    mlp = _field().mlp
    density, colour = split(mlp, "sigma")
    assert colour is not None
    assert [layer.name for layer in density.layers] == ["fc0", "sigma"]
    assert density.outputs == ("sigma", "fc0") and colour.nonnegative == ("fc0",)
    inputs = _field().encode(*_samples(64))
    first = density.forward(inputs)
    second = colour.forward({"fc0": first["fc0"], "dir": inputs["dir"]})
    whole = mlp.forward(inputs)
    np.testing.assert_array_equal(first["sigma"], whole["sigma"])
    np.testing.assert_array_equal(second["rgb"], whole["rgb"])


def test_without_read_noise_it_reads_what_the_per_layer_forward_reads(tiles) -> None:  # noqa: ANN001
    field, spec, weights, settings, layers = tiles
    quiet = dataclasses.replace(settings, read_noise=0.0)
    points, dirs = _samples(700)
    counted: list[int] = []
    # batches of 256: two full ones and a padded third
    sigma, rgb = CrossbarField(field, layers, spec.driver.v_full_v, weights, quiet,
                               batch_rows=256, done=counted.append)(points, dirs)
    hook = forward.AnalogMatmul(layers, spec.driver.v_full_v, weights, quiet, np.float32)
    want_sigma, want_rgb = field.field(points, dirs, matmul=hook)
    inside = np.all(np.abs(points) <= field.bound, axis=1)
    assert sum(counted) == inside.sum()  # the bar counts the samples read
    lit = want_sigma > 0
    assert 0 < lit.sum() < inside.sum()  # some density, not everywhere: both cases read
    np.testing.assert_allclose(sigma, want_sigma, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rgb[lit], want_rgb[lit], rtol=1e-5, atol=1e-6)
    # where the density is 0 a sample weighs nothing in the render: its colour is not read
    assert not rgb[~lit].any()


def test_read_noise_repeats_with_its_seed_and_moves_with_another(tiles) -> None:  # noqa: ANN001
    field, spec, weights, settings, layers = tiles
    points, dirs = _samples(300)
    make = functools.partial(CrossbarField, field, layers, spec.driver.v_full_v, weights)
    first = make(settings)(points, dirs)[0]
    np.testing.assert_array_equal(first, make(settings)(points, dirs)[0])
    other = make(dataclasses.replace(settings, seed=1))(points, dirs)[0]
    assert np.any(first != other)


def test_normals_from_words_are_standard_normal() -> None:
    words = np.random.default_rng(0).bit_generator.random_raw(100_000).view(np.uint32)
    z = np.asarray(normals(words), float)
    # the whole distribution against the normal CDF (closed form), not only its moments
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01


def test_a_step_bar_shows_its_units_and_an_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    progress.show(True)
    try:
        with progress.counting(4, "sample", "render") as bar:
            bar.update(2)
            bar.refresh()  # what a tick draws (tqdm itself draws at most every 0.1 s)
            assert bar.smoothing == 0  # the estimate: the average rate since the start
    finally:
        progress.show(None)
    text = stream.getvalue().replace("\r", "\n")
    assert "render:  50%" in text and "2/4 [" in text and "sample/s]" in text


def test_the_fit_bar_is_redrawn_while_its_first_step_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from spicecim.models import fit

    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setattr(progress, "TICK_S", 0.05)
    mlp = Mlp({"x": 2}, [Dense("y", ("x",), np.ones((2, 1), np.float32),
                                np.zeros(1, np.float32), "none")])
    calls: list[int] = []

    def batches(rng: np.random.Generator) -> tuple[dict, dict]:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.5)  # the first step's work: ten ticks long
        return {"x": rng.uniform(size=(8, 2)).astype(np.float32)}, {"y": np.zeros((8, 1))}

    def loss(out: dict, targets: dict):  # noqa: ANN202
        return ((out["y"] - targets["y"]) ** 2).mean()

    progress.show(True)
    try:
        fit.fit(mlp, batches, loss, fit.FitSettings(3, batch_size=8))
    finally:
        progress.show(None)
    frames = [f for f in stream.getvalue().replace("\r", "\n").split("\n") if "fit (Adam)" in f]
    assert sum("0/3" in f for f in frames) >= 3  # redrawn while nothing had finished
    # moved as steps ended (tqdm may skip drawing 1/3 when the next steps end within its
    # minimum interval, as on a loaded machine); its rate reads s/step or step/s
    assert any(f"{k}/3 [" in f and ("s/step]" in f or "step/s]" in f)
               for f in frames for k in (1, 2, 3))
