"""Physically absurd magnitudes and special files where a file is read, named one by one and drawn
over each option's domain (hypothesis): a programming variation of 1e300 times sigma_G, a read
noise of 1e300, a sense time of 1e-300 s, a function map over +-1e300, a frame no machine here
could hold, a sweep grid of hours or beyond memory, an ACAM array whose netlist cannot be held,
a FIFO or a device as a tile's weights. Each used to run (and print the absurd figure, run for
hours, end in a MemoryError, or say the FIFO "does not exist"); now one line on stderr naming
the accepted range or the estimate, exit code 2, no file made or changed, before any work."""

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

from spicecim.acam.converter import MAX_INPUT
from spicecim.acam.netlist import T_EVAL_MAX_S, acam_cell
from spicecim.cli import cli
from spicecim.cli.options import MAX_READ_NOISE, MAX_VARIATION_SCALE

pytestmark = pytest.mark.ngspice  # finished_run: a 4x4 run simulated once
FAST = settings(max_examples=10, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
QUICK = ("--no-baseline", "--no-accuracy")
TILE = ("--rows", "4", "--cols", "4")
MODEL = ("--model", "mlp:4-2", "--inputs-file", "{d}/in/x.npy", "--inputs", "2")
VARIATION_RANGE = f"0.0<=x<={MAX_VARIATION_SCALE}"
NOISE_RANGE = f"0.0<=x<={MAX_READ_NOISE}"
T_EVAL_RANGE = f"expected {acam_cell().rise_s:g} to {T_EVAL_MAX_S:g} s"
TILES_2_TO_999 = "tile=" + ",".join(map(str, range(2, 1000)))
NOT_REGULAR = "not a regular file: expected a file on disk (a pipe or device is not read)"
# (id, arguments with {run} a finished 4x4 run, {d} the test's folder and {d}/in/fifo a FIFO,
# what the line says)
CASES = [
    ("simulate --model --variation 1e300", ("simulate", *TILE, *MODEL, "--variation", "1e300",
                                            "--out", "{d}/r.h5"), VARIATION_RANGE),
    ("evaluate --variation 1e300", ("evaluate", "{run}", *QUICK, "--variation", "1e300"),
     VARIATION_RANGE),
    ("evaluate --read-noise 1e300", ("evaluate", "{run}", *QUICK, "--read-noise", "1e300"),
     NOISE_RANGE),
    ("evaluate --sweep variation=0:1e300:1e299", ("evaluate", "{run}", "--no-baseline",
                                                  "--sweep", "variation=0:1e300:1e299"),
     f"expected variation values from 0 to {MAX_VARIATION_SCALE:g}"),
    ("evaluate --sweep read_noise=0,2", ("evaluate", "{run}", "--no-baseline", "--sweep",
                                         "read_noise=0,2"),
     f"expected read_noise values from 0 to {MAX_READ_NOISE:g}"),
    ("evaluate --resolution beyond memory", ("evaluate", "{run}", *QUICK, "--resolution",
                                             "10000000x10000000"),
     "a 10000000x10000000 frame (its rays and images) needs about"),
    ("nerf --variation 1e300", ("nerf", "{run}", "--out", "{d}/r", "--cache-dir", "{d}/c",
                                "--variation", "1e300"), VARIATION_RANGE),
    ("nerf --read-noise 1e300", ("nerf", "{run}", "--out", "{d}/r", "--cache-dir", "{d}/c",
                                 "--read-noise", "1e300"), NOISE_RANGE),
    ("acam simulate --t-eval 1e-300", ("acam", "simulate", "--t-eval", "1e-300", "--out",
                                       "{d}/a.h5"), T_EVAL_RANGE),
    ("acam simulate --t-eval 1e300", ("acam", "simulate", "--t-eval", "1e300", "--out",
                                      "{d}/a.h5"), T_EVAL_RANGE),
    ("acam transfer --t-eval 1e-300", ("acam", "transfer", "--t-eval", "1e-300"), T_EVAL_RANGE),
    ("acam simulate --t-eval abc", ("acam", "simulate", "--t-eval", "abc", "--out", "{d}/a.h5"),
     f"expected seconds up to {T_EVAL_MAX_S:g} or 'auto'"),
    ("acam transfer --check 0:1e300", ("acam", "transfer", "--check", "0:1e300"),
     "expected LOW:HIGH within the data line's 0 to 1 V"),
    ("acam function --x-max 1e300", ("acam", "function", "--x-max", "1e300"),
     f"-{MAX_INPUT}<=x<={MAX_INPUT}"),
    *[(f"{command} {option} {what}", (command, *TILE, option, path, *out), f"{option} {path!r} is")
      for command, out in (("simulate", ("--out", "{d}/r.h5")), ("solve", ("--out", "{d}/r.h5")),
                           ("generate", ("--out", "{d}/g")))
      for option in ("--tile-weights", "--tile-inputs")
      for what, path in (("FIFO", "{d}/in/fifo"), ("device", "/dev/zero"))],
    ("solve --conductances FIFO", ("solve", *TILE, "--conductances", "{d}/in/fifo", "--out",
                                   "{d}/r.h5"), NOT_REGULAR),
    ("simulate --model --inputs-file FIFO", ("simulate", *TILE, "--model", "mlp:4-2",
                                             "--inputs-file", "{d}/in/fifo", "--out", "{d}/r.h5"),
     NOT_REGULAR),
    ("nerf --sweep grid over the time limit", ("nerf", "{run}", "--out", "{d}/r", "--cache-dir",
                                                "{d}/c", "--sweep", "copies=1,2,3,4,5,6,7,8",
                                                "--sweep", "slices=1,2,3,4,5,6,7,8"),
     "a design sweep of 64 points is estimated at 32 min of rendering"),
    ("nerf --sweep grid beyond memory", ("nerf", "{run}", "--out", "{d}/r", "--cache-dir", "{d}/c",
                                         "--yes", "--resolution", "1000x1000",
                                         "--samples-per-ray", "1", "--sweep", TILES_2_TO_999,
                                         "--sweep", "copies=1,2,3,4,5,6,7,8",
                                         "--sweep", "slices=1,2,3,4,5,6,7,8"),
     "a design sweep of 63872 points on a 1000x1000 frame (each point's images kept) needs "
     "about 16.4 TB"),
    ("evaluate --sweep grid over the time limit", ("evaluate", "{run}", "--no-baseline",
                                                   *(a for axis in ("adc_bits", "dac_bits",
                                                                    "weight_bits")
                                                     for a in ("--sweep", f"{axis}=1:16")),
                                                   "--sweep", "variation=0:19.9:0.1"),
     "an accuracy sweep of 819200 points is estimated at 137 min"),
    ("acam simulate beyond memory --yes", ("acam", "simulate", "--rows", "100000000", "--cells",
                                           "64", "--yes", "--out", "{d}/a.h5"),
     "a 100000000x64 ACAM array's search netlist needs about 6.55 TB of memory"),
    ("simulate --model --weights FIFO", ("simulate", *TILE, *MODEL, "--weights", "{d}/in/fifo",
                                         "--out", "{d}/r.h5"), NOT_REGULAR),
]


def _listing(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() if p.is_file() else b"<other>"
            for p in sorted(d.rglob("*"))}


def _refused(args: tuple[str, ...], d: Path, run: Path, fragment: str) -> None:
    (d / "in").mkdir()
    np.save(d / "in" / "x.npy", np.full((2, 4), 0.5, np.float32))
    os.mkfifo(d / "in" / "fifo")  # read, it would block this test for ever
    before, run_before = _listing(d), run.read_bytes()
    result = CliRunner().invoke(cli, [a.format(run=run, d=d) for a in args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
    assert fragment.format(d=d) in result.stderr, result.stderr
    assert _listing(d) == before
    assert run.read_bytes() == run_before
    assert os.listdir(d) == ["in"]


@pytest.mark.parametrize("args, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_an_absurd_magnitude_or_a_special_file_is_refused_before_work(
        args: tuple[str, ...], fragment: str, tmp_path: Path, finished_run: Path) -> None:
    _refused(args, tmp_path, finished_run, fragment)


_HUGE = st.floats(1.0, 1e308, exclude_min=True)


@FAST
@given(data=st.data(), option=st.sampled_from(["--variation", "--read-noise"]),
       command=st.sampled_from(["simulate", "evaluate", "nerf"]))
def test_a_variation_or_read_noise_above_its_range_is_refused(
        data: st.DataObject, option: str, command: str, tmp_path: Path,
        finished_run: Path) -> None:
    if command == "simulate":
        option = "--variation"  # a co-simulation draws no read noise
    most = MAX_VARIATION_SCALE if option == "--variation" else MAX_READ_NOISE
    value = data.draw(st.one_of(_HUGE.map(lambda f: most * f), st.floats(max_value=-1e-300),
                                st.sampled_from([math.nan, math.inf])))
    args = {"simulate": ("simulate", *TILE, *MODEL, "--out", "{d}/r.h5"),
            "evaluate": ("evaluate", "{run}", *QUICK),
            "nerf": ("nerf", "{run}", "--out", "{d}/r", "--cache-dir", "{d}/c")}[command]
    _refused((*args, option, repr(value)), Path(tempfile.mkdtemp(dir=tmp_path)), finished_run,
             f"Invalid value for '{option}'")


@FAST
@given(data=st.data(), command=st.sampled_from(["simulate", "transfer"]))
def test_a_sense_time_outside_its_range_is_refused_with_the_range(
        data: st.DataObject, command: str, tmp_path: Path, finished_run: Path) -> None:
    value = data.draw(st.one_of(st.floats(1e-300, acam_cell().rise_s, exclude_max=True),
                                _HUGE.map(lambda f: T_EVAL_MAX_S * f)))
    out = ("--out", "{d}/a.h5") if command == "simulate" else ()
    _refused(("acam", command, "--t-eval", repr(value), *out),
             Path(tempfile.mkdtemp(dir=tmp_path)), finished_run, T_EVAL_RANGE)


@FAST
@given(value=_HUGE.map(lambda f: MAX_INPUT * f), sign=st.sampled_from([-1, 1]),
       option=st.sampled_from(["--x-min", "--x-max"]))
def test_a_function_map_input_beyond_its_range_is_refused(
        value: float, sign: int, option: str, tmp_path: Path, finished_run: Path) -> None:
    _refused(("acam", "function", option, repr(sign * value)),
             Path(tempfile.mkdtemp(dir=tmp_path)), finished_run, f"Invalid value for '{option}'")
