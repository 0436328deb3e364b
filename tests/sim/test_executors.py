"""The sweep on Dask: a LocalCluster gives the local pool's results, a worker killed mid-sweep
loses no column, and a cluster that cannot run spicecim says which worker and why."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import dask
import distributed
import numpy as np
import pytest
from click.testing import CliRunner, Result

from spicecim.cli import cli
from spicecim.errors import SimulationError, SimulatorNotFoundError, SpecError
from spicecim.netlist.spec import Tile, default_spec
from spicecim.netlist.weights import WeightMapping
from spicecim.sim.driver import sim_options
from spicecim.sim.executors import (
    COLUMN_S_PER_ROW,
    MIN_TASK_S,
    SCHEDULER_ENV,
    Cluster,
    DaskExecutor,
    Pool,
    open_pool,
)
from spicecim.sim.ngspice import find_library
from spicecim.sim.scales import SimOptions
from spicecim.sim.sweep import row_drives, sweep
from spicecim.store.hdf5 import open_run


def _invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def _local_cluster(workers: int, **kwargs: object) -> distributed.LocalCluster:
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                    dashboard_address="127.0.0.1:0", **kwargs)


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    with _local_cluster(2) as c:
        yield c


# --- options ------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["tcp://10.0.0.7:8786", "tls://head-node:8786",
                                     "tcp://[::1]:8786"])
def test_scheduler_addresses_are_accepted(address: str) -> None:
    assert Cluster(scheduler=address).scheduler == address


@pytest.mark.parametrize("kwargs, message", [
    ({"scheduler": "10.0.0.7:8786"}, "expected tcp://HOST:PORT"),
    ({"scheduler": "tcp://host"}, "expected tcp://HOST:PORT"),
    ({"scheduler": "tcp://host:0"}, "expected tcp://HOST:PORT"),
    ({"scheduler": "inproc://host:1"}, "expected tcp://HOST:PORT"),
    ({"dask_local": 0}, "dask_local=0 is invalid"),
    ({"workers": -1}, "workers=-1 is invalid"),
    ({"scheduler": "tcp://h:1", "dask_local": 2}, "not several"),
    ({"dask_local": 2, "workers": 2}, "not several"),
])
def test_bad_executor_options_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        Cluster(**kwargs)


def test_the_environment_names_the_scheduler_only_without_options() -> None:
    env = {SCHEDULER_ENV: "tcp://head:8786"}
    assert Cluster.from_options(None, None, None, env).scheduler == "tcp://head:8786"
    assert Cluster.from_options(None, None, 4, env) == Cluster(workers=4)
    assert Cluster.from_options(None, 2, None, env) == Cluster(dask_local=2)
    assert Cluster.from_options("tcp://other:1", None, None, env).scheduler == "tcp://other:1"
    assert Cluster.from_options(None, None, None, {}) == Cluster()


@pytest.mark.parametrize("workers, rows, cols, per_task", [
    (2, 128, 128, 32),  # 4 tasks of 0.33 s
    (2, 256, 256, 32),  # 4 per worker, 0.66 s each
    (3, 128, 128, 43),  # 3 tasks, one per worker, rather than 4 (a lone last one)
    (64, 256, 256, 16),  # the work fills 16 tasks of 0.3 s, not 64 shorter ones
    (2, 32, 32, 32),  # less work than one task's worth: one task
])
def test_dask_tasks_hold_enough_columns_to_outweigh_their_overhead(
        workers: int, rows: int, cols: int, per_task: int) -> None:
    assert Pool(object(), workers, "local").columns_per_task(rows, cols) is None  # type: ignore[arg-type]
    pool = Pool(object(), workers, "dask", MIN_TASK_S)  # type: ignore[arg-type]
    assert pool.columns_per_task(rows, cols) == per_task
    tasks = -(-cols // per_task)
    assert tasks == 1 or per_task * rows * COLUMN_S_PER_ROW >= MIN_TASK_S


# --- on a cluster -------------------------------------------------------------------------------


def _same_runs(a: Path, b: Path) -> None:
    with open_run(a) as ra, open_run(b) as rb:
        assert ra.complete and rb.complete and ra.config == rb.config
        ta, tb = ra.columns("tile0"), rb.columns("tile0")
        assert list(ta["status"]) == ["ok"] * len(ta)
        for name in ta.data:
            if name != "cpu_s":  # a timing, not a result
                np.testing.assert_array_equal(ta[name], tb[name], err_msg=name)
        for name in ra.layer("layer0").data:
            np.testing.assert_array_equal(ra.layer("layer0")[name], rb.layer("layer0")[name])


@pytest.mark.ngspice
def test_a_local_cluster_gives_the_local_pool_results(cluster: distributed.LocalCluster,
                                                      tmp_path: Path) -> None:
    tile = ["simulate", "--rows", "32", "--cols", "32"]
    address = cluster.scheduler_address
    on_dask = _invoke(*tile, "--scheduler", address, "--out", str(tmp_path / "dask.h5"))
    assert on_dask.exit_code == 0, on_dask.output
    local = _invoke(*tile, "--workers", "2", "--out", str(tmp_path / "local.h5"))
    assert local.exit_code == 0, local.output
    _same_runs(tmp_path / "dask.h5", tmp_path / "local.h5")
    with open_run(tmp_path / "dask.h5") as run:
        assert f"--scheduler {address}" in run.provenance["command_line"]
    assert on_dask.stdout.split("\n", 1)[1] == local.stdout.split("\n", 1)[1]

    small = ["simulate", "--rows", "4", "--cols", "4"]
    from_env = _invoke(*small, "--out", str(tmp_path / "env.h5"), env={SCHEDULER_ENV: address})
    assert from_env.exit_code == 0, from_env.output
    assert _invoke(*small, "--workers", "1", "--out", str(tmp_path / "env1.h5")).exit_code == 0
    _same_runs(tmp_path / "env.h5", tmp_path / "env1.h5")


def _tile(rows: int, cols: int) -> tuple[Tile, SimOptions]:
    spec = default_spec(rows, cols)
    mem = spec.cell.memristor
    mapping = WeightMapping("differential", max(1e-5, mem.g_off_s), min(1e-4, mem.g_on_s), 4)
    rng = np.random.default_rng(1)
    tile = Tile(spec, mapping.to_conductances(rng.uniform(-1, 1, (rows, cols // 2))),
                rng.uniform(0, 1, rows))
    return tile, sim_options(tile)


def _wait_for(condition: Callable[[], bool], failure: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.05)


@pytest.mark.ngspice
@pytest.mark.slow
def test_killing_a_worker_mid_sweep_loses_no_column() -> None:
    tile, options = _tile(64, 32)
    drives = row_drives(tile, "isolated")
    columns: list[int] = []
    runs = {}
    with _local_cluster(2) as c, distributed.Client(c, set_as_default=False) as client:
        killed_after = None
        # Two columns per task (about 0.03 s each at 64 rows): 16 tasks, so most are still to
        # run at the kill.
        for batch in sweep(tile, drives, options, executor=DaskExecutor(client),
                           columns_per_task=2):
            columns += [r.column for r in batch]
            runs.update({r.column: r for r in batch})
            if killed_after is None:
                busy = next(w for w, keys in client.processing().items() if keys)
                pid = client.run(os.getpid, workers=[busy])[busy]
                os.kill(pid, signal.SIGKILL)
                killed_after = len(columns)
        # What the killed worker was running (or held, finished) ran again elsewhere.
        starts = Counter(t.key for t in c.scheduler.transition_log if t.finish == "processing")
        # Each result left the cluster's memory once it had come back.
        _wait_for(lambda: not c.scheduler.tasks, "the cluster still holds results")
        client.wait_for_workers(2, timeout=60)  # the nanny's restart, before the cluster closes
    assert killed_after is not None and 0 < killed_after <= 8
    assert any(n > 1 for n in starts.values()), "no task ran twice: the kill came too late"
    assert sorted(columns) == list(range(32))  # every column exactly once
    assert all(r.status == "ok" for r in runs.values())
    with open_pool(Cluster(workers=2)) as pool:
        reference = {r.column: r for batch in sweep(tile, drives, options,
                                                    executor=pool.executor) for r in batch}
    for j in range(32):
        np.testing.assert_array_equal(runs[j].v_out_v, reference[j].v_out_v, err_msg=str(j))


@pytest.mark.ngspice
def test_a_worker_without_ngspice_is_named(tmp_path: Path) -> None:
    broken = {"NGSPICE_LIBRARY_PATH": str(tmp_path / "no-libngspice.so")}
    with _local_cluster(1, env=broken) as c:
        worker = next(iter(c.scheduler.workers))
        out = tmp_path / "run.h5"
        result = CliRunner().invoke(cli, ["simulate", "--rows", "4", "--cols", "4",
                                          "--scheduler", c.scheduler_address, "--out", str(out)])
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1
        assert f"ngspice is missing on 1 of 1 Dask workers: {worker}: NGSPICE_LIBRARY_PATH=" \
               in result.stderr
        assert list(tmp_path.iterdir()) == []
        # A worker that joins after the check fails its first task, naming itself.
        with distributed.Client(c, set_as_default=False) as client:
            error = DaskExecutor(client).submit(find_library).exception(timeout=60)
        assert isinstance(error, SimulatorNotFoundError)
        assert str(error).startswith(f"Dask worker {worker}: NGSPICE_LIBRARY_PATH=")


@pytest.mark.ngspice
def test_lost_and_cancelled_tasks_are_spicecim_errors() -> None:
    # No second try: the first worker death makes the task lost (Dask's KilledWorker).
    with (dask.config.set({"distributed.scheduler.allowed-failures": 0}),
          _local_cluster(1) as c, distributed.Client(c, set_as_default=False) as client):
        executor = DaskExecutor(client)
        error = executor.submit(os._exit, 1).exception(timeout=60)
        assert isinstance(error, SimulationError)
        assert "died" in str(error) and "rerun the same command to resume" in str(error)

        slow = executor.submit(time.sleep, 60)
        assert slow.cancel()
        _wait_for(lambda: not any(client.processing().values()), "the cancelled task runs on")
        executor.shutdown()


@pytest.mark.ngspice
@pytest.mark.slow
def test_the_batched_engine_runs_on_a_cluster_as_on_the_local_pool(
        cluster: distributed.LocalCluster, tmp_path: Path) -> None:
    tile = ["simulate", "--rows", "8", "--cols", "8", "--engine", "batched"]
    on_dask = _invoke(*tile, "--scheduler", cluster.scheduler_address,
                      "--out", str(tmp_path / "dask.h5"))
    assert on_dask.exit_code == 0, on_dask.output
    local = _invoke(*tile, "--workers", "2", "--out", str(tmp_path / "local.h5"))
    assert local.exit_code == 0, local.output
    _same_runs(tmp_path / "dask.h5", tmp_path / "local.h5")
    assert "engine check against ngspice" in on_dask.stdout
