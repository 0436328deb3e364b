"""The kill campaign of issue 16: real ``spicecim simulate`` runs of a 64x64 tile (with
waveforms, without, and with Monte Carlo replicas) SIGKILLed at random instants, resumed, killed
again, and finally let finish; every finished file must equal the uninterrupted run's.

    .venv/bin/python benchmarks/bench_kill.py [--kills 60] [--seed 0] [--rows 64 --cols 64]

Each kill goes to the main process only, at an instant drawn uniformly over what is left of the
run's writing window once it has appended its first record (the uninterrupted run's window,
scaled by the share of columns still to simulate), so it lands while columns are journaled,
while the final file is written or renamed, or as the process exits; a signal that finds the
run already ended is not counted as a kill. After each kill both output pipes must reach EOF,
and every process of the run (marked by an environment variable: the forkserver, its workers,
the resource tracker) must be gone, within 5 s. Prints one row per scenario: where the kills
landed, the torn journal tails they left, what the reruns said (a tail dropped, a lock taken
over), reruns that failed, leftovers, and whether every final file is identical.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import psutil

from spicecim.store import journal, schema
from spicecim.store.hdf5 import open_run

GRACE_S = 5.0
KILLS_PER_OUTPUT = 4
UNCOMPARED = {"cpu_s", f"@{schema.ATTR_CREATED}"}
TAG = "SPICECIM_KILL_BENCH"


def _start(folder: Path, args: list[str], tag: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, TAG: tag}
    return subprocess.Popen([sys.executable, "-c", "from spicecim.cli import main; main()",
                             "simulate", *args, "--out", "run.h5"], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _processes(tag: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get(TAG) == tag and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:
            continue
    return found


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


def _identical(a: dict[str, object], b: dict[str, object]) -> bool:
    return sorted(a) == sorted(b) and all(
        np.array_equal(np.asarray(a[k]), np.asarray(b[k]), equal_nan=np.asarray(a[k]).dtype.kind
                       == "f") for k in a)


def _reference(folder: Path, args: list[str]) -> tuple[dict[str, object], float]:
    """The uninterrupted run: its file and its writing window (first record to exit)."""
    folder.mkdir()
    proc = _start(folder, args, uuid.uuid4().hex)
    while not (folder / "run.h5.journal").exists() and proc.poll() is None:
        time.sleep(0.005)
    start = time.monotonic()
    _, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"the uninterrupted run failed: {err.decode()}")
    return _contents(folder / "run.h5"), time.monotonic() - start


def _left(folder: Path) -> float:
    """The share of the run's columns still to simulate in ``folder``."""
    try:
        with open_run(folder / "run.h5") as run:
            if run.complete:
                return 0.0
            tiles = run.tiles()
            return sum(len(run.pending(t)) for t in tiles) / max(1, sum(
                len(run.columns(t)) for t in tiles))
    except Exception:  # noqa: BLE001 - nothing readable yet: all of it
        return 1.0


def _notes(err: bytes, tally: Counter) -> None:
    text = err.decode(errors="replace")
    tally["tails dropped"] += text.count("dropped it; kept")
    tally["locks taken over"] += text.count("took over the lock")


def _kill(folder: Path, args: list[str], window_s: float, rng: np.random.Generator,
          tally: Counter) -> None:
    out = folder / "run.h5"
    jpath = folder / "run.h5.journal"
    window_s *= max(_left(folder), 0.05)
    before = jpath.stat().st_size if jpath.exists() else -1
    tag = uuid.uuid4().hex
    proc = _start(folder, args, tag)
    # From this run's first record on: a kill before it finds nothing of this run to break.
    while (not jpath.exists() or jpath.stat().st_size == before) and proc.poll() is None:
        time.sleep(0.002)
    time.sleep(float(rng.uniform(0, window_s)))
    ended_before = proc.poll() is not None
    proc.kill()
    killed_at = time.monotonic()
    try:
        _, err = proc.communicate(timeout=GRACE_S)
        tally["pipes_eof_s"] = max(tally["pipes_eof_s"], time.monotonic() - killed_at)
    except subprocess.TimeoutExpired:
        tally["pipes_open"] += 1
        _, err = proc.communicate()
    _notes(err, tally)
    while _processes(tag) and time.monotonic() - killed_at < GRACE_S:
        time.sleep(0.05)
    tally["orphans"] += len(_processes(tag))
    if ended_before:
        tally["ended first"] += 1
        if proc.returncode != 0:
            tally["reruns failed"] += 1
            print(f"a rerun failed: {err.decode()}", file=sys.stderr)
        return
    tally["kills"] += 1
    if (folder / "run.h5.tmp").exists() or (out.exists() and jpath.exists()):
        tally["finishing"] += 1
    elif jpath.exists():
        tally["journaling"] += 1
    else:
        tally["exiting"] += 1
    if jpath.exists() and journal.replay(jpath).dropped_bytes:
        tally["torn tails"] += 1


def _campaign(root: Path, name: str, args: list[str], kills: int, rng: np.random.Generator
              ) -> dict[str, object]:
    reference, window_s = _reference(root / f"{name}-reference", args)
    tally: Counter = Counter()
    outputs = identical = 0
    while tally["kills"] < kills:
        folder = root / f"{name}-{outputs}"
        folder.mkdir()
        target = tally["kills"] + min(KILLS_PER_OUTPUT, kills - tally["kills"])
        while tally["kills"] < target and not (folder / "run.h5").exists():
            _kill(folder, args, window_s, rng, tally)
        final = _start(folder, args, uuid.uuid4().hex)
        _, err = final.communicate()
        _notes(err, tally)
        outputs += 1
        if final.returncode != 0:
            tally["reruns failed"] += 1
            print(f"{name}: the final rerun failed: {err.decode()}", file=sys.stderr)
            continue
        left = sorted(p.name for p in folder.iterdir() if p.name != "run.h5")
        tally["leftovers"] += len(left)
        identical += _identical(_contents(folder / "run.h5"), reference)
    return {"scenario": name, "window_s": window_s, "outputs": outputs, "identical": identical,
            **tally}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=60, help="kills in all (split over the "
                        "three scenarios)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--cols", type=int, default=64)
    parser.add_argument("--mc", type=int, default=2, help="replicas of the Monte Carlo run")
    parser.add_argument("--workers", type=int, default=2)
    a = parser.parse_args()
    tile = ["--rows", str(a.rows), "--cols", str(a.cols), "--workers", str(a.workers)]
    scenarios = {"waveforms": [*tile, "--waveforms"], "plain": tile,
                 "monte carlo": [*tile, "--mc", str(a.mc)]}
    rng = np.random.default_rng(a.seed)
    per = [a.kills // 3 + (k < a.kills % 3) for k in range(3)]
    rows = []
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-kill-") as tmp:
        for (name, args), kills in zip(scenarios.items(), per, strict=True):
            rows.append(_campaign(Path(tmp), name, args, kills, rng))
    print(f"{a.rows}x{a.cols} tile, {a.workers} workers, seed {a.seed}, "
          f"{time.monotonic() - start:.0f} s in all. Kills landed while journaling columns, "
          "finishing (final file written or renamed, journal not yet gone) or exiting (file in "
          "place); 'ended first': signals that found the run over (not counted)")
    head = ("scenario", "window_s", "kills", "journaling", "finishing", "exiting",
            "ended first", "torn tails", "tails dropped", "locks taken over", "reruns failed",
            "pipes_open", "pipes_eof_s", "orphans", "leftovers", "outputs", "identical")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for row in rows:
        print(" | ".join(f"{row.get(k, 0):.2f}" if isinstance(row.get(k, 0), float)
                         else str(row.get(k, 0)) for k in head))
    total = {k: sum(int(r.get(k, 0)) for r in rows) for k in ("kills", "outputs", "identical",
                                                              "reruns failed", "orphans",
                                                              "pipes_open", "leftovers")}
    lost = total["outputs"] - total["identical"] + total["reruns failed"]
    print(f"{total['kills']} kills, {total['outputs']} outputs, {lost} lost or corrupted, "
          f"{total['orphans']} orphaned processes, {total['pipes_open']} pipes left open, "
          f"{total['leftovers']} files left beside the outputs")
    sys.exit(1 if lost or total["orphans"] or total["pipes_open"] or total["leftovers"] else 0)


if __name__ == "__main__":
    main()
