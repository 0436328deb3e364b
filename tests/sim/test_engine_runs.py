"""Runs on the batched engine: recorded as such, spot-checked against ngspice (the check
stored, printed, and failing the run with exit 1 naming the column when over the tolerance),
Monte Carlo and an interrupted run that resumes to the uninterrupted file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from spicecim.cli import cli
from spicecim.errors import SimulationError
from spicecim.netlist.spec import Tile, default_spec
from spicecim.sim import check
from spicecim.sim.driver import RunOptions, simulate
from spicecim.sim.executors import Cluster, open_pool
from spicecim.store import schema
from spicecim.store.hdf5 import open_run

TILE = ["simulate", "--rows", "8", "--cols", "8", "--workers", "1", "--engine", "batched"]


@pytest.mark.ngspice
def test_a_batched_run_records_its_engine_and_its_check_against_ngspice(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    result = CliRunner().invoke(cli, [*TILE, "--mc", "2", "--out", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "engine check against ngspice (12 columns)" in result.output
    with open_run(out) as run:
        assert run.complete
        assert run.provenance[schema.ATTR_ENGINE] == "batched"
        assert run.config["simulation"]["engine"] == "batched"
        assert len(run.tiles()) == 3  # the tile and its two replicas, all simulated
        for t in run.tiles():
            assert set(run.columns(t)["status"]) == {"ok"}
    import h5py

    with h5py.File(out) as f:
        stored = json.loads(f.attrs[schema.ATTR_ENGINE_CHECK])
    assert len(stored["columns"]) == 3 * 4  # four columns of each of the three tiles
    worst = stored["worst"]
    assert worst["latency"] <= check.LATENCY_TOL and worst["energy"] <= check.ENERGY_TOL
    assert worst["final_lsb"] <= check.FINAL_TOL_LSB


@pytest.mark.ngspice
def test_a_disagreement_over_the_tolerance_exits_one_naming_the_column(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No two solvers agree to the last bit: at a zero tolerance every checked column fails.
    monkeypatch.setattr(check, "LATENCY_TOL", 0.0)
    out = tmp_path / "run.h5"
    result = CliRunner().invoke(cli, [*TILE, "--check-columns", "1", "--out", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 1
    assert "disagrees with ngspice" in result.output and "tile0 column" in result.output
    with open_run(out) as run:  # stored all the same, with the disagreement
        assert run.complete


def test_the_checked_columns_are_the_slowest_the_fastest_and_seeded_others() -> None:
    table = {"column": np.arange(10), "status": np.array(["ok"] * 9 + ["failed"]),
             "latency_s": np.array([5, 1, 9, 3, 4, 6, 2, 8, 7, 99.0])}
    picked = check.pick_columns(table, 4, "00ff00ff")
    assert picked[:2] == [2, 1] and len(set(picked)) == 4 and 9 not in picked
    assert check.pick_columns(table, 4, "00ff00ff") == picked
    assert check.pick_columns(table, 0, "00ff00ff") == []


@pytest.mark.ngspice
def test_an_interrupted_batched_run_resumes_to_the_uninterrupted_file(
        tmp_path: Path, fails_after) -> None:  # noqa: ANN001
    rng = np.random.default_rng(3)
    spec = default_spec(8, 8)
    tile = Tile(spec, rng.uniform(1e-6, 40e-6, (8, 8)), rng.uniform(0, 1, 8))
    options = RunOptions(drive="coupled", engine="batched", check_columns=1)
    runs = {name: tmp_path / f"{name}.h5" for name in ("reference", "interrupted")}
    with open_pool(Cluster(workers=1)) as pool:
        common = {"executor": pool.executor, "workers": 1, "columns_per_task": 2,
                  "progress": False}
        simulate(tile, runs["reference"], options=options, **common)
        with pytest.raises(SimulationError, match="a simulation worker died"):
            simulate(tile, runs["interrupted"], options=options,
                     **{**common, "executor": fails_after(pool.executor, 2)})
        with open_run(runs["interrupted"]) as run:
            pending = len(run.pending("tile0"))
        assert 0 < pending < 8
        summary = simulate(tile, runs["interrupted"], options=options, **common)
    assert (summary.simulated, summary.kept) == (pending, 8 - pending)
    with open_run(runs["reference"]) as a, open_run(runs["interrupted"]) as b:
        for name in a.columns("tile0").data:
            if name != "cpu_s":
                np.testing.assert_array_equal(b.columns("tile0")[name], a.columns("tile0")[name],
                                              err_msg=name)


@pytest.mark.ngspice
def test_columns_the_batched_engine_does_not_solve_go_to_ngspice() -> None:
    """The dynamic memristor model (gap and heat as state) is ngspice's alone."""
    from spicecim.sim.driver import sim_options
    from spicecim.sim.sweep import ColumnTask, row_drives, simulate_task

    rng = np.random.default_rng(4)
    spec = default_spec(4, 2, state="dynamic")
    tile = Tile(spec, rng.uniform(1e-6, 40e-6, (4, 2)), rng.uniform(0, 1, 4))
    drives = tuple(row_drives(tile, "isolated"))
    runs = simulate_task(ColumnTask(tile, (0, 1), drives, sim_options(tile), engine="batched"))
    assert [r.status for r in runs] == ["ok", "ok"]
    assert not any("engine=batched" in r.ngspice_options for r in runs)


@pytest.mark.ngspice
@pytest.mark.slow
def test_a_model_co_simulates_on_the_batched_engine(tmp_path: Path) -> None:
    """Every tile of ``mlp:16-8-8`` under two inputs, each tile's inputs solved together."""
    inputs = tmp_path / "inputs.npy"
    np.save(inputs, np.random.default_rng(5).uniform(0, 1, (4, 16)))
    out = tmp_path / "cosim.h5"
    result = CliRunner().invoke(cli, [
        "simulate", "--rows", "16", "--cols", "16", "--workers", "1", "--model", "mlp:16-8-8",
        "--inputs", "2", "--inputs-file", str(inputs), "--engine", "batched", "--out", str(out)],
        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "engine check against ngspice" in result.output
    with open_run(out) as run:
        assert run.complete and run.provenance[schema.ATTR_ENGINE] == "batched"
        for t in run.tiles():
            assert set(run.columns(t)["status"]) == {"ok"}
            assert all("engine=batched" in o for o in run.columns(t)["ngspice_options"])
