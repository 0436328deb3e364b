"""``spicecim simulate --mc N --seed S``: replicas with programming variation and the spread of
each schedule's latency and energy."""

from __future__ import annotations

import concurrent.futures as cf
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from spicecim.analog import accuracy
from spicecim.cli import cli
from spicecim.cost import cosim
from spicecim.devices import AdcModel
from spicecim.errors import SimulationError
from spicecim.measure import SCHEDULES, LayerSchedule, schedule_layer
from spicecim.netlist import weights
from spicecim.netlist.spec import Tile, default_spec
from spicecim.sim.driver import RunOptions, simulate
from spicecim.sim.executors import Cluster, open_pool
from spicecim.sim.montecarlo import PERCENTILES, replica, replica_tile, spread_layer
from spicecim.store import schema
from spicecim.store.hdf5 import Run, open_run


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _tile(rows: int, cols: int) -> Tile:
    spec = default_spec(rows, cols)
    mapping = weights.default_mapping(spec)  # the programming range sigma_G is fitted on
    rng = np.random.default_rng(0)
    g = rng.uniform(mapping.g_min_s, mapping.g_max_s, (rows, cols))
    return Tile(spec, g, rng.uniform(0, 1, rows))


def test_one_variation_formula_below_the_simulator() -> None:
    assert accuracy.programming_sigma_s is weights.programming_sigma_s
    assert cosim.programming_sigma_s is weights.programming_sigma_s


def test_a_replica_varies_each_cell_by_its_sigma() -> None:
    tile = _tile(64, 64)
    first = replica(tile, 1, seed=7)
    np.testing.assert_array_equal(first.g_s, replica(tile, 1, seed=7).g_s)  # reproducible
    assert not np.array_equal(first.g_s, replica(tile, 2, seed=7).g_s)
    assert not np.array_equal(first.g_s, replica(tile, 1, seed=8).g_s)
    np.testing.assert_array_equal(first.x_in, tile.x_in)
    mem = tile.spec.cell.memristor
    assert first.g_s.min() >= mem.g_off_s and first.g_s.max() <= mem.g_on_s
    g_max_s = weights.default_mapping(tile.spec).g_max_s
    z = (first.g_s - tile.g_s) / weights.programming_sigma_s(tile.g_s, g_max_s)
    inside = (first.g_s > mem.g_off_s) & (first.g_s < mem.g_on_s)
    assert abs(np.mean(z[inside])) < 0.05 and abs(np.std(z[inside]) - 1) < 0.05


def _replica_schedules(run: Run, tile: str, adc_share: int, rows: int) -> list[LayerSchedule]:
    """A replica's schedules recomputed from its stored column table and tile attributes."""
    attrs = run.tile_attrs(tile)
    adc = AdcModel(bits=attrs.adc_bits, t_conv_s=attrs.adc_t_conv_s,
                   e_conv_j=attrs.adc_e_conv_j,
                   ref_fraction=attrs.adc_ref_e_conv_j / attrs.adc_e_conv_j)
    return schedule_layer(run.column_figures(tile), adc, adc_share, rows=rows,
                          dac_e_conv_j=attrs.dac_e_conv_j, sh_e_clock_j=attrs.sh_e_clock_j,
                          row_bias_w=attrs.row_bias_w, wordline_e_j=attrs.wordline_e_j)


@pytest.mark.ngspice
def test_mc_stores_replicas_and_the_percentiles_of_each_schedule(tmp_path: Path) -> None:
    out = tmp_path / "mc.h5"
    args = ["simulate", "--rows", "8", "--cols", "8", "--seed", "2", "--mc", "3",
            "--adc-share", "4", "--out", str(out)]
    result = _invoke(*args, "--dask-local", "2")
    assert result.exit_code == 0, result.output
    assert "32 columns simulated, 0 kept from an earlier run (3 Monte Carlo replicas)" \
        in result.stdout
    for p in PERCENTILES:
        assert f"{spread_layer(p)} (tile0_mc0001, tile0_mc0002, tile0_mc0003):" in result.stdout
    names = [replica_tile(k) for k in (1, 2, 3)]
    with open_run(out) as run:
        assert run.complete
        assert run.tiles() == ["tile0", *names]
        assert run.config["parameters"]["monte_carlo"]["replicas"] == 3
        digests = {run.tile_attrs(t).data_digest for t in run.tiles()}
        assert len(digests) == 4  # every replica programmed differently
        per_replica = [_replica_schedules(run, t, 4, 8) for t in names]
        parts = [f"energy_{part}_j" for part in schema.LAYER_ENERGY_PARTS]
        for p in PERCENTILES:
            layer = run.layer(spread_layer(p))
            assert run.layer_tiles(spread_layer(p)) == names
            assert list(dict.fromkeys(layer["schedule"])) == list(SCHEDULES)
            for i in range(len(layer)):
                for name in ("latency_s", "rows_on_s", *parts):
                    values = [getattr(r[i], name) for r in per_replica]
                    assert layer[name][i] == pytest.approx(np.percentile(values, p), rel=1e-12)
                # the total of a spread row is the sum of its parts' percentiles
                assert layer["energy_j"][i] == pytest.approx(sum(layer[n][i] for n in parts))
        low, mid, high = (run.layer(spread_layer(p))["energy_j"] for p in PERCENTILES)
        assert np.all(low <= mid) and np.all(mid <= high) and np.all(low < high)

    # The executor is not part of the run: the same command on the local pool keeps it all.
    again = _invoke(*args, "--workers", "2", "--json")
    info = json.loads(again.stdout)
    assert (info["simulated"], info["kept"]) == (0, 32)
    refused = CliRunner().invoke(cli, [*args[:-4], "--mc", "4", "--out", str(out)])
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1
    assert "parameters.monte_carlo.replicas: 3 -> 4" in refused.stderr


@pytest.mark.ngspice
def test_an_interrupted_mc_is_never_complete_and_resumes_to_the_same_tables(
        tmp_path: Path, fails_after) -> None:  # noqa: ANN001
    tile = _tile(8, 8)
    options = RunOptions(monte_carlo=2)
    runs = {name: tmp_path / f"{name}.h5" for name in ("reference", "interrupted")}
    with open_pool(Cluster(workers=2)) as pool:
        common = {"executor": pool.executor, "workers": pool.workers, "columns_per_task": 2,
                  "progress": False}
        simulate(tile, runs["reference"], options=options, **common)
        broken = {**common, "executor": fails_after(pool.executor, 5)}
        with pytest.raises(SimulationError, match="a simulation worker died"):
            simulate(tile, runs["interrupted"], options=options, **broken)
        assert not runs["interrupted"].exists()  # never complete without every replica
        with open_run(runs["interrupted"]) as run:  # its journal
            assert not run.complete
            pending = sum(len(run.pending(t)) for t in ("tile0", replica_tile(1),
                                                        replica_tile(2)))
        assert 0 < pending < 24
        summary = simulate(tile, runs["interrupted"], options=options, **common)
    assert (summary.simulated, summary.kept) == (pending, 24 - pending)
    with open_run(runs["reference"]) as a, open_run(runs["interrupted"]) as b:
        assert a.complete and b.complete and a.tiles() == b.tiles() == [
            "tile0", replica_tile(1), replica_tile(2)]
        for t in a.tiles():
            for name in a.columns(t).data:
                if name != "cpu_s":
                    np.testing.assert_array_equal(b.columns(t)[name], a.columns(t)[name])
        assert a.layers() == b.layers()
        for layer in a.layers():
            for name in a.layer(layer).data:
                np.testing.assert_array_equal(b.layer(layer)[name], a.layer(layer)[name])


class _Failing(cf.Executor):
    """Fails every task at once, as a broken pool does."""

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:  # noqa: ANN001, ANN003
        future: cf.Future = cf.Future()
        future.set_exception(SimulationError("a simulation worker died"))
        return future


@pytest.mark.ngspice
def test_a_failing_executor_stops_the_run_and_a_rerun_completes(tmp_path: Path) -> None:
    tile = _tile(4, 4)
    out = tmp_path / "mc.h5"
    options = RunOptions(monte_carlo=6)
    with pytest.raises(SimulationError, match="a simulation worker died"):
        simulate(tile, out, options=options, executor=_Failing(), workers=2, progress=False)
    journal = out.with_name(out.name + schema.JOURNAL_SUFFIX)
    assert journal.exists() and not out.exists()
    summary = simulate(tile, out, options=options, workers=2, progress=False)
    assert (summary.simulated, summary.kept, summary.failures) == (28, 0, [])
    with open_run(out) as run:
        assert run.complete and len(run.tiles()) == 7
