"""The sweep's orchestration (no ngspice: a unit test of the scheduling only): a part given a
drive mode has its drives solved when its first task is made, so the workers start after one
tile's solve and the next tiles' solves overlap them; a group's members are solved together."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from spicecim import make_tile
from spicecim.errors import SpecError
from spicecim.netlist.spec import default_spec
from spicecim.sim import sweep
from spicecim.sim.driver import sim_options


class _Recording(cf.Executor):
    """Runs nothing: records each submission in ``events`` and completes it at once."""

    def __init__(self, events: list[tuple[str, str]]) -> None:
        self.events = events
        self.tasks: list[Any] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        task = args[0]
        self.tasks.append(task)
        keys = getattr(task, "keys", None)
        self.events.append(("submit", ",".join(keys) if keys else _name(task.tile)))
        future: cf.Future = cf.Future()
        future.set_result([] if keys is None else [(k, None) for k in keys])
        return future


_NAMES: dict[int, str] = {}


def _name(tile: object) -> str:
    return _NAMES[id(tile)]


def _parts(groups: list[str | None]) -> list[sweep.SweepPart]:
    parts = []
    for k, group in enumerate(groups):
        tile = make_tile(default_spec(4, 4), seed=k)
        _NAMES[id(tile)] = f"t{k}"
        parts.append(sweep.SweepPart(f"t{k}", tile, (), sim_options(tile), (0, 1, 2, 3),
                                     group, drive="isolated"))
    return parts


def _run(parts: list[sweep.SweepPart], monkeypatch: pytest.MonkeyPatch
         ) -> tuple[list[tuple[str, str]], _Recording]:
    events: list[tuple[str, str]] = []
    solve = sweep.row_drives

    def recording(tile: Any, mode: str) -> list[sweep.RowDrive]:
        events.append(("solve", _name(tile)))
        return solve(tile, mode)

    monkeypatch.setattr(sweep, "row_drives", recording)
    pool = _Recording(events)
    list(sweep.sweep_tiles(parts, executor=pool, workers=1, columns_per_task=1))
    return events, pool


def _first_submit(events: list[tuple[str, str]], name: str) -> int:
    return next(i for i, (kind, names) in enumerate(events)
                if kind == "submit" and name in names.split(","))


def test_each_tile_is_solved_ahead_of_its_first_task(monkeypatch: pytest.MonkeyPatch) -> None:
    events, pool = _run(_parts([None, None, None, None, None]), monkeypatch)
    solves = [i for i, (kind, _) in enumerate(events) if kind == "solve"]
    names = [f"t{k}" for k in range(5)]
    assert [events[i][1] for i in solves] == names  # in order, each once
    for k, name in enumerate(names):
        first = _first_submit(events, name)
        # solved before its first task goes out, and no more than SOLVED_AHEAD tiles ahead
        assert events.index(("solve", name)) < first
        started = {n for kind, n in events[:first] if kind == "solve"}
        assert started <= set(names[:k + 1 + sweep.SOLVED_AHEAD])
    # the tasks carry the drives the mode gives
    first = pool.tasks[0]
    want = sweep.row_drives(first.tile, "isolated")[first.columns[0]]
    np.testing.assert_array_equal(first.drives[0].v_th_v, want.v_th_v)


def test_a_group_is_solved_together_before_its_first_task(
        monkeypatch: pytest.MonkeyPatch) -> None:
    events, _ = _run(_parts(["a", "a", "b"]), monkeypatch)
    group = _first_submit(events, "t0")
    assert group == _first_submit(events, "t1")
    assert {("solve", "t0"), ("solve", "t1")} <= set(events[:group])
    assert events.index(("solve", "t2")) < _first_submit(events, "t2")


def test_a_part_takes_drives_or_a_drive_mode() -> None:
    tile = make_tile(default_spec(4, 4))
    with pytest.raises(SpecError, match="drive"):
        sweep.SweepPart("t", tile, (), sim_options(tile), (0,), drive="somewhere")
    with pytest.raises(SpecError, match="drives"):
        sweep.SweepPart("t", tile, tuple(sweep.row_drives(tile, "isolated")),
                        sim_options(tile), (0,), drive="isolated")
