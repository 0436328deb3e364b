"""Sweep specifications whose values lie outside their axis's domain (hypothesis over each
axis): refused before any work, as the axis's own option would refuse them (bits 1 to 16,
scales >= 0, IR drop off or on), where they used to fail or run only after the evaluation's
first pass."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spicecim.cli import cli
from spicecim.cli.evaluate import parse_sweep

FAST = settings(max_examples=15, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
BITS = ("adc_bits", "dac_bits", "weight_bits")
_OUT_OF_BITS = st.one_of(st.integers(-10**6, 0), st.integers(17, 10**6),
                         st.floats(1.01, 15.99).filter(lambda v: v != int(v)))


def _bad_value(axis: str) -> st.SearchStrategy[float]:
    if axis in BITS:
        return _OUT_OF_BITS
    if axis == "ir_drop":
        return st.floats(-1e6, 1e6).filter(lambda v: v not in (0, 1))
    return st.floats(-1e6, -1e-9)


@FAST
@given(data=st.data(), axis=st.sampled_from([*BITS, "variation", "read_noise", "ir_drop"]))
def test_a_sweep_value_outside_its_axis_is_refused_before_work(
        data: st.DataObject, axis: str, tmp_path: Path, finished_run: Path) -> None:
    bad = data.draw(_bad_value(axis))
    spec = f"{axis}={bad!r},{'1' if axis != 'variation' else '0'}"
    d = Path(tempfile.mkdtemp(dir=tmp_path))
    result = CliRunner().invoke(cli, ["evaluate", str(finished_run), "--no-baseline", "--out",
                                      str(d / "report.h5"), "--sweep", spec])
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
    assert f"sweep={spec!r} is invalid: expected {axis} " in result.stderr, result.stderr
    assert list(d.iterdir()) == []


@pytest.mark.parametrize("text, values", [
    ("adc_bits=2:4", [2.0, 3.0, 4.0]), ("ir_drop=0:1", [0.0, 1.0]),
    ("variation=0:1:0.5", [0.0, 0.5, 1.0]), ("read_noise=0,0.02", [0.0, 0.02]),
    ("weight_bits=1,16", [1.0, 16.0])])
def test_the_values_of_each_axis_domain_are_taken(text: str, values: list[float]) -> None:
    assert parse_sweep(text) == (text.split("=")[0], values)
