"""Figures of a run file and ``spicecim plot``: a synthetic run (first-order readouts, one
failed column) needs no ngspice; one end-to-end test simulates a small tile first."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.backends.backend_agg import FigureCanvasAgg

from spicecim import plot
from spicecim.cli import cli
from spicecim.devices import AdcModel
from spicecim.devices.readout import size
from spicecim.measure import adc_band, edge_time, measure_column, schedule_layer
from spicecim.netlist.spec import DEFAULT_READOUT
from spicecim.sim.column import ColumnRun
from spicecim.sim.driver import column_row
from spicecim.store import schema
from spicecim.store.hdf5 import RunWriter, open_run
from spicecim.store.runs import column_figures

COLS = 6
FAILED = 3
ADC = AdcModel(bits=8, t_conv_s=0.8e-9, e_conv_j=1.5e-12)
# A passive 1 ohm sense resistor at a 0.4 mA worst-case current: a 0.4 mV full scale.
SIZED = size(dataclasses.replace(DEFAULT_READOUT, front_end="passive", r_sense_ohm=1.0, adc=ADC,
                                 sample_hold=dataclasses.replace(DEFAULT_READOUT.sample_hold,
                                                                 c_s_f=1e-12)),
             4e-4, 0.1, 100e-12)
BAND = adc_band(SIZED)
RISE_S = 100e-12


def _column(j: int) -> ColumnRun:
    """Column j: a ramped input and a first-order readout whose time constant grows with j;
    the column FAILED failed, with empty waveforms as ngspice leaves them."""
    t = np.linspace(0.0, 600e-12, 121) if j != FAILED else np.empty(0)
    v_in = 0.1 * np.clip(t / RISE_S, 0.0, 1.0)
    tau = (20 + 5 * j) * 1e-12
    v_out = (50e-6 + 5e-6 * j) * (1 - np.exp(-t / tau))
    power = {"drivers": 4e-6 * v_in / 0.1, "frontend": np.full_like(t, 1e-6),
             "wordline": np.zeros_like(t), "rowrail": 20e-6 * v_in / 0.1}
    failed = j == FAILED
    return ColumnRun(j, "failed" if failed else "ok", 0, 0, "method=gear",
                     "ngspice failed: timestep too small" if failed else "", "0" * 16,
                     600e-12, 5e-12, 0.01, t, v_out, v_in, power)


def write_run(path: Path, *, waveforms: bool = True) -> Path:
    """A complete run file as ``spicecim simulate`` writes it, from synthetic waveforms."""
    writer = RunWriter(path, {"synthetic": True}, {schema.ATTR_NGSPICE: "ngspice-test",
                                                   schema.ATTR_COMMAND: "test"})
    writer.add_tile("tile0", COLS, {
        "threshold_fraction": 0.9, "front_end": "passive", "i_fs_a": SIZED.i_fs_a,
        "gain_ohm": SIZED.gain_ohm, "c_s_f": SIZED.c_s_f, "adc_full_scale_v": BAND.full_scale_v,
        "adc_lsb_v": BAND.lsb_v, "adc_bits": BAND.bits, "adc_t_conv_s": ADC.t_conv_s,
        "adc_e_conv_j": ADC.e_conv_j, "noise_v": SIZED.noise_v, "noise_ok": SIZED.noise_ok,
        "noise_warning": SIZED.noise_warning(), "dac_e_conv_j": 0.0, "sh_e_clock_j": 0.0})
    rows, waves = {}, {}
    for j in range(COLS):
        run = _column(j)
        m = None
        if run.status == "ok":
            m = measure_column(run.time_s, run.v_out_v, run.v_in_v, run.power_w, SIZED)
            if waveforms:
                waves[j] = {"time_s": run.time_s, "v_out_v": run.v_out_v, "v_in_v": run.v_in_v,
                            **{f"p_{g}_w": p for g, p in run.power_w.items()}}
        rows[j] = column_row(run, m)
    writer.write_columns("tile0", rows, waves)
    schedules = schedule_layer(column_figures(writer.columns("tile0")), ADC, 2, rows=4,
                               dac_e_conv_j=0.0, sh_e_clock_j=0.0)
    writer.write_layer("layer0", schedules, ["tile0"])
    return writer.finish()


@pytest.fixture
def run_file(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run.h5")


def _invoke(*args: str):  # noqa: ANN202
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _one_line_error(result, *needles: str) -> None:  # noqa: ANN001
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
    for needle in needles:
        assert needle in result.stderr


def test_display_units_scale_for_display_only() -> None:
    assert plot.display_unit(150e-12, "s") == (1e-12, "ps")
    assert plot.display_unit(0.1, "V") == (1e-3, "mV")
    assert plot.display_unit(2.0, "J") == (1.0, "J")
    assert plot.display_unit(1e-18, "J") == (1e-15, "fJ")
    assert plot.format_si(49.18e-12, "s") == "49.18 ps"
    assert plot.format_si(math.nan, "s") == "missing"


def test_stored_waveform_columns_leave_out_the_failed_one(run_file: Path,
                                                          tmp_path: Path) -> None:
    with open_run(run_file) as run:
        assert run.waveform_columns("tile0") == [0, 1, 2, 4, 5]
        assert plot.default_columns(run, "tile0") == [0, 2, 5]
    with open_run(write_run(tmp_path / "bare.h5", waveforms=False)) as run:
        assert run.waveform_columns("tile0") == []


def test_the_waveform_figure_marks_edge_band_threshold_and_settle(run_file: Path) -> None:
    with open_run(run_file) as run:
        fig = plot.waveform_figure(run, "tile0", 2)
        row = run.columns("tile0").rows()[2]
        wave = run.waveform("tile0", 2)
    assert isinstance(fig.canvas, FigureCanvasAgg)
    _, readout, error = fig.axes
    ps = 1e-12
    edge = edge_time(wave["time_s"], wave["v_in_v"])
    lines = {line.get_label(): line for line in readout.get_lines()}
    edge_line = next(v for k, v in lines.items() if k.startswith("input edge (50 %)"))
    settle_line = next(v for k, v in lines.items() if k.startswith("settled at"))
    assert edge_line.get_xdata()[0] == pytest.approx(edge / ps)
    assert settle_line.get_xdata()[0] == pytest.approx(row["settle_s"] / ps)
    threshold = next(v for k, v in lines.items() if k.startswith("threshold (90 % of final)"))
    assert threshold.get_xdata()[0] == pytest.approx((edge + row["threshold_s"]) / ps)
    assert threshold.get_ydata()[0] == pytest.approx(0.9 * row["v_final_v"] / 1e-6)
    band = next(p for p in readout.patches if p.get_label().startswith("final ± ½ LSB"))
    y0, y1 = band.get_extents().transformed(readout.transData.inverted()).intervaly
    assert (y0, y1) == pytest.approx(((row["v_final_v"] - BAND.half_lsb_v) / 1e-6,
                                      (row["v_final_v"] + BAND.half_lsb_v) / 1e-6), rel=1e-6)
    assert readout.get_ylabel() == "readout (µV)" and error.get_xlabel() == "time (ps)"
    assert error.get_ylabel() == "readout − final (LSB)"


def test_the_latency_figure_crosses_the_failed_column(run_file: Path) -> None:
    with open_run(run_file) as run:
        fig = plot.latency_figure(run, "tile0")
    heat, line = fig.axes[:2]
    image = heat.get_images()[0].get_array()
    assert np.ma.is_masked(image[0, FAILED]) and not np.ma.is_masked(image[0, 0])
    crossed = next(v for v in line.get_lines() if v.get_label().startswith("not ok"))
    assert list(crossed.get_xdata()) == [FAILED]


def test_figures_stay_out_of_pyplot(run_file: Path) -> None:
    before = plt.get_fignums()
    with open_run(run_file) as run:
        figures = plot.run_figures(run, "tile0", [0, 5])
    assert sorted(figures) == ["layer0_schedules", "tile0_column0_waveform",
                               "tile0_column5_waveform", "tile0_energy", "tile0_latency"]
    assert plt.get_fignums() == before


def _assert_not_blank(png: Path) -> None:
    image = matplotlib.image.imread(png)[..., :3]
    assert image.shape[0] > 300 and image.shape[1] > 600
    background = np.all(image > 0.97, axis=-1)
    assert 0.03 < 1 - background.mean() < 0.9, png  # drawn on, but not a solid block
    assert image.std() > 0.08, png
    colours = np.round(image * 255).astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1],
                                                                  dtype=np.uint32)
    assert np.unique(colours).size > 50, png


def test_plot_writes_png_figures_that_are_not_blank(run_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "plots"
    result = _invoke("plot", str(run_file), "--columns", "0,5", "--out", str(out))
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in out.iterdir())
    assert written == ["layer0_schedules.png", "tile0_column0_waveform.png",
                       "tile0_column5_waveform.png", "tile0_energy.png", "tile0_latency.png"]
    assert result.stdout.split() == [str(out / name) for name in
                                     ["tile0_column0_waveform.png", "tile0_column5_waveform.png",
                                      "tile0_latency.png", "tile0_energy.png",
                                      "layer0_schedules.png"]]
    for png in out.iterdir():
        _assert_not_blank(png)
    # again: the same names exist, so they are replaced only with --overwrite
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    _one_line_error(_invoke("plot", str(run_file), "--columns", "0,5", "--out", str(out)),
                    "tile0_column0_waveform.png' exists: expected a new path, or --overwrite")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    again = _invoke("plot", str(run_file), "--columns", "0,5", "--out", str(out), "--overwrite")
    assert again.exit_code == 0 and sorted(p.name for p in out.iterdir()) == written


def test_plot_refuses_in_one_line(run_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "plots"
    _one_line_error(_invoke("plot", str(run_file), "--columns", "0,17,255", "--out", str(out)),
                    "column=17", "from 0 to 5")
    _one_line_error(_invoke("plot", str(run_file), "--columns", "-1", "--out", str(out)),
                    "from 0 to 5")
    _one_line_error(_invoke("plot", str(run_file), "--columns", "0,x", "--out", str(out)),
                    "comma-separated column indices")
    _one_line_error(_invoke("plot", str(run_file), "--columns", str(FAILED), "--out", str(out)),
                    f"column {FAILED}", "'failed'")
    _one_line_error(_invoke("plot", str(run_file), "--tile", "tile9", "--out", str(out)),
                    "tile='tile9'", "tile0")
    _one_line_error(_invoke("plot", str(tmp_path / "nothing.h5"), "--out", str(out)),
                    "nothing.h5' does not exist")
    assert not out.exists()  # nothing is written before every check has passed


def test_a_run_without_waveforms_says_to_rerun_with_waveforms(tmp_path: Path) -> None:
    bare = write_run(tmp_path / "bare.h5", waveforms=False)
    for columns in ([], ["--columns", "0"]):
        _one_line_error(_invoke("plot", str(bare), *columns, "--out", str(tmp_path / "p")),
                        "stores no waveforms", "rerun 'spicecim simulate' with --waveforms")


@pytest.mark.ngspice
def test_plot_a_simulated_tile(tmp_path: Path) -> None:
    run = tmp_path / "run.h5"
    simulated = _invoke("simulate", "--rows", "8", "--cols", "8", "--workers", "2", "--waveforms",
                        "--out", str(run))
    assert simulated.exit_code == 0, simulated.output
    out = tmp_path / "plots"
    assert _invoke("plot", str(run), "--columns", "0,7", "--out", str(out)).exit_code == 0
    assert len(list(out.glob("*.png"))) == 5
    _assert_not_blank(out / "tile0_column7_waveform.png")
    _one_line_error(_invoke("plot", str(run), "--columns", "0,17,255", "--out", str(out)),
                    "from 0 to 7")
