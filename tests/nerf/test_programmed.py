"""Tiles programmed once and read back by content (:mod:`spicecim.nerf.programmed`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from spicecim.analog import accuracy as acc
from spicecim.cost.mapping import TileGeometry, map_model
from spicecim.models.mlp import Dense, Mlp
from spicecim.nerf import programmed
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import WeightMapping


def _case() -> tuple:
    rng = np.random.default_rng(0)
    mlp = Mlp({"x": 6}, [
        Dense("fc0", ("x",), rng.normal(0, 1, (6, 5)).astype(np.float32),
              np.zeros(5, np.float32), "relu"),
        Dense("out", ("fc0",), rng.normal(0, 1, (5, 2)).astype(np.float32),
              np.zeros(2, np.float32), "none")])
    spec = specs.default_spec(8, 8)
    weights = WeightMapping("differential", specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S, 4)
    settings = acc.Nonideality.of(spec, weights, ir_aware=True)
    calibration = {"x": rng.normal(0, 1, (64, 6))}
    return mlp, map_model(mlp, TileGeometry(8, 8)), spec, weights, settings, calibration


def _equal(a: dict[str, acc.ProgrammedLayer], b: dict[str, acc.ProgrammedLayer]) -> bool:
    def flat(layers: dict[str, acc.ProgrammedLayer]) -> list:
        return [(name, getattr(t, f.name)) for name, layer in layers.items()
                for t in layer.tiles for f in dataclasses.fields(t)]

    def same(x: object, y: object) -> bool:
        if isinstance(x, slice):
            return x == y
        return np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)

    return all(n == m and same(x, y) for (n, x), (m, y) in zip(flat(a), flat(b), strict=True))


def test_kept_tiles_are_read_back_and_other_settings_program_afresh(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mlp, mapping, spec, weights, settings, calibration = _case()
    fresh = acc.program(mlp, mapping, spec, weights, settings, calibration)
    kept = programmed.programmed_layers(mlp, mapping, spec, weights, settings, calibration,
                                        tmp_path)
    assert _equal(kept, fresh)
    assert len(list((tmp_path / "programmed").glob("*.pkl"))) == 1
    assert list((tmp_path / "transfer").glob("*.npy"))  # every transfer matrix kept too
    calls = []
    real = acc.program
    monkeypatch.setattr(acc, "program", lambda *a, **k: calls.append(1) or real(*a, **k))
    told: list[int] = []
    again = programmed.programmed_layers(mlp, mapping, spec, weights, settings, calibration,
                                         tmp_path, told.append)
    assert _equal(again, fresh) and calls == []
    assert told == [sum(len(layer.tiles) for layer in fresh.values())]
    read_time = dataclasses.replace(settings, adc_bits=2, dac_bits=3, read_noise=0.05,
                                    adc_range="worst", calibrate=False)
    programmed.programmed_layers(mlp, mapping, spec, weights, read_time, calibration, tmp_path)
    assert calls == []  # what happens at read time programs nothing afresh
    other = dataclasses.replace(settings, variation=0.5)
    programmed.programmed_layers(mlp, mapping, spec, weights, other, calibration, tmp_path)
    assert calls == [1] and len(list((tmp_path / "programmed").glob("*.pkl"))) == 2


def test_the_key_follows_every_array_byte_and_field() -> None:
    mlp, mapping, spec, weights, settings, calibration = _case()
    key = programmed.content_key(mlp, mapping, spec, weights, settings, calibration)
    assert key == programmed.content_key(mlp, mapping, spec, weights, settings,
                                         {"x": calibration["x"].copy()})
    nudged = calibration["x"].copy()
    nudged[5, 2] = np.nextafter(nudged[5, 2], np.inf)
    assert key != programmed.content_key(mlp, mapping, spec, weights, settings, {"x": nudged})
    assert key != programmed.content_key(mlp, mapping, spec, weights,
                                         dataclasses.replace(settings, seed=1), calibration)
