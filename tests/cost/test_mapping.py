"""The model description and its mapping onto tiles, counted by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spicecim.cost.mapping import TileGeometry, map_layer, map_model
from spicecim.errors import ResultFileError, SpecError
from spicecim.models.mlp import save_mlp
from spicecim.models.presets import (
    init_mlp,
    load_weights,
    preset_graph,
)
from spicecim.models.presets import preset_state_dict as from_state_dict


def test_nerf_on_64x32_tiles_counted_by_hand() -> None:
    """64 rows, 32 columns = 16 differential outputs per tile."""
    mapping = map_model(init_mlp("nerf", np.random.default_rng(0)), TileGeometry(64, 32))
    # (arrays = row tiles x column tiles, devices = fan_in x 2 fan_out, reads)
    by_hand = {
        "fc0": (1 * 16, 63 * 512, 2),  # 63 -> 256, encoded position: signed
        "fc1": (4 * 16, 256 * 512, 1),
        "fc2": (4 * 16, 256 * 512, 1),
        "fc3": (4 * 16, 256 * 512, 1),
        "fc4": (4 * 16, 256 * 512, 1),
        "fc5": (5 * 16, 319 * 512, 2),  # the skip: 63 + 256 inputs, 64+64+64+64+63 rows
        "fc6": (4 * 16, 256 * 512, 1),
        "fc7": (4 * 16, 256 * 512, 1),
        "sigma": (4 * 1, 256 * 2, 1),
        "feature": (4 * 16, 256 * 512, 1),
        "rgb_hidden": (5 * 8, 283 * 256, 2),  # 256 feature (no activation) + 27 direction
        "rgb": (2 * 1, 128 * 6, 1),
    }
    got = {m.name: (m.arrays, m.devices, m.input_phases) for m in mapping.layers}
    assert got == by_hand
    assert mapping.arrays == 16 + 4 * 64 + 80 + 2 * 64 + 4 + 64 + 40 + 2 == 590
    assert mapping.devices == 1_186_816
    assert mapping.utilisation == pytest.approx(1_186_816 / (590 * 64 * 32))
    assert mapping.adcs(8) == {"fully_parallel": 590 * 32, "adc_shared": 590 * 4,
                               "serialized": 590}
    fc5 = mapping.layer("fc5")
    assert fc5.row_counts == (64, 64, 64, 64, 63)
    assert fc5.columns_converted == 2 * 5 * 16 * 32


def test_nerf_4x256_on_256_tiles_has_the_seeds_four_layers() -> None:
    mapping = map_model(init_mlp("nerf-4x256", np.random.default_rng(0)), TileGeometry(256, 256))
    trunk = [mapping.layer(f"fc{i}") for i in range(4)]
    # each trunk layer: one row tile, 512 columns = two tiles of 256 columns, all used
    assert [(m.row_tiles, m.column_counts) for m in trunk] == [(1, (256, 256))] * 4
    assert [m.name for m in mapping.layers] == ["fc0", "fc1", "fc2", "fc3", "sigma",
                                                "rgb_hidden", "rgb"]


def test_reference_scheme_shares_one_column_per_tile() -> None:
    m = map_layer("fc", 10, 20, TileGeometry(8, 8, "reference"))  # 7 outputs + 1 reference
    assert (m.row_tiles, m.col_tiles) == (2, 3)
    assert m.output_counts == (7, 7, 6)
    assert m.column_counts == (8, 8, 7)
    assert m.devices == 10 * 23


@pytest.mark.parametrize(("rows", "cols", "scheme", "field"), [
    (0, 8, "differential", "tile rows"), (8, 7, "differential", "tile cols"),
    (8, 8, "other", "weight scheme")])
def test_bad_tiles_name_the_field(rows: int, cols: int, scheme: str, field: str) -> None:
    with pytest.raises(SpecError, match=field):
        TileGeometry(rows, cols, scheme)


def _state_dict(preset: str, names: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    mlp = init_mlp(preset, np.random.default_rng(4))
    names = names or {}
    state = {}
    for layer in mlp.layers:
        key = names.get(layer.name, layer.name)
        state[f"{key}.weight"] = layer.weight.T  # PyTorch layout (out, in)
        state[f"{key}.bias"] = layer.bias + 0.5
    return state


def test_state_dict_npz_loads_in_pytorch_layout(tmp_path: Path) -> None:
    state = _state_dict("nerf-4x256")
    path = tmp_path / "state.npz"
    np.savez(path, **state)
    mlp = load_weights("nerf-4x256", path)
    np.testing.assert_array_equal(mlp.layers[1].weight, state["fc1.weight"].T)
    np.testing.assert_array_equal(mlp.layers[1].bias, state["fc1.bias"])


def test_reference_code_names_map_onto_the_nerf_preset() -> None:
    names = {**{f"fc{i}": f"pts_linears.{i}" for i in range(8)}, "sigma": "alpha_linear",
             "feature": "feature_linear", "rgb_hidden": "views_linears.0", "rgb": "rgb_linear"}
    state = _state_dict("nerf", names)
    mlp = from_state_dict("nerf", state)
    assert mlp.layers[5].weight.shape == (319, 256)
    np.testing.assert_array_equal(mlp.layers[5].weight, state["pts_linears.5.weight"].T)


def test_foreign_or_incomplete_state_dicts_are_refused() -> None:
    state = _state_dict("nerf-4x256")
    with pytest.raises(SpecError, match="lacks 'fc3.weight'"):
        from_state_dict("nerf-4x256", {k: v for k, v in state.items() if k != "fc3.weight"})
    with pytest.raises(SpecError, match="layers \\['extra'\\]"):
        from_state_dict("nerf-4x256", {**state, "extra.weight": np.zeros((1, 1))})
    with pytest.raises(SpecError, match="fc1.weight.shape"):
        from_state_dict("nerf-4x256", {**state, "fc1.weight": np.zeros((256, 255))})


def test_spicecim_npz_must_hold_the_named_model(tmp_path: Path) -> None:
    path = tmp_path / "mlp.npz"
    mlp = init_mlp("nerf-4x256", np.random.default_rng(1))
    save_mlp(mlp, path)
    np.testing.assert_array_equal(load_weights("nerf-4x256", path).layers[0].weight,
                                  mlp.layers[0].weight)
    with pytest.raises(SpecError, match="another graph"):
        load_weights("nerf", path)
    with pytest.raises(SpecError, match="does not exist"):
        load_weights("nerf", tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_text("junk")
    with pytest.raises(ResultFileError):
        load_weights("nerf", tmp_path / "junk.npz")


def test_pytorch_file_without_pytorch_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    path.write_bytes(b"\0")
    try:
        import torch  # noqa: F401
    except ImportError:
        with pytest.raises(SpecError, match="PyTorch is not installed"):
            load_weights("nerf-4x256", path)
    else:
        with pytest.raises(ResultFileError):
            load_weights("nerf-4x256", path)


def test_pytorch_state_dict_file_round_trip(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    state = _state_dict("nerf-4x256")
    path = tmp_path / "w.pt"
    torch.save({"network_fn_state_dict": {k: torch.from_numpy(v.copy())
                                          for k, v in state.items()}}, path)
    mlp = load_weights("nerf-4x256", path)
    np.testing.assert_array_equal(mlp.layers[0].weight, state["fc0.weight"].T)


def test_preset_names_are_checked() -> None:
    for bad in ("resnet", "mlp:784", "mlp:784-0-10", "mlp:a-b"):
        with pytest.raises(SpecError, match="model"):
            preset_graph(bad)


def test_a_plain_mlp_preset_maps_with_one_read_per_layer_after_the_first() -> None:
    mlp = init_mlp("mlp:100-40-10", np.random.default_rng(0))
    assert mlp.input_widths() == {"x": 100} and mlp.outputs == ("fc1",)
    assert [(d.fan_in, d.fan_out, d.activation) for d in mlp.layers] == [
        (100, 40, "relu"), (40, 10, "none")]
    mapping = map_model(mlp, TileGeometry(64, 32))  # 16 outputs per tile
    fc0, fc1 = mapping.layers
    # the input may be negative (two reads); the hidden layer's ReLU output may not
    assert (fc0.row_counts, fc0.col_tiles, fc0.input_phases) == ((64, 36), 3, 2)
    assert (fc1.row_counts, fc1.col_tiles, fc1.input_phases) == ((40,), 1, 1)
    assert fc1.devices == 40 * 20
