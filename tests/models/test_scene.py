"""The NeRF scene subsystem: encoding, volume rendering, and the fitted MLP's fidelity."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spicecim.errors import ResultFileError, SpecError
from spicecim.models.encoding import encoded_dim, positional_encoding
from spicecim.models.fit import FitSettings, cache_key, cached_fit
from spicecim.models.mlp import load_mlp, save_mlp
from spicecim.models.presets import NERF_PRESETS, NerfField, init_mlp
from spicecim.models.scene import Box, Scene, Sphere, default_scene
from spicecim.nerf.render import (
    composite,
    default_view,
    orbit_pose,
    psnr,
    render,
    sample_depths,
    sample_spacing,
    transmittance,
)


def test_encoding_widths_follow_the_paper():
    x = np.zeros((5, 3))
    assert positional_encoding(x, 10).shape == (5, 63) == (5, encoded_dim(3, 10))
    assert positional_encoding(x, 4).shape == (5, 27) == (5, encoded_dim(3, 4))
    assert positional_encoding(x, 4).dtype == np.float32


def test_encoding_values_are_raw_input_then_sin_cos_per_level():
    x = np.array([[0.25, -0.5, 1.0]])
    gamma = positional_encoding(x, 3)[0]
    np.testing.assert_allclose(gamma[:3], x[0])
    for k in range(3):
        block = gamma[3 + 6 * k : 9 + 6 * k]
        np.testing.assert_allclose(block[:3], np.sin(2.0**k * np.pi * x[0]), atol=1e-6)
        np.testing.assert_allclose(block[3:], np.cos(2.0**k * np.pi * x[0]), atol=1e-6)


def test_encoding_rejects_bad_levels():
    with pytest.raises(SpecError, match="n_levels"):
        positional_encoding(np.zeros((1, 3)), -1)


def _slab_field(z0, z1, colour):
    """An opaque slab z0 < z < z1 (m) of one colour."""

    def field(points, dirs):
        inside = (points[:, 2] > z0) & (points[:, 2] < z1)
        return np.where(inside, 1e4, 0.0), np.broadcast_to(colour, points.shape)

    return field


@pytest.mark.parametrize("background", ["white", "black"])
def test_opaque_slab_renders_its_colour(background):
    colour = np.array([0.2, 0.6, 0.9])
    rays = (np.zeros((2, 2, 3)), np.broadcast_to([0.0, 0.0, 1.0], (2, 2, 3)))
    image = render(_slab_field(1.0, 1.5, colour), rays, 64, 0.1, 3.0, background=background)
    np.testing.assert_allclose(image, np.broadcast_to(colour, (2, 2, 3)), atol=1e-9)


@pytest.mark.parametrize(("background", "value"), [("white", 1.0), ("black", 0.0)])
def test_empty_space_shows_the_background(background, value):
    rays = (np.zeros((1, 3)), np.array([[1.0, 0.0, 0.0]]))
    image = render(
        _slab_field(1.0, 1.5, (0.5, 0.5, 0.5)),
        rays,
        16,
        0.1,
        3.0,
        rng=np.random.default_rng(0),
        background=background,
    )
    np.testing.assert_array_equal(image, np.full((1, 3), value))


def test_stratified_samples_stay_in_their_bins():
    t = sample_depths(100, 8, 2.0, 6.0, np.random.default_rng(3))
    bins = np.floor((t - 2.0) / 0.5)
    np.testing.assert_array_equal(bins, np.broadcast_to(np.arange(8), (100, 8)))
    np.testing.assert_allclose(sample_depths(1, 4, 2.0, 6.0, None), [[2.5, 3.5, 4.5, 5.5]])
    np.testing.assert_allclose(
        sample_spacing(np.array([[2.5, 3.5, 4.5, 5.5]]), 6.0), [[1.0, 1.0, 1.0, 0.5]]
    )


_samples = st.integers(1, 24).flatmap(
    lambda n: st.tuples(
        arrays(np.float64, (3, n), elements=st.floats(0.0, 1e3)),
        arrays(np.float64, (3, n), elements=st.floats(0.0, 10.0)),
    )
)


@given(_samples)
def test_transmittance_starts_at_one_and_never_rises(samples):
    sigma, deltas = samples
    trans = transmittance(sigma, deltas)
    np.testing.assert_array_equal(trans[:, 0], 1.0)
    assert np.all(np.diff(trans, axis=1) <= 0.0)
    assert np.all((trans >= 0.0) & (trans <= 1.0))


@given(_samples, st.floats(0.0, 1.0))
def test_grey_field_on_grey_background_is_that_grey(samples, grey):
    """Weights plus the light left over sum to one, whatever the densities."""
    sigma, deltas = samples
    background = "white" if grey > 0.5 else "black"
    level = 1.0 if grey > 0.5 else 0.0
    rgb = np.full(sigma.shape + (3,), level)
    np.testing.assert_allclose(composite(sigma, rgb, deltas, background), level, atol=1e-12)


def test_scene_density_and_colours():
    scene = default_scene()
    centres = np.array([solid.center for solid in scene.solids])
    far = np.full((1, 3), 0.99)
    sigma, rgb = scene.query(np.vstack([centres, far]), np.tile([0.0, 0.0, -1.0], (5, 1)))
    np.testing.assert_allclose(sigma[:4], scene.sigma_max, rtol=1e-2)
    assert sigma[4] < 1e-3
    albedos = np.array([solid.albedo for solid in scene.solids])
    assert np.all(rgb[:4] <= albedos + scene.specular + 1e-12) and np.all(rgb >= 0.0)


def test_scene_validation_names_the_field():
    with pytest.raises(SpecError, match="radius"):
        Sphere(center=(0.0, 0.0, 0.0), radius=-1.0, albedo=(0.5, 0.5, 0.5))
    with pytest.raises(SpecError, match="half_extent"):
        Box(center=(0.0, 0.0, 0.0), half_extent=(0.1, 0.0, 0.1), albedo=(0.5, 0.5, 0.5))
    with pytest.raises(SpecError, match="solids"):
        Scene(solids=())


def test_orbit_camera_looks_at_the_origin():
    pose = orbit_pose(3.0, 0.3, 0.4)
    np.testing.assert_allclose(np.linalg.norm(pose[:3, 3]), 3.0)
    (origins, dirs), near, far = default_view(9, 9, azimuth=0.3, elevation=0.4, radius=3.0)
    np.testing.assert_allclose(origins[4, 4] + 3.0 * dirs[4, 4], 0.0, atol=1e-12)
    assert near == pytest.approx(3.0 - np.sqrt(3.0)) and far == pytest.approx(3.0 + np.sqrt(3.0))


@pytest.mark.parametrize("preset", [*NERF_PRESETS, "mlp:5-7-3"])
def test_save_load_round_trip_is_exact(tmp_path, preset):
    mlp = init_mlp(preset, np.random.default_rng(7))
    path = tmp_path / "mlp.npz"
    if preset in NERF_PRESETS:
        NerfField(mlp, bound=1.2).save(path)
        field = NerfField.load(path)
        assert (field.bound, field.pos_levels, field.dir_levels) == (1.2, 10, 4)
        loaded = field.mlp
    else:
        save_mlp(mlp, path)
        loaded = load_mlp(path)
    assert [p.name for p in tmp_path.iterdir()] == ["mlp.npz"]  # no temp file left behind
    assert (loaded.inputs, loaded.outputs) == (mlp.inputs, mlp.outputs)
    for a, b in zip(mlp.layers, loaded.layers, strict=True):
        assert (a.name, a.sources, a.activation) == (b.name, b.sources, b.activation)
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.bias, b.bias)
        assert b.weight.dtype == np.float32


def test_first_format_files_still_load(tmp_path):
    """A file as spicecim wrote NeRF MLPs before the generic graph (format v1)."""
    mlp = init_mlp("nerf-4x256", np.random.default_rng(3))
    meta = {"format": "spicecim-nerf-mlp-v1", "bound": 1.5, "pos_levels": 10, "dir_levels": 4,
            "layers": [{"name": d.name, "sources": list(d.sources), "activation": d.activation}
                       for d in mlp.layers]}
    arrays = {f"{k}{i}": a for i, d in enumerate(mlp.layers)
              for k, a in (("w", d.weight), ("b", d.bias))}
    np.savez(tmp_path / "v1.npz", meta=np.array(json.dumps(meta)), **arrays)
    field = NerfField.load(tmp_path / "v1.npz")
    assert field.bound == 1.5 and field.mlp.outputs == ("sigma", "rgb")
    np.testing.assert_array_equal(field.mlp.layers[2].weight, mlp.layers[2].weight)


def test_load_rejects_a_foreign_file(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, w0=np.zeros(3))
    with pytest.raises(ResultFileError):
        load_mlp(path)
    save_mlp(init_mlp("mlp:2-2", np.random.default_rng(0)), path)
    with pytest.raises(ResultFileError, match="without NeRF field settings"):
        NerfField.load(path)


def test_matmul_hook_sees_every_layer():
    field = NerfField(init_mlp("nerf", np.random.default_rng(1)))
    rng = np.random.default_rng(2)
    pos, dirs = rng.uniform(-1, 1, (16, 3)), rng.standard_normal((16, 3))
    seen = []

    def matmul(name, x, weight):
        seen.append(name)
        return x @ weight

    hooked = field.field(pos, dirs, matmul=matmul)
    assert seen == [layer.name for layer in field.mlp.layers]
    for a, b in zip(hooked, field.field(pos, dirs), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_field_needs_a_nerf_shaped_graph():
    with pytest.raises(SpecError, match="NeRF inputs"):
        NerfField(init_mlp("mlp:63-4-1", np.random.default_rng(0)))
    with pytest.raises(SpecError, match="NeRF inputs"):
        NerfField(init_mlp("nerf", np.random.default_rng(0)), pos_levels=6)


@pytest.mark.slow
@pytest.mark.parametrize("azimuth", [-0.9, 2.5])
def test_fitted_mlp_renders_like_the_scene(fitted_nerf, azimuth):
    _, field, _ = fitted_nerf
    scene = default_scene()
    rays, near, far = default_view(32, 32, azimuth=azimuth, bound=scene.bound)
    reference = render(scene.query, rays, 64, near, far)
    image = render(field.field, rays, 64, near, far)
    assert psnr(image, reference) >= 25.0


@pytest.mark.slow
def test_cached_fit_reuses_saved_weights(fitted_nerf):
    cache, field, steps = fitted_nerf
    assert len(list(cache.glob("nerf-4x256-*.npz"))) == 1
    again = cached_fit(cache, default_scene(), preset="nerf-4x256", steps=steps, seed=0)
    for a, b in zip(field.mlp.layers, again.mlp.layers, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)


def test_the_cache_key_names_everything_the_fit_depends_on():
    scene = default_scene()
    base = cache_key("nerf-4x256", scene, FitSettings())
    assert base == cache_key("nerf-4x256", scene, FitSettings(time_budget_s=5.0))
    others = [cache_key("nerf", scene, FitSettings()),
              cache_key("nerf-4x256", dataclasses.replace(scene, sigma_max=20.0), FitSettings())]
    others += [cache_key("nerf-4x256", scene, FitSettings(**change)) for change in (
        {"steps": 10}, {"seed": 1}, {"batch_size": 64}, {"learning_rate": 1e-3},
        {"final_rate": 0.5})]
    assert base not in others and len(set(others)) == len(others)
