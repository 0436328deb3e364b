"""The array drive: the batched engine's default, the whole tile one circuit. A run's columns
are the full array's (:func:`~spicecim.sim.batched.array.array_column_runs`, computed here in
this process), its spot check runs the coupled decomposition in both engines and records the
decomposition's difference from the array; an interrupted run resumes a tile at a time to the
uninterrupted file; ngspice refuses it; a co-simulation runs on it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from spicecim.cost import cosim
from spicecim.errors import SimulationError, SpecError
from spicecim.measure import measure_column
from spicecim.models.mlp import Dense, Mlp
from spicecim.netlist import spec as specs
from spicecim.netlist.spec import Tile, default_spec
from spicecim.netlist.weights import WeightMapping
from spicecim.sim import check
from spicecim.sim.batched.array import array_column_runs
from spicecim.sim.driver import LayerJob, RunOptions, TileJob, run_job, sim_options, simulate
from spicecim.sim.executors import Cluster, open_pool
from spicecim.sim.sweep import ArrayTask, choose_drive, simulate_array_task
from spicecim.store import schema
from spicecim.store.hdf5 import open_run


def _tile(seed: int, n: int = 8) -> Tile:
    rng = np.random.default_rng(seed)
    return Tile(default_spec(n, n), rng.uniform(1e-6, 40e-6, (n, n)), rng.uniform(0, 1, n))


def test_each_engine_has_its_default_drive_and_ngspice_refuses_the_array() -> None:
    tile = _tile(0)
    assert choose_drive(None, "batched", tile) == "array"
    assert choose_drive(None, "ngspice", tile) == "coupled"
    assert choose_drive("solver", "batched", tile) == "solver"
    with pytest.raises(SpecError, match="drive='array' is invalid") as info:
        choose_drive("array", "ngspice", tile)
    assert "\n" not in str(info.value) and "--engine batched" in str(info.value)
    # a shorted row wire: no full array in the batched engine, so its default is the coupled
    # decomposition, and the array asked for is refused with the reason
    shorted = dataclasses.replace(tile, spec=dataclasses.replace(
        tile.spec, wire=dataclasses.replace(tile.spec.wire, r_row_ohm=0.0)))
    assert choose_drive(None, "batched", shorted) == "coupled"
    with pytest.raises(SpecError, match="resistive row and column wires") as info:
        choose_drive("array", "batched", shorted)
    assert "\n" not in str(info.value)


@pytest.mark.ngspice
def test_an_ngspice_run_on_the_array_drive_is_refused_before_any_file(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    with pytest.raises(SpecError, match="drive='array' is invalid"):
        simulate(_tile(0), out, options=RunOptions(drive="array", engine="ngspice"),
                 workers=1, progress=False)
    assert not list(tmp_path.iterdir())


@pytest.mark.ngspice
def test_a_batched_run_defaults_to_the_full_array_and_checks_its_decomposition(
        tmp_path: Path) -> None:
    tile = _tile(3)
    summary = simulate(tile, tmp_path / "run.h5", options=RunOptions(engine="batched",
                                                                     check_columns=2),
                       workers=1, progress=False)
    with summary.open() as run:
        assert run.config["simulation"]["drive"] == "array"
        assert run.tile_attrs("tile0").drive == "array"
        table = run.columns("tile0")
    with h5py.File(summary.path) as f:
        engine = json.loads(f.attrs[schema.ATTR_ENGINE_CHECK])
        decomposition = json.loads(f.attrs[schema.ATTR_DECOMPOSITION_CHECK])
    # the stored columns are the full array's, measured as any column is
    runs = array_column_runs(tile, sim_options(tile))
    figures = [measure_column(r.time_s, r.v_out_v, r.v_in_v, r.power_w, tile.readout,
                              rise_s=tile.spec.driver.rise_s) for r in runs]
    np.testing.assert_allclose(table["latency_s"], [m.latency_s for m in figures], rtol=1e-9)
    np.testing.assert_allclose(table["v_final_v"], [m.v_final_v for m in figures], rtol=1e-9)
    for part in schema.ENERGY_PARTS:
        np.testing.assert_allclose(table[schema.energy_field(part)],
                                   [m.energy_j[part] for m in figures], rtol=1e-9, atol=1e-30)
    assert all("full array" in s for s in table["ngspice_options"])
    # the engines agree on the coupled decomposition of the checked columns; the
    # decomposition's own difference from the array is recorded, for the same columns
    assert summary.check is not None and not summary.check.failures()
    assert engine["worst"]["latency"] <= check.LATENCY_TOL
    checked = sorted(d["column"] for d in engine["columns"])
    assert sorted(d["column"] for d in decomposition["columns"]) == checked
    assert decomposition["worst"]["latency"] > 0  # a model of the array, not the array
    assert "coupled decomposition against the full array" in summary.check.summary()


@pytest.mark.ngspice
def test_a_tile_the_full_array_fails_on_runs_on_the_coupled_decomposition_saying_so() -> None:
    # the test hook's column has no operating point, so neither has the array that holds it:
    # the tile's columns go to the coupled decomposition, the hook's on to ngspice, which fails it
    tile = _tile(5, 4)
    runs = simulate_array_task(ArrayTask(tile, (0, 2), sim_options(tile), frozenset({2})))
    assert [(r.column, r.status) for r in runs] == [(0, "ok"), (2, "failed")]
    assert all(r.message.startswith("full array failed (the test hook") for r in runs)
    assert not any("full array" in r.ngspice_options for r in runs)


@pytest.mark.ngspice
def test_an_interrupted_array_run_resumes_a_tile_at_a_time_to_the_same_file(
        tmp_path: Path, fails_after) -> None:  # noqa: ANN001
    tiles = [TileJob(f"t{k}", _tile(10 + k)) for k in range(2)]
    layers = [LayerJob(f"l{k}", (t.name,)) for k, t in enumerate(tiles)]
    options = RunOptions(engine="batched", check_columns=0)
    runs = {name: tmp_path / f"{name}.h5" for name in ("reference", "interrupted")}
    with open_pool(Cluster(workers=1)) as pool:
        common = {"reference": tiles[0].tile, "options": options, "workers": 1,
                  "progress": False}
        run_job(tiles, layers, runs["reference"], executor=pool.executor, **common)
        with pytest.raises(SimulationError, match="a simulation worker died"):
            run_job(tiles, layers, runs["interrupted"],
                    executor=fails_after(pool.executor, 1), **common)
        with open_run(runs["interrupted"]) as run:
            pending = {t.name: len(run.pending(t.name)) for t in tiles}
        assert sorted(pending.values()) == [0, 8]  # the first tile's task came back whole
        summary = run_job(tiles, layers, runs["interrupted"], executor=pool.executor, **common)
    assert (summary.simulated, summary.kept) == (8, 8)
    with open_run(runs["reference"]) as a, open_run(runs["interrupted"]) as b:
        for t in tiles:
            for name in a.columns(t.name).data:
                if name != "cpu_s":
                    np.testing.assert_array_equal(b.columns(t.name)[name],
                                                  a.columns(t.name)[name], err_msg=name)


@pytest.mark.ngspice
def test_a_cosimulation_on_the_batched_engine_runs_on_the_array_drive(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    mlp = Mlp({"x": 8}, [Dense("fc0", ("x",), rng.normal(0, 0.5, (8, 4)).astype(np.float32),
                               np.zeros(4, np.float32), "none")])
    x = rng.uniform(0, 1, (2, 8)).astype(np.float32)
    weights = WeightMapping("differential", specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S,
                            specs.DEFAULT_WEIGHT_BITS)
    plan = cosim.Plan(mlp, default_spec(8, 8), weights, {"x": x}, {"x": x}, model="test",
                      description="test inputs")
    summary = cosim.cosimulate(plan, tmp_path / "cosim.h5",
                               options=RunOptions(engine="batched", check_columns=1),
                               workers=1, progress=False)
    assert not summary.failures and summary.check is not None and summary.check.decomposition
    with summary.open() as run:
        assert run.config["simulation"]["drive"] == "array"
        names = run.tiles()
        # the tile under each sample and input phase, an array task each
        assert len(names) == len(cosim.jobs(plan)[0]) > 1
        for name in names:
            assert all("full array" in s for s in run.columns(name)["ngspice_options"])
