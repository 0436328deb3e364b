"""``spicecim generate`` through click's CliRunner: speed at full size, netlists ngspice accepts,
the JSON summary, and one-line errors with exit code 2 for bad input.

Loading in ngspice: a column netlist is run (its transient cut to 20 steps); the full 256x256
memristor array is only loaded (parsed) by the ngspice executable, in about 2 s with the default
frozen cells (one B element each). With ``--memristor-state dynamic`` the same load takes 20-40 s
and ~3.3 GB in ngspice-39, nearly all of it subcircuit and parameter expansion. A 256x256 array
of linear cells checks the full-size wiring, and a 16x16 memristor array is run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from spicecim.cli import cli
from spicecim.netlist.spec import DEFAULT_MEMRISTOR
from spicecim.sim.ngspice import NgspiceSession

SENTINEL = "SPICECIM-LOADED"


def generate(*args: str) -> Result:
    return CliRunner().invoke(cli, ["generate", *args])


@pytest.fixture(scope="module")
def full_size(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float, Result]:
    out = tmp_path_factory.mktemp("cli") / "xbar256"
    start = time.perf_counter()
    result = generate("--rows", "256", "--cols", "256", "--out", str(out))
    return out, time.perf_counter() - start, result


def ngspice_load(netlist: Path, work: Path) -> str:
    """Load ``netlist`` in the ngspice executable without running its analysis; return the
    output, asserting that loading succeeded (a load error skips the .control block)."""
    exe = shutil.which("ngspice")
    assert exe, "the ngspice executable is missing: apt-get install ngspice"
    analysis = re.compile(r"\.(tran|op)\b", re.IGNORECASE)
    keep = [line for line in netlist.read_text().splitlines()
            if not analysis.match(line) and line.strip().lower() != ".end"]
    deck = work / f"load_{netlist.name}"
    deck.write_text("\n".join([*keep, ".control", f"echo {SENTINEL}", ".endc", ".end", ""]))
    proc = subprocess.run([exe, "-b", str(deck)], capture_output=True, text=True, timeout=600,
                          check=False)
    output = proc.stdout + proc.stderr
    assert SENTINEL in proc.stdout and "error" not in output.lower(), output[-3000:]
    return output


def shortened(netlist: Path, steps: int = 20) -> str:
    """The netlist with its transient cut to ``steps`` print steps."""
    text = netlist.read_text()
    match = re.search(r"^\.tran (\S+) (\S+)", text, re.MULTILINE)
    assert match, "no .tran line"
    step = float(match.group(1))
    return text.replace(match.group(0), f".tran {match.group(1)} {steps * step!r}", 1)


# --- full size ----------------------------------------------------------------------------------


def test_generate_writes_257_netlists_in_seconds(full_size: tuple[Path, float, Result]) -> None:
    out, seconds, result = full_size
    print(f"\ngenerate 256x256: {seconds:.2f} s ({result.stdout.strip()})")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    names = sorted(p.name for p in out.iterdir())
    assert names == ["array.cir"] + [f"col{j:04d}.cir" for j in range(256)]
    assert seconds < 15.0
    array = (out / "array.cir").read_text()
    assert array.count("\nBm") == 256 * 256  # frozen cells: one read-current source each
    assert (out / "col0255.cir").read_text().count("\nBm") == 256


@pytest.mark.ngspice
def test_column_netlist_loads_and_runs(full_size: tuple[Path, float, Result]) -> None:
    out = full_size[0]
    vectors = NgspiceSession().run(shortened(out / "col0255.cir"))
    assert len(vectors["time"]) >= 21
    assert vectors["out255"][-1] < 0  # the TIA inverts the column's current


@pytest.mark.ngspice
def test_column_netlist_loads_in_the_ngspice_executable(
    full_size: tuple[Path, float, Result], tmp_path: Path
) -> None:
    ngspice_load(full_size[0] / "col0000.cir", tmp_path)


@pytest.mark.ngspice
def test_full_memristor_array_netlist_loads_in_ngspice(
    full_size: tuple[Path, float, Result], tmp_path: Path
) -> None:
    start = time.perf_counter()
    ngspice_load(full_size[0] / "array.cir", tmp_path)
    print(f"\nngspice loaded the 256x256 memristor array in {time.perf_counter() - start:.1f} s")


@pytest.mark.ngspice
def test_full_size_linear_array_netlist_loads_in_ngspice(tmp_path: Path) -> None:
    result = generate("--rows", "256", "--cols", "256", "--cell", "linear",
                      "--out", str(tmp_path / "lin"))
    assert result.exit_code == 0, result.output
    start = time.perf_counter()
    ngspice_load(tmp_path / "lin" / "array.cir", tmp_path)
    print(f"\nngspice loaded the 256x256 linear array in {time.perf_counter() - start:.1f} s")


@pytest.mark.ngspice
def test_load_check_reports_a_broken_netlist(tmp_path: Path) -> None:
    broken = tmp_path / "broken.cir"
    broken.write_text("* broken\nV1 a 0 DC 1\nX1 a 0 no_such_subckt\n.op\n.end\n")
    with pytest.raises(AssertionError, match="no_such_subckt"):
        ngspice_load(broken, tmp_path)


def test_memristor_state_option_picks_the_cell_form(tmp_path: Path) -> None:
    texts = {}
    for state in ("frozen", "dynamic"):
        result = generate("--rows", "4", "--cols", "4", "--memristor-state", state,
                          "--out", str(tmp_path / state))
        assert result.exit_code == 0, result.output
        texts[state] = (tmp_path / state / "array.cir").read_text()
        assert f'"state": "{state}"' in texts[state]
    assert texts["frozen"].count("\nBm") == 16
    assert ".subckt hfox" not in texts["frozen"]  # only the readout amplifier's subcircuit
    assert texts["dynamic"].count("\nXm") == 16
    assert f"\n.subckt {DEFAULT_MEMRISTOR}" in texts["dynamic"]


@pytest.mark.ngspice
def test_small_full_array_runs(tmp_path: Path) -> None:
    result = generate("--rows", "16", "--cols", "16", "--out", str(tmp_path / "x16"))
    assert result.exit_code == 0, result.output
    # 2 ns: long enough for the two-stage amplifier, sized for this small tile's current, to
    # pull its output below the virtual ground (at first the output follows the column end
    # up through R_f and its output resistance)
    vectors = NgspiceSession().run(shortened(tmp_path / "x16" / "array.cir", steps=200))
    outputs = np.array([vectors[f"out{j}"][-1] for j in range(16)])
    assert np.all(outputs < 0)  # the TIA inverts the column's current


# --- machine-readable summary -------------------------------------------------------------------


def test_json_summary(tmp_path: Path) -> None:
    out = tmp_path / "x"
    result = generate("--rows", "8", "--cols", "6", "--seed", "3", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    summary = json.loads(result.stdout)
    assert set(summary) == {"rows", "cols", "out", "files", "array_netlist", "spec_hash",
                            "data_hash", "seconds"}
    assert (summary["rows"], summary["cols"], summary["files"]) == (8, 6, 7)
    assert Path(summary["out"]) == out
    array = Path(summary["array_netlist"])
    assert array == out / "array.cir" and array.is_file()
    assert f"* spec {summary['spec_hash']} data {summary['data_hash']}" in array.read_text()
    assert summary["seconds"] >= 0
    # same options, same data: the hashes and the bytes repeat
    again = generate("--rows", "8", "--cols", "6", "--seed", "3", "--out", str(tmp_path / "y"),
                     "--json")
    assert json.loads(again.stdout)["data_hash"] == summary["data_hash"]
    assert (tmp_path / "y" / "col0005.cir").read_bytes() == (out / "col0005.cir").read_bytes()


# --- bad input ----------------------------------------------------------------------------------


def _npy(path: Path, array: np.ndarray) -> str:
    np.save(path, array)
    return str(path)


BAD_INPUT = {
    # name: (extra args built from tmp_path, fragments the message must contain)
    "zero rows": (lambda d: ["--rows", "0"], ["'--rows'", "0 is not in the range x>=1"]),
    "negative wire resistance": (lambda d: ["--r-wire", "-1"],
                                 ["'--r-wire'", "-1.0 is not in the range 0.0<=x<=1000.0"]),
    "g_min above g_max": (lambda d: ["--g-min", "2e-4", "--g-max", "1e-4"],
                          ["g_max_s=0.0001", "expected > g_min_s = 0.0002"]),
    "weights of the wrong shape": (
        lambda d: ["--rows", "4", "--cols", "4",
                   "--tile-weights", _npy(d / "w.npy", np.zeros((3, 3)))],
        ["shape (3, 3)", "expected (4, 2)"]),
    "missing weights file": (lambda d: ["--tile-weights", str(d / "missing.npy")],
                             ["missing.npy", "does not exist", "expected a .npy file"]),
    "non-numeric option value": (lambda d: ["--rows", "abc"], ["'abc'", "not a valid integer"]),
    "non-numeric float value": (lambda d: ["--r-wire", "1k"], ["'1k'", "not a valid float"]),
    "non-numeric weights": (
        lambda d: ["--rows", "2", "--cols", "4",
                   "--tile-weights", _npy(d / "s.npy", np.array([["a", "b"], ["c", "d"]]))],
        ["s.npy", "non-numeric", "expected real numbers"]),
    "missing inputs file": (lambda d: ["--tile-inputs", str(d / "none.npy")],
                            ["none.npy", "does not exist", "(256,)"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_line_and_exit_code_2(case: str, tmp_path: Path) -> None:
    make_args, fragments = BAD_INPUT[case]
    out = tmp_path / "out"
    result = generate("--out", str(out), *make_args(tmp_path))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stderr.endswith("\n"), result.stderr
    assert lines[0].startswith("Error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert not out.exists()
