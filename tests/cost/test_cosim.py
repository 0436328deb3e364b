"""The model co-simulated in ngspice: a two-layer MLP on 16x16 tiles against the same tiles
built by hand and run through the single-tile path; a layer of zero inputs; sparser
activations; the evaluator refusing another model's co-simulation."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from spicecim.analog import accuracy as acc
from spicecim.cost import cosim, inputs
from spicecim.cost.mapping import TileGeometry, map_model
from spicecim.cost.schedule import DigitalAdder
from spicecim.cost.slicing import target_conductances
from spicecim.errors import ResultFileError, SpecError
from spicecim.measure import periphery, schedule_layer
from spicecim.models.mlp import Dense, Mlp
from spicecim.netlist import spec as specs
from spicecim.netlist.crossbar import Op, build_column
from spicecim.netlist.weights import WeightMapping
from spicecim.report.text import render_model
from spicecim.sim import driver
from spicecim.sim.driver import RunOptions
from spicecim.solve import calibration_drive, with_calibrated_range
from spicecim.store.hdf5 import open_run

ROWS = COLS = 16
SPEC = specs.default_spec(ROWS, COLS)
WEIGHTS = WeightMapping("differential", specs.DEFAULT_G_MIN_S, specs.DEFAULT_G_MAX_S,
                        specs.DEFAULT_WEIGHT_BITS)
OPTIONS = RunOptions(adc_share=4)
# Figures a layer's hand arithmetic is compared on (the stored float64 rows).
FIGURES = ("latency_s", "t_sample_s", "rows_on_s", "energy_dac_j", "energy_rowbias_j",
           "energy_array_j", "energy_wordline_j", "energy_frontend_j", "energy_sh_j",
           "energy_adc_j", "energy_adcref_j", "energy_j", "conversions")


def _mlp(seed: int = 0, bias0: float = 0.1) -> Mlp:
    """x (16, signed) -> fc0 (8, relu) -> fc1 (8): fc0 fills a 16x16 tile and reads its signed
    input in two phases; fc1 uses 8 rows of one tile."""
    rng = np.random.default_rng(seed)
    w0 = rng.normal(0, 0.5, (16, 8)).astype(np.float32)
    w1 = rng.normal(0, 0.5, (8, 8)).astype(np.float32)
    return Mlp({"x": 16}, [
        Dense("fc0", ("x",), w0, np.full(8, bias0, np.float32), "relu"),
        Dense("fc1", ("fc0",), w1, np.zeros(8, np.float32), "none")])


def _plan(mlp: Mlp, x: np.ndarray, samples: int) -> cosim.Plan:
    return cosim.Plan(mlp, SPEC, WEIGHTS, {"x": x[:samples]}, {"x": x}, model="test",
                      description="test inputs")


def _by_hand(mlp: Mlp, x: np.ndarray, samples: int, folder: Path) -> dict[str, list[dict]]:
    """Each layer's mean schedules, from tiles built here and simulated one by one through
    ``driver.simulate``: per sample the phases add; the mean over the samples."""
    fc0, fc1 = mlp.layers
    h = np.maximum(x @ fc0.weight + fc0.bias, 0)
    layer_inputs = {"fc0": x, "fc1": h}
    out: dict[str, list[dict]] = {}
    for dense in mlp.layers:
        a = layer_inputs[dense.name]
        u = a[:samples] / np.max(np.abs(a))  # the calibration batch's peak sets the DAC scale
        n_phases = 2 if dense.name == "fc0" else 1
        phases = [np.clip(u, 0, 1)] + ([np.clip(-u, 0, 1)] if dense.name == "fc0" else [])
        g = np.full((ROWS, COLS), WEIGHTS.g_min_s)
        w = np.asarray(dense.weight, float)
        g[:w.shape[0], :2 * w.shape[1]] = target_conductances(WEIGHTS, w, np.max(np.abs(w)),
                                                              WEIGHTS.bits)
        # The front end sized for the ADC range the accuracy pass calibrates on this tile.
        cal = cosim.layer_inputs(mlp, {"x": x})[dense.name]  # as the co-simulation computes it
        spec = with_calibrated_range(SPEC, g, calibration_drive(
            cal / np.max(np.abs(cal)), n_phases, SPEC.driver.v_full_v), 2 * w.shape[1])
        per_sample = []
        for s in range(samples):
            total: dict[str, float] = {}
            for p, xp in enumerate(phases):
                rows = np.zeros(ROWS)
                rows[:w.shape[0]] = xp[s]
                tile = specs.Tile(spec, g, rows, WEIGHTS)
                summary = driver.simulate(tile, folder / f"{dense.name}.{s}.{p}.h5",
                                          options=OPTIONS)
                with summary.open() as run:
                    figures = run.column_figures(driver.TILE).head(2 * w.shape[1])
                extra = periphery(tile)
                schedules = schedule_layer(
                    figures, SPEC.readout.adc, OPTIONS.adc_share, rows=w.shape[0],
                    dac_e_conv_j=SPEC.driver.conversion_energy_j,
                    sh_e_clock_j=SPEC.readout.sample_hold.clock_energy_j,
                    row_bias_w=extra["row_bias_w"], wordline_e_j=extra["wordline_e_j"])
                for i, sch in enumerate(schedules):
                    for f in FIGURES:
                        key = f"{i}.{f}"
                        total[key] = total.get(key, 0.0) + float(getattr(sch, f))
            per_sample.append(total)
        out[dense.name] = [{f: np.mean([t[f"{i}.{f}"] for t in per_sample]) for f in FIGURES}
                           for i in range(len(schedules))]
    return out


def test_each_tiles_adc_range_is_the_one_the_accuracy_pass_calibrates_on_it() -> None:
    """The co-simulation's netlists read each tile through a front end sized for the ADC range
    the accuracy pass calibrates on the same tile (its conductances, its layer's calibration
    batch): the range current, the netlist's feedback resistor, and the range's use per
    layer."""
    x = np.random.default_rng(5).normal(0, 1, (32, 16)).astype(np.float32)
    mlp = _mlp()
    plan = _plan(mlp, x, 2)
    tiles, _, mapping = cosim.jobs(plan)
    settings = dataclasses.replace(acc.Nonideality.of(SPEC, WEIGHTS), variation=0.0,
                                   read_noise=0.0)
    layers = acc.program(mlp, mapping, SPEC, WEIGHTS, settings, {"x": x})
    use = dict(acc.range_use(layers))
    for job in tiles:
        (tile,) = layers[job.name.split(".")[0]].tiles  # one tile a layer
        sized = job.tile.readout
        assert sized.i_range_a == pytest.approx(tile.adc_full_a, rel=1e-6, abs=0)
        assert sized.i_range_a < sized.i_fs_a  # calibrated, not the worst case
        assert sized.r_f_ohm == pytest.approx(sized.readout.opamp.v_swing_v / tile.adc_full_a,
                                              rel=1e-6)
        netlist = build_column(job.tile, 0, Op())
        (r_f,) = re.findall(r"^Rf0\s+\S+\s+\S+\s+(\S+)", netlist, re.M)
        assert float(r_f) == pytest.approx(sized.r_f_ohm, rel=1e-9)
        assert 1 / sized.range_use == pytest.approx(use[job.name.split(".")[0]], rel=1e-6)


@pytest.fixture(scope="module")
def two_layers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Mlp, np.ndarray, Path]:
    x = np.random.default_rng(3).normal(0, 1, (32, 16)).astype(np.float32)
    mlp = _mlp()
    out = tmp_path_factory.mktemp("cosim") / "model.h5"
    summary = cosim.cosimulate(_plan(mlp, x, 2), out, options=OPTIONS, workers=2)
    assert not summary.failures and summary.simulated == (2 + 2 + 2) * COLS
    return mlp, x, out


def test_co_simulated_layers_equal_the_same_tiles_through_the_single_tile_path(
        two_layers: tuple[Mlp, np.ndarray, Path], tmp_path: Path) -> None:
    mlp, x, out = two_layers
    expected = _by_hand(mlp, x, 2, tmp_path)
    with open_run(out) as run:
        for layer in ("fc0", "fc1"):
            rows = run.layer(f"{layer}.mean").rows()
            assert len(rows) == len(expected[layer]) == 6
            for got, want in zip(rows, expected[layer], strict=True):
                for f in FIGURES:
                    assert got[f] == pytest.approx(want[f], rel=1e-12, abs=0), (layer, f)
            assert sorted(run.layer_tiles(f"{layer}.mean")) == sorted(
                t for t in run.tiles() if t.startswith(f"{layer}."))


def test_the_run_records_what_was_co_simulated_and_refuses_another_model(
        two_layers: tuple[Mlp, np.ndarray, Path]) -> None:
    mlp, _, out = two_layers
    with open_run(out) as run:
        model = cosim.check_model(run, mlp)
        assert model["samples"] == 2 and model["layers"] == ["fc0", "fc1"]
        assert model["digest"] == cosim.model_digest(mlp)
        with pytest.raises(ResultFileError, match="other weights"):
            cosim.check_model(run, _mlp(seed=1))
        table = cosim.model_table(run)
        # Each tile's ADC range as recorded: the calibrated one, raised to the noise floor.
        ranges = model[cosim.RANGES]
        assert set(ranges) == {t.rsplit(".", 1)[0] for t in run.tiles()}
        for tile in run.tiles():
            calibrated, i_range = ranges[tile.rsplit(".", 1)[0]]
            assert run.tile_attrs(tile).adc_range_a == i_range >= calibrated > 0
        text = render_model(run, model)
    assert "noise floor on" in text and "bits of the ADC above the workload's range" in text
    assert {(r["layer"], r["schedule"]) for r in table} == {
        (layer, s) for layer in ("fc0", "fc1")
        for s in ("fully_parallel", "adc_shared", "serialized")}
    for r in table:
        assert r["latency_mean_s"] <= r["latency_p95_s"] <= r["latency_max_s"]
        assert r["energy_mean_j"] <= r["energy_max_j"]


def test_a_layer_of_zero_inputs_costs_what_the_circuit_draws_at_zero_input(
        tmp_path: Path) -> None:
    """fc0's bias drives every hidden unit below zero: fc1's rows are all at 0 V. Its energy
    is the front end's quiescent draw through the sampling window and the fixed conversion
    costs, as a tile of zero inputs simulated on its own gives them; the array draws nothing."""
    mlp = _mlp(bias0=-100.0)
    x = np.random.default_rng(4).normal(0, 1, (8, 16)).astype(np.float32)
    summary = cosim.cosimulate(_plan(mlp, x, 1), tmp_path / "zero.h5", options=OPTIONS,
                               workers=2)
    assert not summary.failures
    w1 = np.asarray(mlp.layers[1].weight, float)
    g = np.full((ROWS, COLS), WEIGHTS.g_min_s)
    g[:8, :] = target_conductances(WEIGHTS, w1, np.max(np.abs(w1)), WEIGHTS.bits)
    alone = driver.simulate(specs.Tile(SPEC, g, np.zeros(ROWS), WEIGHTS), tmp_path / "alone.h5",
                            options=OPTIONS)
    with open_run(summary.path) as run, alone.open() as ref:
        zero = run.layer("fc1.mean").rows()
        busy = run.layer("fc0.mean").rows()
        figures = ref.column_figures(driver.TILE)
        draw = ref.columns(driver.TILE)
    for z, b in zip(zero, busy, strict=True):
        assert abs(z["energy_array_j"]) < 1e-4 * b["energy_array_j"]
        assert 0 < z["energy_j"] < b["energy_j"]
    fully = zero[0]
    assert fully["schedule"] == "fully_parallel"
    # The quiescent draw is ngspice's: each column's front-end power over the sampled window.
    quiescent = float(np.sum(figures.energy_frontend_j + figures.power_frontend_w
                             * (fully["t_sample_s"] - figures.window_s)))
    assert quiescent > 0 and np.all(np.asarray(draw["energy_frontend_j"]) > 0)
    assert fully["energy_frontend_j"] == pytest.approx(quiescent, rel=1e-12)
    fixed = (8 * SPEC.driver.conversion_energy_j + COLS * SPEC.readout.sample_hold.clock_energy_j
             + COLS * (SPEC.readout.adc.e_conv_j + SPEC.readout.adc.ref_e_conv_j))
    assert (fully["energy_dac_j"] + fully["energy_sh_j"] + fully["energy_adc_j"]
            + fully["energy_adcref_j"]) == pytest.approx(fixed, rel=1e-12)


def test_sparser_activations_cost_less_energy(tmp_path: Path) -> None:
    """The same one-layer model driven by dense inputs and by the same inputs with three in
    four zeroed, on the same circuit (the ADC ranges calibrated on the dense batch): the
    array's energy falls with the charge the rows deliver."""
    rng = np.random.default_rng(5)
    w = rng.normal(0, 0.5, (16, 8)).astype(np.float32)
    mlp = Mlp({"x": 16}, [Dense("fc0", ("x",), w, np.zeros(8, np.float32), "none")],
              nonnegative=("x",))
    dense = rng.uniform(0.2, 1.0, (4, 16)).astype(np.float32)
    dense[:, 0] = 1.0  # the same peak in both, so the same DAC scale
    sparse = dense * (rng.uniform(size=dense.shape) < 0.25)
    sparse[:, 0] = 1.0
    energy = {}
    for name, x in (("dense", dense), ("sparse", sparse)):
        plan = dataclasses.replace(_plan(mlp, x, 2), description=name,
                                   calibration={"x": dense})
        summary = cosim.cosimulate(plan, tmp_path / f"{name}.h5", options=OPTIONS, workers=2)
        with summary.open() as run:
            energy[name] = run.layer("fc0.mean").rows()[0]
    assert energy["sparse"]["energy_array_j"] < 0.6 * energy["dense"]["energy_array_j"]
    assert energy["sparse"]["energy_j"] < energy["dense"]["energy_j"]


def test_a_plan_is_checked_before_anything_runs(tmp_path: Path) -> None:
    mlp = _mlp()
    x = np.zeros((4, 16), np.float32)
    with pytest.raises(SpecError, match="inputs=0"):
        _plan(mlp, x, 0)
    bad = tmp_path / "x.npy"
    np.save(bad, np.zeros((4, 15)))
    with pytest.raises(SpecError, match=r"shape \(4, 15\)"):
        inputs.file_plan(mlp, SPEC, WEIGHTS, bad, 2, model="test", weights="")
    np.save(bad, np.full((4, 16), np.nan))
    with pytest.raises(SpecError, match="non-finite"):
        inputs.file_plan(mlp, SPEC, WEIGHTS, bad, 2, model="test", weights="")
    np.save(bad, np.zeros((4, 16)))
    with pytest.raises(SpecError, match="1 to 4"):
        inputs.file_plan(mlp, SPEC, WEIGHTS, bad, 5, model="test", weights="")


@pytest.mark.slow
def test_on_a_dask_local_cluster_the_co_simulation_is_the_pool_s(
        two_layers: tuple[Mlp, np.ndarray, Path], tmp_path: Path) -> None:
    from spicecim.sim.executors import Cluster

    mlp, x, out = two_layers
    summary = cosim.cosimulate(_plan(mlp, x, 2), tmp_path / "dask.h5", options=OPTIONS,
                               cluster=Cluster(dask_local=2))
    with open_run(out) as pool, summary.open() as dask:
        assert dask.tiles() == pool.tiles() and dask.layers() == pool.layers()
        for layer in pool.layers():
            assert dask.layer(layer).rows() == pool.layer(layer).rows()


def test_a_sliced_copied_row_grouped_layer_equals_its_tiles_through_the_single_tile_path(
        tmp_path: Path) -> None:
    """8 signed inputs -> 2 outputs on 8x8 tiles, each weight on 2 slices x 2 row copies, read
    4 rows at a time: two row tiles (4 inputs on 8 rows each), each read in two row groups per
    input phase. The conductances are placed here from the slicing rule (base-L digits, most
    significant slice first; columns slice by slice, G+ then G-; each input's rows adjacent),
    every read simulated alone; per input phase the arrays run in parallel and each array's
    groups one after another."""
    spec = specs.default_spec(8, 8)
    rng = np.random.default_rng(7)
    w = rng.normal(0, 0.5, (8, 2)).astype(np.float32)
    mlp = Mlp({"x": 8}, [Dense("fc0", ("x",), w, np.zeros(2, np.float32), "none")])
    x = rng.normal(0, 1, (16, 8)).astype(np.float32)
    plan = cosim.Plan(mlp, spec, WEIGHTS, {"x": x[:1]}, {"x": x}, model="test",
                      slices=2, copies=2, rows_per_read=4)
    summary = cosim.cosimulate(plan, tmp_path / "sliced.h5", options=OPTIONS, workers=2)
    assert not summary.failures and summary.simulated == 2 * 2 * 2 * 8

    levels = 1 << WEIGHTS.bits
    step = (WEIGHTS.g_max_s - WEIGHTS.g_min_s) / (levels - 1)
    u_w = np.asarray(w, float) / np.max(np.abs(w))
    q = np.round(np.abs(u_w) * (levels ** 2 - 1)).astype(int)
    u = x[:1] / np.max(np.abs(x))
    per_phase = []
    for xp in (np.clip(u, 0, 1), np.clip(-u, 0, 1)):
        arrays = []
        for r in range(2):
            g = np.full((8, 8), WEIGHTS.g_min_s)
            for i in range(4):
                for o in range(2):
                    for k, digit in enumerate((q[4 * r + i, o] // levels,
                                               q[4 * r + i, o] % levels)):
                        pol = 0 if u_w[4 * r + i, o] > 0 else 1
                        g[2 * i:2 * i + 2, 4 * o + 2 * k + pol] += digit * step
            driven = np.repeat(xp[0, 4 * r:4 * r + 4], 2)
            # The front end sized for the range the accuracy pass calibrates on the row tile
            # (all 16 samples, both phases, each input on its two copies' rows).
            cal = cosim.layer_inputs(mlp, {"x": x})["fc0"]  # as the co-simulation computes it
            sized = with_calibrated_range(spec, g, np.repeat(calibration_drive(
                cal[:, 4 * r:4 * r + 4] / np.max(np.abs(cal)), 2, spec.driver.v_full_v), 2,
                axis=1), 8)
            total = None
            for start in (0, 4):
                rows = np.zeros(8)
                rows[start:start + 4] = driven[start:start + 4]
                tile = specs.Tile(sized, g, rows, WEIGHTS)
                alone = driver.simulate(tile, tmp_path / f"{len(per_phase)}{r}{start}.h5",
                                        options=OPTIONS)
                with alone.open() as run:
                    figures = run.column_figures(driver.TILE)
                extra = periphery(tile)
                got = np.array([[float(getattr(s, f)) for f in FIGURES] for s in schedule_layer(
                    figures, spec.readout.adc, OPTIONS.adc_share, rows=2,
                    dac_e_conv_j=spec.driver.conversion_energy_j,
                    sh_e_clock_j=spec.readout.sample_hold.clock_energy_j,
                    row_bias_w=extra["row_bias_w"], wordline_e_j=extra["wordline_e_j"])])
                total = got if total is None else total + got
            arrays.append(total)
        times = np.maximum(arrays[0][:, :3], arrays[1][:, :3])
        per_phase.append(np.hstack([times, arrays[0][:, 3:] + arrays[1][:, 3:]]))
    want = per_phase[0] + per_phase[1]
    with open_run(summary.path) as run:
        rows = run.layer("fc0.mean").rows()
        assert len(rows) == len(want) == 6
        for got, expected in zip(rows, want, strict=True):
            for f, value in zip(FIGURES, expected, strict=True):
                assert got[f] == pytest.approx(value, rel=1e-12, abs=0), f
            # each read converts in rounds; 2 phases x 2 groups of reads one after another
            rounds = {"fully_parallel": 1, "adc_shared": OPTIONS.adc_share, "serialized": 8}
            assert got["rounds"] == 4 * rounds[str(got["schedule"])]
        assert cosim.run_geometry(run) == {"slices": 2, "copies": 2, "rows_per_read": 4}
        with pytest.raises(SpecError, match="co-simulate that design point"):
            cosim.layer_costs(run, map_model(mlp, TileGeometry(8, 8)), DigitalAdder())
