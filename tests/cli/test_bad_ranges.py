"""Values each option's type takes but that make no sense, alone or beside the others, named
one by one: a digital adder of 1e300 s, more replicas than the frame has samples, more columns
per ADC than the tile has, a run given twice, a sweep axis given twice, a held-out share that
holds out no row, a fit of hours, a cache folder no file can be made in. Each used to exit 0
printing the absurd figure (or to run on past 20 s); now one line on stderr, exit code 2, no
file made or changed, all before any work (so none runs a simulation or a fit)."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spicecim.cli import cli

pytestmark = pytest.mark.ngspice  # finished_run: a 4x4 run simulated once
FAST = settings(max_examples=15, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
QUICK = ("--no-baseline", "--no-accuracy")
HOURS = "1000000000000"
# (id, arguments with {run} a finished 4x4 run and {d} the test's folder, what the line says)
CASES = [
    ("evaluate --tile beyond memory", ("evaluate", "{run}", *QUICK, "--tile", "100000x100000"),
     "a 100000x100000 tile needs about"),
    ("evaluate --replicas", ("evaluate", "{run}", *QUICK, "--replicas", HOURS),
     f"--replicas {HOURS} is invalid: expected 1 to"),
    ("evaluate --adc-share", ("evaluate", "{run}", *QUICK, "--adc-share", HOURS),
     f"--adc-share {HOURS} is invalid: expected 1 to 8 (columns per ADC"),
    ("evaluate --adc-share over --tile", ("evaluate", "{run}", *QUICK, "--tile", "8x8",
                                          "--adc-share", "9"), "expected 1 to 8"),
    ("evaluate --adder-latency", ("evaluate", "{run}", *QUICK, "--adder-latency", "1e300"),
     "0<=x<=1e-06"),
    ("evaluate --adder-energy", ("evaluate", "{run}", *QUICK, "--adder-energy", "1e300"),
     "0<=x<=1e-09"),
    ("evaluate --samples-per-ray", ("evaluate", "{run}", *QUICK, "--model", "nerf",
                                    "--samples-per-ray", "1000000000"), "1<=x<=4096"),
    ("evaluate RUN RUN", ("evaluate", "{run}", "{run}", *QUICK), "is given twice"),
    ("evaluate --sweep twice", ("evaluate", "{run}", "--no-baseline", "--sweep", "adc_bits=4",
                                "--sweep", "adc_bits=6"), "repeats the axis adc_bits"),
    ("evaluate --fit-steps", ("evaluate", "{run}", *QUICK, "--model", "nerf", "--scene",
                              "--fit-steps", HOURS, "--cache-dir", "{d}/cache"),
     f"--fit-steps {HOURS} is estimated at"),
    ("evaluate --cache-dir /sys", ("evaluate", "{run}", *QUICK, "--model", "nerf", "--scene",
                                   "--cache-dir", "/sys"), "--cache-dir '/sys'"),
    ("evaluate --workers", ("evaluate", "{run}", *QUICK, "--simulate-missing", "--workers",
                            "1000000"), "--workers 1000000 (worker processes) needs about"),
    ("evaluate --simulate-dir /sys", ("evaluate", "{run}", *QUICK, "--simulate-dir", "/sys"),
     "--simulate-dir '/sys'"),
    ("evaluate --calibration-fraction", ("evaluate", "{run}", *QUICK, "--model", "mlp:8-3",
                                         "--data", "{d}/in/data.npz", "--accuracy",
                                         "--calibration-fraction", "1e-300"),
     "holds out 0 of the 10 rows of --data: expected a share that holds out 1 to 9"),
    *[(f"nerf {' '.join(extra)}", ("nerf", "{run}", "--out", "{d}/renders", "--cache-dir",
                                    "{d}/cache", *extra), fragment) for extra, fragment in [
        (("--fit-steps", HOURS), f"--fit-steps {HOURS} is estimated at"),
        (("--finetune", "--finetune-steps", HOURS), f"--finetune-steps {HOURS} is estimated"),
        (("--tile", "100000x100000"), "a 100000x100000 tile needs about"),
        (("--tile", "4x1"), "tile cols=1 is invalid: expected an integer >= 2"),
        (("--copies", "8"), "tile rows=4 is invalid: expected >= copies = 8"),
        (("--sweep", "slices=3"), "tile cols=4 is invalid: expected >= 2 * slices = 6"),
        (("--g-min", "5e-5", "--g-max", "2e-5"), "expected > g_min_s = 5e-05 S"),
        (("--g-min", "1e300"), "--g-min 1e+300 is invalid: expected"),
        (("--g-max", "1e-300"), "--g-max 1e-300 is invalid: expected"),
        (("--workers", "1000000"), "--workers 1000000 (worker processes) needs about"),
        (("--adc-share", HOURS), f"--adc-share {HOURS} is invalid: expected 1 to 8"),
        (("--rows-per-read", "1000000000"), "rows_per_read=1000000000 is invalid: expected "
                                             "None or a multiple of copies = 1 up to the tile's "
                                             "4 rows"),
        (("--simulate-dir", "/sys"), "--simulate-dir '/sys'"),
        (("--sweep", "tile=0"), "sweep='tile=0' is invalid: expected tile integers >= 2"),
        (("--sweep", "tile=100000"), "a 100000x100000 tile needs about"),
        (("--sweep", "tile=64,nan"), "sweep='tile=64,nan' is invalid"),
        (("--sweep", "g_max=nan"), "sweep='g_max=nan' is invalid: expected g_max finite"),
        (("--sweep", "g_max=1e300"), "--sweep g_max 1e+300 is invalid: expected"),
        (("--sweep", "slices=0"), "expected slices integers from 1 to 8"),
        (("--sweep", "copies=1000"), "expected copies integers from 1 to 8"),
        (("--sweep", "rows_per_read=0"), "expected rows_per_read integers >= 1"),
        (("--sweep", "rows_per_read=64"), "rows_per_read=64 is invalid: expected None or a "
                                           "multiple of copies = 1 up to the tile's 4 rows"),
        (("--sweep", "tile=8", "--sweep", "tile=16"), "repeats the axis tile"),
    ]],
    ("simulate --adc-share", ("simulate", "--rows", "4", "--cols", "4", "--adc-share", HOURS,
                              "--out", "{d}/run.h5"),
     f"--adc-share {HOURS} is invalid: expected 1 to 8"),
]


def _listing(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() if p.is_file() else b"<folder>"
            for p in sorted(d.rglob("*"))}


def _refused(args: tuple[str, ...], d: Path, run: Path, fragment: str) -> None:
    (d / "in").mkdir()
    np.savez(d / "in" / "data.npz", inputs=np.zeros((10, 8), np.float32))
    before, run_before = _listing(d), run.read_bytes()
    result = CliRunner().invoke(cli, [a.format(run=run, d=d) for a in args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
    assert fragment in result.stderr, result.stderr
    assert _listing(d) == before
    assert run.read_bytes() == run_before
    assert not any(p.name.endswith(".journal") for p in run.parent.iterdir())
    assert os.listdir(d) == ["in"]


@pytest.mark.parametrize("args, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_value_that_makes_no_sense_is_refused_before_work(
        args: tuple[str, ...], fragment: str, tmp_path: Path, finished_run: Path) -> None:
    _refused(args, tmp_path, finished_run, fragment)


@FAST
@given(share=st.integers(9, 10**15), command=st.sampled_from(["simulate", "evaluate", "nerf"]))
def test_more_columns_per_adc_than_the_tile_has_or_the_default_are_refused(
        share: int, command: str, tmp_path: Path, finished_run: Path) -> None:
    args = {"simulate": ("simulate", "--rows", "4", "--cols", "4", "--out", "{d}/run.h5"),
            "evaluate": ("evaluate", "{run}", *QUICK),
            "nerf": ("nerf", "{run}", "--out", "{d}/r", "--cache-dir", "{d}/cache")}[command]
    _refused((*args, "--adc-share", str(share)), Path(tempfile.mkdtemp(dir=tmp_path)),
             finished_run, f"--adc-share {share} is invalid: expected 1 to 8 (columns per ADC, "
             "at most the tile's 4 columns or the default 8)")


# Values outside each design axis's domain (a NaN or infinity on any axis).
_FRACTION = st.floats(1.01, 3.99).filter(lambda v: v != int(v))
_OUTSIDE = {"tile": st.one_of(st.integers(-10**6, 1), _FRACTION),
            "rows_per_read": st.one_of(st.integers(-10**6, 0), _FRACTION),
            "g_min": st.floats(-1e6, 0.0), "g_max": st.floats(-1e6, 0.0),
            "slices": st.one_of(st.integers(-10**6, 0), st.integers(9, 10**6)),
            "copies": st.one_of(st.integers(-10**6, 0), st.integers(9, 10**6))}


@FAST
@given(data=st.data(), axis=st.sampled_from(sorted(_OUTSIDE)))
def test_a_design_axis_value_outside_its_domain_is_refused_before_the_fit(
        data: st.DataObject, axis: str, tmp_path: Path, finished_run: Path) -> None:
    bad = data.draw(st.one_of(_OUTSIDE[axis], st.sampled_from([math.nan, math.inf])))
    spec = f"{axis}={bad!r}"
    _refused(("nerf", "{run}", "--out", "{d}/r", "--cache-dir", "{d}/cache", "--sweep", spec),
             Path(tempfile.mkdtemp(dir=tmp_path)), finished_run,
             f"sweep={spec!r} is invalid: expected {axis} ")
