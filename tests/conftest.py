"""Shared pytest configuration and fixtures: the golden-netlist flag, and the tables the
evaluator tests and the CLI tests share: a small real one from ``spicecim simulate`` (once per
session), and synthetic ones with known per-column figures written through the store.

``make test`` runs the suite on two pytest-xdist workers (``-n 2``) on a two-core machine: each
process, and every process a test starts, gets one BLAS thread (two workers with two OpenBLAS
threads each oversubscribe the cores, and OpenBLAS threads that wait for a descheduled sibling
spin: measured 13x the CPU time on the accuracy pass's 1024 x 64 products), and what costs a
fit or a simulation is made once per session, not once per worker (:func:`_shared`)."""

from __future__ import annotations

import os

# Before numpy loads BLAS, and inherited by every process a test starts.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import dataclasses
import fcntl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from threadpoolctl import threadpool_limits

from spicecim import devices
from spicecim.cli import cli
from spicecim.netlist import spec as specs
from spicecim.netlist.crossbar import SOURCE_GROUPS
from spicecim.netlist.weights import WeightMapping
from spicecim.sim.driver import TILE
from spicecim.store import schema
from spicecim.store.hdf5 import RunWriter


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the golden netlists in tests/netlist/golden/ from the current code.",
    )


def pytest_configure(config: pytest.Config) -> None:
    # numpy may have loaded BLAS before this file set the environment (a plugin importing it)
    threadpool_limits(limits=1, user_api="blas")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _shared(tmp_path_factory: pytest.TempPathFactory, name: str,
            make: Callable[[Path], object]) -> Path:
    """A folder ``name`` that ``make`` fills once per test session: under pytest-xdist in the
    session's temporary root, which every worker shares, the first worker there making it while
    the others wait on a lock and then find it made; without xdist a fresh folder."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    root = tmp_path_factory.getbasetemp().parent  # pytest-N/, above each worker's popen-gwK/
    folder, done = root / name, root / f"{name}.done"
    with _locked(root / f"{name}.lock"):
        if not done.exists():
            folder.mkdir(exist_ok=True)
            make(folder)
            done.touch()
    return folder


REAL_ROWS = REAL_COLS = 16
WEIGHTS = WeightMapping("differential", specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S,
                        specs.DEFAULT_WEIGHT_BITS)


@pytest.fixture(scope="session")
def real_tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16x16 tile simulated in ngspice by the ``simulate`` command (read only: shared)."""

    def simulate(folder: Path) -> None:
        result = CliRunner().invoke(cli, ["simulate", "--rows", str(REAL_ROWS), "--cols",
                                          str(REAL_COLS), "--workers", "2", "--out",
                                          str(folder / "xbar16.h5")], catch_exceptions=False)
        assert result.exit_code == 0, result.output

    return _shared(tmp_path_factory, "real-tables", simulate) / "xbar16.h5"


def synthetic_spec(rows: int = 8, cols: int = 8, t_conv_s: float = 1e-9,
                   e_conv_j: float = 1e-12) -> specs.CrossbarSpec:
    """The default tile with an ADC of these figures and no DAC or clock energy, so a table's
    schedules are the hand arithmetic of its columns."""
    base = specs.default_spec(rows, cols)
    adc = devices.AdcModel(bits=8, t_conv_s=t_conv_s, e_conv_j=e_conv_j)
    sh = dataclasses.replace(base.readout.sample_hold, c_gate_f=0.0)
    return dataclasses.replace(base, readout=dataclasses.replace(base.readout, adc=adc,
                                                                 sample_hold=sh),
                               driver=dataclasses.replace(base.driver, e_conv_j=0.0))


def write_synthetic(path: Path, spec: specs.CrossbarSpec, latency_s: Sequence[float],
                    energy_j: Sequence[float], *, adc_share: int = 4,
                    weights: WeightMapping = WEIGHTS, status: Sequence[str] | None = None,
                    power_w: float = 0.0, row_bias_w: float = 0.0,
                    wordline_e_j: float = 0.0) -> Path:
    """A run file whose tile has exactly these per-column latencies (and activation windows)
    and array energies (all of it in the rows' rail group, which a layer counts as its array
    energy; settled power ``power_w`` per column),
    in the layout ``spicecim simulate`` writes; ``row_bias_w`` and ``wordline_e_j``: its
    periphery per driven row."""
    config = schema.run_config(spec=spec.to_dict(), mapping=dataclasses.asdict(weights),
                               simulation={"adc_share": adc_share}, parameters={"seed": 0},
                               readout={}, data_digest="synthetic")
    writer = RunWriter(path, config, {schema.ATTR_NGSPICE: "synthetic",
                                      schema.ATTR_COMMAND: "tests"})
    adc = spec.readout.adc
    writer.add_tile(TILE, spec.cols, {"spec_digest": spec.digest(), "adc_bits": adc.bits,
                                      "adc_t_conv_s": adc.t_conv_s, "adc_e_conv_j": adc.e_conv_j,
                                      "dac_e_conv_j": spec.driver.e_conv_j,
                                      "sh_e_clock_j": spec.readout.sample_hold.clock_energy_j,
                                      "row_bias_w": row_bias_w, "wordline_e_j": wordline_e_j})
    rows = {}
    for j in range(spec.cols):
        row: dict[str, object] = {"status": "ok" if status is None else status[j],
                                  "latency_s": latency_s[j], "window_s": latency_s[j],
                                  "energy_adc_j": adc.e_conv_j, "energy_sh_j": 0.0}
        row.update({schema.energy_field(g): 0.0 for g in SOURCE_GROUPS})
        row.update({schema.power_field(g): 0.0 for g in SOURCE_GROUPS})
        row[schema.energy_field("rowrail")] = energy_j[j]
        row[schema.power_field("rowrail")] = power_w
        rows[j] = row
    writer.write_columns(TILE, rows)
    return writer.finish()


NERF_FIT_STEPS = 1000  # 10-20 s on 2 cores; enough for the tests' 25 dB float renders


@pytest.fixture(scope="session")
def fitted_nerf(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """(cache folder, NerfField, steps): nerf-4x256 fitted to the built-in scene once per
    session (the other workers load the fit from the cache), in a cache the CLI tests reuse."""
    from spicecim.models.fit import cached_fit
    from spicecim.models.scene import default_scene

    def fit(folder: Path) -> object:
        return cached_fit(folder, default_scene(), steps=NERF_FIT_STEPS, seed=0)

    cache = _shared(tmp_path_factory, "nerf-cache", fit)
    return cache, fit(cache), NERF_FIT_STEPS


@pytest.fixture(scope="session")
def synthetic64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64x64 tile with known figures, of a realistic size for mapping a NeRF MLP: 130
    arrays for nerf-4x256 (16x16 tiles: 2,000), so programming the model is fast. Column j:
    latency (1 + j / 64) ns, array energy (j + 1) fJ; 8-bit ADC, 1 ns and 1 pJ per
    conversion."""
    cols = np.arange(64)
    return write_synthetic(tmp_path_factory.mktemp("tables") / "synthetic64.h5",
                           synthetic_spec(64, 64), (1 + cols / 64) * 1e-9, (cols + 1) * 1e-15)


@pytest.fixture
def make_spec():  # noqa: ANN201 - the helper itself (test modules cannot import conftest)
    return synthetic_spec


@pytest.fixture
def write_table():  # noqa: ANN201
    return write_synthetic


@pytest.fixture
def weights() -> WeightMapping:
    return WEIGHTS


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    """8x8 tile, t_conv 1 ns, 1 pJ per conversion; column j: latency (j + 1) ns, array energy
    (j + 1) fJ."""
    cols = np.arange(1, 9)
    return write_synthetic(tmp_path / "synthetic.h5", synthetic_spec(), cols * 1e-9,
                           cols * 1e-15)
