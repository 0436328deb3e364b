"""Counts that would run for hours or start more processes than memory holds (a design sweep's
grid among them), drawn over each option's domain (hypothesis): refused before any work with
the estimate, one line, exit code 2, nothing written."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from spicecim.cli import cli
from spicecim.cli.limits import (
    ACAM_CELL_CPU_S,
    DESIGN_POINT_CPU_S,
    FIT_STEP_CPU_S,
    FRAME_BYTES_PER_PIXEL,
    SWEEP_POINT_CPU_S,
    available_memory_bytes,
)
from spicecim.cost.duration import DURATION_LIMIT_S

FAST = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
# Rows x cells x the three searches above this take longer than the limit.
TOO_MANY_CELLS = int(DURATION_LIMIT_S / ACAM_CELL_CPU_S / 3) + 1


def _refused(args: list[str], tmp_path: Path, *fragments: str) -> None:
    d = Path(tempfile.mkdtemp(dir=tmp_path))
    result = CliRunner().invoke(cli, [a.format(d=d) for a in args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert list(d.iterdir()) == []


@FAST
@given(rows=st.integers(1, 10**4), extra=st.integers(0, 10), auto=st.booleans())
def test_acam_searches_over_the_time_limit_are_refused_with_their_estimate(
        rows: int, extra: int, auto: bool, tmp_path: Path) -> None:
    tries = 8 if auto else 1
    # over the time limit by construction, and within memory (the next test's refusal)
    cells = TOO_MANY_CELLS // (rows * tries) + 1 + extra
    args = ["acam", "simulate", "--rows", str(rows), "--cells", str(cells), "--out", "{d}/a.h5",
            *(["--t-eval", "auto"] if auto else [])]
    _refused(args, tmp_path, f"the searches of a {rows}x{cells} ACAM array are estimated at",
             "over the 30 min limit", "--yes")


@FAST
@given(option=st.sampled_from(["--workers", "--dask-local"]), count=st.integers(10**6, 10**12))
def test_more_worker_processes_than_memory_holds_are_refused_before_one_starts(
        option: str, count: int, tmp_path: Path) -> None:
    _refused(["simulate", "--rows", "4", "--cols", "4", option, str(count), "--out", "{d}/r.h5"],
             tmp_path, f"{option} {count} (worker processes) needs about", "of memory")


@FAST
@given(rows=st.integers(10**5, 10**7), cols=st.integers(10**5, 10**7))
def test_evaluate_refuses_to_simulate_a_tile_beyond_memory_before_any_work(
        rows: int, cols: int, tmp_path: Path, finished_run: Path) -> None:
    _refused(["evaluate", str(finished_run), "--no-accuracy", "--no-baseline",
              "--simulate-missing", "--tile", f"{rows}x{cols}", "--simulate-dir", "{d}/sim"],
             tmp_path, f"a {rows}x{cols} tile needs about", "of memory")


@FAST
@given(steps=st.integers(int(DURATION_LIMIT_S / FIT_STEP_CPU_S) + 1, 10**15))
def test_a_scene_fit_over_the_time_limit_is_refused_before_it_starts(
        steps: int, tmp_path: Path) -> None:
    _refused(["simulate", "--rows", "4", "--cols", "4", "--model", "nerf", "--scene",
              "--fit-steps", str(steps), "--out", "{d}/r.h5", "--cache-dir", "{d}/cache"],
             tmp_path, f"--fit-steps {steps} is estimated at", "--yes")


@FAST
@given(g_min=st.integers(1, 40), g_max=st.integers(1, 40), big=st.booleans())
def test_a_design_sweep_grid_over_the_time_limit_or_memory_is_refused_with_its_estimate(
        g_min: int, g_max: int, big: bool, tmp_path: Path, finished_run: Path) -> None:
    """The grid's size is the product of its axes' value counts, estimated before a point is
    built: over the time limit without --yes, or (a frame of 1000x1000) beyond memory."""
    g_max = max(g_max, int(DURATION_LIMIT_S / DESIGN_POINT_CPU_S) // g_min + 1)
    points = g_min * g_max
    resolution = ["--resolution", "1000x1000", "--samples-per-ray", "1"] if big else []
    args = ["nerf", str(finished_run), "--out", "{d}/r", "--cache-dir", "{d}/c", *resolution,
            "--sweep", "g_min=" + ",".join(f"{1 + k}e-6" for k in range(g_min)),
            "--sweep", "g_max=" + ",".join(f"{50 + k}e-6" for k in range(g_max))]
    if big and points * 1000 * 1000 * FRAME_BYTES_PER_PIXEL > available_memory_bytes():
        _refused([*args, "--yes"], tmp_path, f"a design sweep of {points} points on a "
                 "1000x1000 frame (each point's images kept) needs about", "of memory")
    else:
        _refused(args, tmp_path, f"a design sweep of {points} points is estimated at",
                 "over the 30 min limit", "--yes")


@FAST
@given(bits=st.lists(st.integers(1, 16), min_size=3, max_size=3),
       variation=st.integers(1, 200), noise=st.integers(1, 200))
def test_an_accuracy_sweep_grid_over_the_time_limit_is_refused_with_its_estimate(
        bits: list[int], variation: int, noise: int, tmp_path: Path, finished_run: Path) -> None:
    points = math.prod(bits) * variation * noise
    assume(points * SWEEP_POINT_CPU_S > DURATION_LIMIT_S)
    axes = [f"{name}=1:{n}" for name, n in zip(("adc_bits", "dac_bits", "weight_bits"), bits,
                                               strict=True)]
    axes += [f"variation=0:{(variation - 1) / 10}:0.1", f"read_noise=0:{(noise - 1) / 200}:0.005"]
    _refused(["evaluate", str(finished_run), "--no-baseline", "--model", "mlp:8-3",
              "--out", "{d}/report.h5", *[a for axis in axes for a in ("--sweep", axis)]],
             tmp_path, f"an accuracy sweep of {points} points is estimated at",
             "over the 30 min limit", "--yes")


@FAST
@given(rows=st.integers(10**8, 10**12), cells=st.integers(1, 64), auto=st.booleans())
def test_an_acam_array_beyond_memory_is_refused_with_its_estimate_even_with_yes(
        rows: int, cells: int, auto: bool, tmp_path: Path) -> None:
    args = ["acam", "simulate", "--rows", str(rows), "--cells", str(cells), "--yes", "--out",
            "{d}/a.h5", *(["--t-eval", "auto"] if auto else [])]
    _refused(args, tmp_path, f"a {rows}x{cells} ACAM array's search netlist needs about",
             "of memory")
