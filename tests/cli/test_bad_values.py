"""Bad values drawn over each option's domain (hypothesis), not from a list: every float option
refuses NaN and infinity alike, every bounded integer what lies outside its range, every size
what cannot fit in memory, every array file what is not finite real numbers; each ends in one
line on stderr, exit code 2, and no file made or changed. They all fail before any work, so
none needs ngspice (``test_bad_input.py`` holds the named cases, over a real run).
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from spicecim.cli import OneLineErrors, cli
from spicecim.cli.figures import refuse_failed
from spicecim.cli.options import Finite
from spicecim.errors import SpecError

FAST = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
# Just enough for each command to reach its options (none of them is read: parsing fails).
ARGS = {"generate": ["--out", "{d}/net"], "simulate": ["--out", "{d}/run.h5"],
        "solve": ["--out", "{d}/solve.h5"], "evaluate": ["{d}/run.h5"],
        "nerf": ["{d}/run.h5", "--out", "{d}/renders"], "plot": ["{d}/run.h5"],
        "tables": ["{d}/run.h5"], "acam simulate": ["--out", "{d}/acam.h5"],
        "acam transfer": [], "acam function": [], "macro": ["hung2023"]}


def _commands() -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        if isinstance(command, click.Group):
            for sub in command.list_commands(ctx):
                yield f"{name} {sub}", command.get_command(ctx, sub)  # type: ignore[misc]
        else:
            yield name, command  # type: ignore[misc]


def _options(kinds: tuple[type, ...]) -> list[tuple[str, str, click.ParamType]]:
    return [(name, param.opts[0], param.type) for name, command in _commands()
            for param in command.params
            if isinstance(param, click.Option) and isinstance(param.type, kinds)]


FLOAT_OPTIONS = _options((click.types.FloatParamType,))
INT_OPTIONS = [(n, o, t) for n, o, t in _options((click.IntRange,))
               if t.min is not None or t.max is not None]


def fresh(tmp_path: Path) -> Path:
    """A new empty folder for one hypothesis example (the test's tmp_path is shared by all)."""
    return Path(tempfile.mkdtemp(dir=tmp_path))


def invoke(command: str, *args: str, d: Path) -> tuple[int, str, str]:
    base = [a.format(d=d) for a in ARGS[command]]
    result = CliRunner().invoke(cli, [*command.split(), *base, *args])
    return result.exit_code, result.stdout, result.stderr


def refused(code: int, stdout: str, stderr: str, d: Path, *fragments: str) -> None:
    assert code == 2, (stdout, stderr)
    assert stdout == "" and stderr.count("\n") == 1 and stderr.startswith("Error: "), stderr
    for fragment in fragments:
        assert fragment in stderr, stderr
    assert [p.name for p in d.iterdir()] == [] or all(p.name == "in" for p in d.iterdir())


def test_every_float_option_is_a_finite_number() -> None:
    assert len(FLOAT_OPTIONS) >= 20  # the walk sees every command's options
    plain = [f"{n} {o}" for n, o, t in FLOAT_OPTIONS if not isinstance(t, Finite)]
    assert plain == []


@pytest.mark.parametrize("command, option, kind", FLOAT_OPTIONS,
                         ids=[f"{c} {o}" for c, o, _ in FLOAT_OPTIONS])
@FAST
@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_a_float_option_takes_exactly_the_finite_numbers_of_its_range(
        command: str, option: str, kind: Finite, value: float, tmp_path: Path) -> None:
    low_ok = kind.min is None or (value > kind.min if kind.min_open else value >= kind.min)
    high_ok = kind.max is None or (value < kind.max if kind.max_open else value <= kind.max)
    if math.isfinite(value) and low_ok and high_ok:
        assert kind.convert(repr(value), None, None) == value
        return
    d = fresh(tmp_path)
    why = "is not a finite number" if not math.isfinite(value) else "is not in the range"
    refused(*invoke(command, option, repr(value), d=d), d, f"'{option}'", why)


@pytest.mark.parametrize("command, option, kind", INT_OPTIONS,
                         ids=[f"{c} {o}" for c, o, _ in INT_OPTIONS])
@FAST
@given(value=st.integers(-10**12, 10**12))
def test_a_bounded_integer_option_refuses_what_lies_outside(
        command: str, option: str, kind: click.IntRange, value: int, tmp_path: Path) -> None:
    assume((kind.min is not None and value < kind.min)
           or (kind.max is not None and value > kind.max))
    d = fresh(tmp_path)
    refused(*invoke(command, option, str(value), d=d), d, f"'{option}'", "is not in the range")


@pytest.mark.parametrize("command", ["generate", "simulate", "solve"])
@FAST
@given(rows=st.integers(10**8, 10**13))
def test_a_tile_beyond_memory_is_refused_before_it_is_built(command: str, rows: int,
                                                           tmp_path: Path) -> None:
    d = fresh(tmp_path)
    refused(*invoke(command, "--rows", str(rows), d=d), d,
            f"a {rows}x256 tile needs about", "of memory", "fewer --rows or --cols")


@FAST
@given(option=st.sampled_from(["--points", "--calibration-points", "--baseline-batch"]),
       points=st.integers(10**9, 10**15))
def test_evaluate_batches_beyond_memory_are_refused(option: str, points: int,
                                                    tmp_path: Path) -> None:
    d = fresh(tmp_path)
    refused(*invoke("evaluate", option, str(points), d=d), d, f"{option} {points} on model",
            "needs about")


@FAST
@given(replicas=st.integers(10**9, 10**15))
def test_monte_carlo_beyond_memory_is_refused_before_any_replica(replicas: int,
                                                                 tmp_path: Path) -> None:
    d = fresh(tmp_path)
    refused(*invoke("simulate", "--rows", "4", "--cols", "4", "--mc", str(replicas), d=d), d,
            f"--mc {replicas} of a 4x4 tile needs about")


@FAST
@given(width=st.integers(10**5, 10**7), height=st.integers(10**5, 10**7))
def test_a_nerf_frame_beyond_memory_is_refused_before_the_fit(width: int, height: int,
                                                              tmp_path: Path) -> None:
    d = fresh(tmp_path)
    refused(*invoke("nerf", "--resolution", f"{width}x{height}", d=d), d,
            f"a {width}x{height} frame", "needs about")


NOT_REAL = st.sampled_from([np.complex64, np.complex128, np.bool_, np.str_, np.bytes_,
                            np.dtype("datetime64[s]"), np.dtype([("a", "f8"), ("b", "i4")])])


@FAST
@given(data=st.data())
def test_an_array_that_is_not_finite_real_numbers_is_refused(data: st.DataObject,
                                                             tmp_path: Path) -> None:
    if data.draw(st.booleans(), label="non-finite floats"):
        array = data.draw(hnp.arrays(np.float64, (4, 2), elements=st.floats(
            allow_nan=True, allow_infinity=True)).filter(lambda a: not np.isfinite(a).all()))
        why = "non-finite"
    else:
        array = data.draw(hnp.arrays(data.draw(NOT_REAL), (4, 2)))
        why = "expected real numbers"
    d = fresh(tmp_path)
    (d / "in").mkdir()
    np.save(d / "in" / "w.npy", array)
    before = (d / "in" / "w.npy").read_bytes()
    refused(*invoke("generate", "--rows", "4", "--cols", "4", "--tile-weights",
                    str(d / "in" / "w.npy"), d=d), d, why)
    assert (d / "in" / "w.npy").read_bytes() == before


@pytest.mark.parametrize("command, args", [
    ("solve", ["--rows", "4", "--cols", "4", "--out", "{out}"]),
    ("evaluate", ["{d}/run.h5", "--out", "{out}"]),
    ("acam simulate", ["--out", "{out}"]),
])
@FAST
@given(content=st.binary(min_size=0, max_size=64))
def test_an_existing_output_is_refused_and_left_as_it_was(command: str, args: list[str],
                                                          content: bytes,
                                                          tmp_path: Path) -> None:
    d = fresh(tmp_path)
    (d / "in").mkdir()
    out = d / "in" / "out.h5"
    out.write_bytes(content)
    result = CliRunner().invoke(cli, [*command.split(),
                                      *(a.format(d=d, out=out) for a in args)])
    refused(result.exit_code, result.stdout, result.stderr, d,
            "exists: expected a new path, or --overwrite to replace it")
    assert out.read_bytes() == content and sorted(p.name for p in (d / "in").iterdir()) == [
        "out.h5"]


def test_a_netlist_folder_of_another_tile_is_replaced_only_with_overwrite(
        tmp_path: Path) -> None:
    out = tmp_path / "net"
    first = CliRunner().invoke(cli, ["generate", "--rows", "4", "--cols", "6", "--out", str(out)])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(cli, ["generate", "--rows", "4", "--cols", "6", "--out", str(out)])
    assert again.exit_code == 0, again.output  # the same tile: the same bytes, nothing replaced
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    other = ["generate", "--rows", "4", "--cols", "4", "--out", str(out)]
    result = CliRunner().invoke(cli, other)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "exists: expected a new path, or --overwrite" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    result = CliRunner().invoke(cli, [*other, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [  # the wider tile's extra columns gone
        "array.cir", "col0000.cir", "col0001.cir", "col0002.cir", "col0003.cir"]


# --- the command line's own guarantees --------------------------------------------------------


def _group_with(body: click.Command) -> click.Group:
    group = OneLineErrors(name="t")
    group.add_command(body)
    group.get_command = lambda ctx, name: body  # type: ignore[method-assign]
    return group


def test_a_warning_before_an_error_is_dropped_and_after_success_shown_last() -> None:
    @click.command("fails")
    @click.option("--ok", is_flag=True)
    def body(ok: bool) -> None:
        warnings.warn("invalid value encountered in divide", RuntimeWarning, stacklevel=1)
        click.echo("the output")
        if not ok:
            raise SpecError("x=1 is invalid: expected 2")

    with warnings.catch_warnings(record=True) as shown:  # what reaches the user's stderr
        warnings.simplefilter("always")
        failed = CliRunner().invoke(_group_with(body), ["fails"])
        after_failure = len(shown)
        passed = CliRunner().invoke(_group_with(body), ["fails", "--ok"])
    assert failed.exit_code == 2
    assert failed.stderr == "Error: x=1 is invalid: expected 2\n" and after_failure == 0
    assert passed.exit_code == 0 and passed.stdout == "the output\n"
    assert [str(w.message) for w in shown] == ["invalid value encountered in divide"]


def test_an_input_that_ends_early_is_one_line_not_aborted() -> None:
    @click.command("reads")
    def body() -> None:
        raise EOFError("No data left in file")

    result = CliRunner().invoke(_group_with(body), ["reads"])
    assert result.exit_code == 2
    assert result.stderr == ("Error: an input file ended early (No data left in file): expected "
                             "a complete file\n")


@pytest.mark.parametrize("value", [math.nan, -math.inf])
def test_a_nan_result_is_a_failure_never_a_figure(value: float,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    refuse_failed({"rgb PSNR": 31.2, "rgb RMSE": 0.02, "float MLP PSNR": math.inf}, "render")
    with pytest.raises(SystemExit) as stop:
        refuse_failed({"rgb PSNR": value, "rgb RMSE": 0.02}, "the render")
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the render failed: rgb PSNR came out NaN" in err
