"""Nothing lost, ever: real ``spicecim simulate`` runs killed (SIGKILL at random instants, with
and without waveforms, during Monte Carlo), interrupted (Ctrl-C, SIGTERM) and raced (two runs on
one output). Every rerun must end complete and identical to an uninterrupted run; no process of
a killed run may outlive it by 5 s or hold its output pipes.

The full campaign (>= 50 kills of 64x64 runs) is ``benchmarks/bench_kill.py``; this is its
small version. Instants are drawn from a seeded generator and printed, so a failure repeats.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path

import h5py
import marked_runs
import numpy as np
import pytest
from click.testing import CliRunner

from spicecim.cli import cli
from spicecim.store import schema
from spicecim.store.hdf5 import open_run

SIMULATE = ["simulate", "--out", "run.h5"]
WAVEFORMS = ["--rows", "32", "--cols", "32", "--workers", "2", "--waveforms", "--progress"]
# The signal test's run: long enough (192 columns, seconds) that a resumed run is still going
# when the second signal arrives (96 columns once finished between the first progress line and
# the signal under make test's load, the two-stage amplifier's columns being quicker to settle).
SIGNALLED = ["--rows", "32", "--cols", "192", "--workers", "2", "--waveforms", "--progress"]
SIGNALLED_COLUMNS = 192
MONTE_CARLO = ["--rows", "16", "--cols", "16", "--workers", "2", "--mc", "2", "--progress"]
# A model co-simulation: fc0 (two input phases) and fc1 of mlp:16-8-8, two inputs each.
COSIM = ["--rows", "16", "--cols", "16", "--workers", "2", "--model", "mlp:16-8-8",
         "--inputs", "2", "--progress"]
# Results, not circumstances: the time a column took and when the file was made differ.
UNCOMPARED = {"cpu_s", f"@{schema.ATTR_CREATED}"}


def _start(folder: Path, args: list[str], tag: str, **popen: object) -> subprocess.Popen[bytes]:
    """The run, in ``folder`` (made if need be), its processes marked by ``tag``."""
    folder.mkdir(exist_ok=True)
    return marked_runs.start([*SIMULATE, *args], folder, tag, **popen)


def _contents(path: Path) -> dict[str, object]:
    found: dict[str, object] = {}

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            found[name] = obj.asstr()[()] if h5py.check_string_dtype(obj.dtype) else obj[()]
        found.update({f"{name}@{k}": v for k, v in obj.attrs.items()})  # type: ignore[attr-defined]

    with h5py.File(path, "r") as f:
        f.visititems(visit)
        found.update({f"@{k}": v for k, v in f.attrs.items()})
    return {k: v for k, v in found.items() if k.rsplit("/", 1)[-1] not in UNCOMPARED}


def _assert_identical(path: Path, reference: dict[str, object], *, but: str = "") -> None:
    got, reference = _contents(path), {k: v for k, v in reference.items() if k != but}
    got.pop(but, None)
    assert sorted(got) == sorted(reference)
    for key, value in reference.items():
        np.testing.assert_array_equal(np.asarray(got[key]), np.asarray(value), err_msg=key)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - a function
    """``uninterrupted(args)``: the file a run of ``args`` ends with, and its wall time (each
    run once per module)."""
    done: dict[tuple[str, ...], tuple[dict[str, object], float]] = {}

    def run(args: list[str]) -> tuple[dict[str, object], float]:
        if tuple(args) not in done:
            folder = tmp_path_factory.mktemp("uninterrupted")
            start = time.monotonic()
            proc = _start(folder, args, uuid.uuid4().hex)
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err.decode()
            done[tuple(args)] = _contents(folder / "run.h5"), time.monotonic() - start
        return done[tuple(args)]

    return run


@pytest.fixture(scope="module")
def model_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inputs") / "x.npy"
    np.save(path, np.random.default_rng(2).normal(0, 1, (16, 16)).astype(np.float32))
    return path


def _kill_at_random(folder: Path, args: list[str], run_s: float, rng: np.random.Generator
                    ) -> str:
    """Start the run, SIGKILL its main process at a random instant of its writing (from the
    first journal record to its end), and check it leaves no process and no open pipe."""
    tag = uuid.uuid4().hex
    proc = _start(folder, args, tag)
    journal = folder / "run.h5.journal"
    start = time.monotonic()
    while not journal.exists() and proc.poll() is None and time.monotonic() - start < 120:
        time.sleep(0.01)
    delay = float(rng.uniform(0, max(run_s - (time.monotonic() - start), 0.1)))
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    try:  # EOF on both pipes: no survivor holds them
        proc.communicate(timeout=marked_runs.GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        for pipe in (proc.stdout, proc.stderr):  # closed here, not left to the collector
            if pipe is not None:
                pipe.close()
        raise AssertionError(f"the output pipes were still open {marked_runs.GRACE_S} s after "
                             "the kill") from None
    assert marked_runs.left(tag) == [], "processes of the killed run are still running"
    return "finished" if proc.returncode == 0 else f"killed {delay:.2f} s in"


@pytest.mark.ngspice
@pytest.mark.slow
@pytest.mark.parametrize(("case", "args", "kills"), [("waveforms", WAVEFORMS, 2),
                                                     ("monte carlo", MONTE_CARLO, 1),
                                                     ("co-simulation", COSIM, 1)])
def test_runs_killed_at_random_instants_resume_to_the_uninterrupted_file(
        tmp_path: Path, uninterrupted, model_inputs: Path, case: str, args: list[str],  # noqa: ANN001
        kills: int) -> None:
    if case == "co-simulation":
        args = [*args, "--inputs-file", str(model_inputs)]
    reference, run_s = uninterrupted(args)
    seed = zlib.crc32(case.encode())
    rng = np.random.default_rng(seed)
    outcomes = [_kill_at_random(tmp_path / "killed", args, run_s, rng) for _ in range(kills)]
    print(f"{case} (seed {seed}): {outcomes}")
    final = _start(tmp_path / "killed", args, uuid.uuid4().hex)
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()
    _assert_identical(tmp_path / "killed" / "run.h5", reference)
    assert sorted(p.name for p in (tmp_path / "killed").iterdir()) == ["run.h5"]


def _wait_for_progress(proc: subprocess.Popen[bytes]) -> None:
    """Read stderr until the progress bar shows some columns done but not all."""
    assert proc.stderr is not None
    seen, deadline = b"", time.monotonic() + 120
    while time.monotonic() < deadline:
        if not select.select([proc.stderr], [], [], 0.1)[0]:
            continue
        chunk = os.read(proc.stderr.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
        if any(0 < int(d) < int(n) for d, n in re.findall(rb"(\d+)/(\d+)", seen)):
            return
    raise AssertionError(f"no partial progress: {seen[-300:]!r}")


@pytest.mark.ngspice
@pytest.mark.slow
def test_ctrl_c_and_sigterm_stop_cleanly_keeping_every_finished_column(
        tmp_path: Path, uninterrupted) -> None:  # noqa: ANN001
    args, n = SIGNALLED, SIGNALLED_COLUMNS
    reference, _ = uninterrupted(args)
    kept = []
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        tag = uuid.uuid4().hex
        proc = _start(tmp_path / "stopped", args, tag, start_new_session=True)
        _wait_for_progress(proc)
        if sig == signal.SIGINT:  # as a terminal sends it: to the whole process group
            os.killpg(proc.pid, sig)
        else:  # as kill(1) sends it: to the main process only
            proc.send_signal(sig)
        out, err = proc.communicate(timeout=marked_runs.GRACE_S + 30)
        assert proc.returncode == code, err.decode()
        last = err.decode().replace("\r", "\n").strip().splitlines()[-1]
        match = re.fullmatch(rf"interrupted: (\d+) of {n} columns kept in (\S+); rerun the same "
                             r"command to resume", last)
        assert match, err.decode()
        assert b"Traceback" not in err and out == b""
        assert marked_runs.left(tag) == []
        with open_run(tmp_path / "stopped" / match[2]) as run:
            assert not run.complete
            assert n - len(run.pending("tile0")) == int(match[1])
        tables = CliRunner().invoke(cli, ["tables", str(tmp_path / "stopped" / "run.h5")])
        assert tables.exit_code == 0 and "partial run" in tables.stdout
        assert f"tile0: {n - int(match[1])} column(s) not simulated yet" in tables.stdout
        kept.append(int(match[1]))
    assert 0 < kept[0] <= kept[1]
    final = _start(tmp_path / "stopped", [*args, "--json"], uuid.uuid4().hex)
    out, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()
    info = json.loads(out)
    assert (info["kept"], info["simulated"]) == (kept[1], n - kept[1])
    # The rerun's command line has --json: everything else is the uninterrupted run's.
    _assert_identical(tmp_path / "stopped" / "run.h5", reference,
                      but=f"@{schema.ATTR_COMMAND}")


@pytest.mark.ngspice
@pytest.mark.slow
def test_a_second_run_on_the_same_output_is_refused_naming_the_first(tmp_path: Path) -> None:
    args = ["--rows", "16", "--cols", "16", "--workers", "1", "--progress"]
    first = _start(tmp_path, args, uuid.uuid4().hex)
    _wait_for_progress(first)
    first.send_signal(signal.SIGSTOP)  # held mid-run, lock and all, for as long as the test needs
    try:
        seconds = [_start(tmp_path, [*args, *extra], uuid.uuid4().hex)
                   for extra in ([], ["--overwrite"])]
        for second in seconds:
            _, err = second.communicate(timeout=120)
            assert second.returncode == 2 and err.count(b"\n") == 1, err.decode()
            assert f"run.h5 is being written by process {first.pid} ".encode() in err
        assert (tmp_path / "run.h5.journal").exists() and not (tmp_path / "run.h5").exists()
    finally:
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err.decode()
    with open_run(tmp_path / "run.h5") as run:
        assert run.complete and run.pending("tile0") == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]


# A run small enough to be quick, whose workers start after a second or so of tile building.
STARTING = ["--rows", "16", "--cols", "16", "--workers", "2"]


def _handles_sigterm(pid: int) -> bool:
    """Whether ``pid`` has installed its SIGTERM handler (spicecim's ``main`` has begun)."""
    with open(f"/proc/{pid}/status") as f:
        caught = next(line for line in f if line.startswith("SigCgt:")).split()[1]
    return bool(int(caught, 16) >> (signal.SIGTERM - 1) & 1)


@pytest.mark.ngspice
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(("after", "delay_s"), [("main", 0.0), ("main", 0.5),
                                                ("forkserver", 0.0), ("forkserver", 0.05)])
def test_a_signal_during_start_up_is_one_line_and_leaves_no_process(
        tmp_path: Path, sig: signal.Signals, after: str, delay_s: float) -> None:
    """Signalled ``delay_s`` after spicecim's ``main`` began (options, tile, imports: before
    the run's own handler) or after the first process beside the main one appeared (the
    forkserver importing, or its first worker starting)."""
    tag = uuid.uuid4().hex
    proc = _start(tmp_path, STARTING, tag, start_new_session=True)
    deadline = time.monotonic() + 60

    def started() -> bool:
        if after == "main":
            return _handles_sigterm(proc.pid)
        return bool([p for p in marked_runs.processes(tag) if p.pid != proc.pid])

    while not started():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.005)
    time.sleep(delay_s)
    if sig == signal.SIGINT:  # as a terminal sends it: to the whole process group
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=marked_runs.GRACE_S + 30)  # no hang
    text = err.decode()
    assert proc.returncode == 128 + sig, text
    assert "Traceback" not in text and out == b""
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted"), text
    assert marked_runs.left(tag) == []
    rerun = _start(tmp_path, STARTING, uuid.uuid4().hex)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err.decode()


# SIGTERM delivered by the process to itself just before, or just after, the rename that puts
# the finished run in place: the two edges of the final write.
_AT_RENAME = """
import os, signal
real = os.replace
def replace(src, dst):
    if os.path.basename(dst) == "run.h5" and {before}:
        os.kill(os.getpid(), signal.SIGTERM)
    done = real(src, dst)
    if os.path.basename(dst) == "run.h5" and not {before}:
        os.kill(os.getpid(), signal.SIGTERM)
    return done
os.replace = replace
from spicecim.cli import main
main()
"""


@pytest.mark.ngspice
@pytest.mark.slow
@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_sigterm_at_the_final_rename_keeps_the_run_and_resumes_to_it(
        tmp_path: Path, uninterrupted, before: bool) -> None:  # noqa: ANN001
    reference, _ = uninterrupted(STARTING)
    tag = uuid.uuid4().hex
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "SPICECIM_TEST_RUN": tag}
    proc = subprocess.run([sys.executable, "-c", _AT_RENAME.format(before=before), "simulate",
                           "--out", "run.h5", *STARTING], cwd=tmp_path, env=env,
                          capture_output=True, timeout=300, check=False)
    text = proc.stderr.decode()
    assert proc.returncode == 143, text
    assert "Traceback" not in text and len(text.strip().splitlines()) == 1, text
    assert text.startswith("interrupted: 16 of 16 columns kept in "), text
    assert marked_runs.left(tag) == []
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
    rerun = _start(tmp_path, STARTING, uuid.uuid4().hex)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err.decode()
    _assert_identical(tmp_path / "run.h5", reference)
