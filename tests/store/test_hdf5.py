"""The HDF5 store without a simulator: round trip, units, unfinished runs (read from their
journal), resume rules."""

from __future__ import annotations

import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spicecim.errors import ResultFileError
from spicecim.measure import LayerSchedule
from spicecim.store import schema
from spicecim.store.hdf5 import ConfigMismatchError, RunWriter, config_differences, open_run

CONFIG = {"spec": {"rows": 4, "cols": 3, "wire": {"r_row_ohm": 0.5}},
          "simulation": {"drive": "coupled"}}
PROVENANCE = {schema.ATTR_NGSPICE: "ngspice-39", schema.ATTR_COMMAND: "spicecim simulate --rows 4"}

finite = st.floats(-1e3, 1e3, allow_nan=False)
# HDF5 strings end at NUL; the writer replaces it (tested apart), so the round trip leaves it out.
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=30)


@st.composite
def column_rows(draw: st.DrawFn, cols: int) -> dict[int, dict[str, object]]:
    done = draw(st.lists(st.integers(0, cols - 1), unique=True, max_size=cols))
    rows = {}
    for j in done:
        row: dict[str, object] = {}
        for f in schema.COLUMN_FIELDS:
            if f.name == "column":
                continue
            if f.kind == "str":
                row[f.name] = draw(st.sampled_from(["ok", "failed", "unsettled"])) \
                    if f.name == "status" else draw(text)
            elif f.kind == "i8":
                row[f.name] = draw(st.integers(0, 10))
            else:
                row[f.name] = draw(st.one_of(finite, st.just(float("nan"))))
        rows[j] = row
    return rows


def _schedule(name: str, value: float) -> LayerSchedule:
    return LayerSchedule(name, "hold", 2, 3, 4, value, 2 * value, 3 * value, value, 2 * value,
                         3 * value, 4 * value, 5 * value)


@settings(max_examples=25, deadline=None)
@given(cols=st.integers(1, 12), data=st.data(), n=st.integers(1, 50), value=finite)
def test_round_trip(cols: int, data: st.DataObject, n: int, value: float) -> None:
    drawn = data.draw(column_rows(cols))
    # A complete file has no pending column: the others failed, every other field at its fill.
    rows = {j: drawn.get(j, {"status": "failed"}) for j in range(cols)}
    waves = {j: {f.name: np.linspace(0, value, n) + k for k, f in enumerate(schema.WAVEFORM_FIELDS)}
             for j in list(rows)[:2]}
    schedules = [_schedule(s, value) for s in ("fully_parallel", "adc_shared", "serialized")]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.h5"
        writer = RunWriter(out, CONFIG, PROVENANCE)
        writer.add_tile("tile0", cols, {"drive": "coupled", "adc_lsb_v": 1e-5})
        writer.write_columns("tile0", rows, waves)
        writer.write_layer("layer0", schedules, ["tile0"])
        writer.finish()
        with open_run(out) as run:
            assert run.complete and run.tiles() == ["tile0"] and run.layers() == ["layer0"]
            assert run.config == CONFIG
            assert run.provenance[schema.ATTR_COMMAND] == PROVENANCE[schema.ATTR_COMMAND]
            assert run.stored_tile_attrs("tile0") == {"drive": "coupled", "adc_lsb_v": 1e-5}
            table = run.columns("tile0")
            np.testing.assert_array_equal(table["column"], np.arange(cols))
            for j in range(cols):
                for f in schema.COLUMN_FIELDS[1:]:
                    expected = rows[j].get(f.name, f.fill)
                    got = table[f.name][j]
                    if f.kind == "f8":
                        np.testing.assert_equal(got, expected)
                    else:
                        assert got == expected, (j, f.name)
            layer = run.layer("layer0")
            assert list(layer["schedule"]) == [s.schedule for s in schedules]
            np.testing.assert_equal(layer["energy_j"], [s.energy_j for s in schedules])
            assert run.layer_tiles("layer0") == ["tile0"]
            for j, w in waves.items():
                got = run.waveform("tile0", j)
                for name, array in w.items():
                    np.testing.assert_array_equal(got[name], array)


def _all_datasets(path: Path) -> list[h5py.Dataset]:
    found: list[h5py.Dataset] = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda _, o: found.append(o.name) if isinstance(o, h5py.Dataset) else None)
    return found


def test_every_dataset_has_units_and_waveforms_are_compressed(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    writer = RunWriter(out, CONFIG, PROVENANCE)
    writer.add_tile("tile0", 2, {})
    waves = {f.name: np.arange(100.0) for f in schema.WAVEFORM_FIELDS}
    writer.write_columns("tile0", {0: {"status": "ok"}, 1: {"status": "failed"}}, {0: waves})
    writer.write_layer("layer0", [_schedule("serialized", 1.0)], ["tile0"])
    writer.finish()
    names = _all_datasets(out)
    fields = schema.COLUMN_FIELDS + schema.WAVEFORM_FIELDS + schema.LAYER_FIELDS
    assert len(names) == 1 + len(fields)
    with h5py.File(out, "r") as f:
        for name in names:
            assert f[name].attrs[schema.ATTR_UNITS], name
        wave = f[schema.waveform_group("tile0", 0)]["time_s"]
        assert wave.compression == "gzip" and wave.chunks is not None
    with open_run(out) as run, pytest.raises(ResultFileError, match="--waveforms"):
        run.waveform("tile0", 1)


def test_an_unfinished_run_is_read_from_its_journal_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    writer = RunWriter(out, CONFIG, PROVENANCE)
    writer.add_tile("tile0", 3, {"drive": "coupled"})
    wave = {f.name: np.arange(5.0) * k for k, f in enumerate(schema.WAVEFORM_FIELDS)}
    writer.write_columns("tile0", {1: {"status": "ok", "latency_s": 2e-9}}, {1: wave})
    writer.write_layer("layer0", [_schedule("serialized", 1.0)], ["tile0"])
    with pytest.raises(ResultFileError, match=r"cannot be finished.*tile0: 2"):
        writer.finish()  # a complete file never has a pending column
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5.journal"]
    with open_run(out) as run:  # the journal, as the run file would be
        assert not run.complete and run.path == tmp_path / "run.h5.journal"
        assert run.config == CONFIG and run.stored_tile_attrs("tile0") == {"drive": "coupled"}
        assert run.provenance[schema.ATTR_COMMAND] == PROVENANCE[schema.ATTR_COMMAND]
        assert run.columns("tile0")["status"].tolist() == ["pending", "ok", "pending"]
        assert run.pending("tile0") == [0, 2] and run.failures("tile0") == []
        assert run.waveform_columns("tile0") == [1]
        np.testing.assert_array_equal(run.waveform("tile0", 1)["v_out_v"], wave["v_out_v"])
        assert run.layer("layer0")["latency_s"].tolist() == [1.0]
    again = RunWriter(out, CONFIG, PROVENANCE)
    assert again.resumed
    again.add_tile("tile0", 3, {})
    assert again.pending("tile0") == [0, 2]
    assert again.columns("tile0")["latency_s"][1] == 2e-9
    again.write_columns("tile0", {0: {"status": "ok"}, 2: {"status": "unsettled"}})
    again.finish()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]  # no journal, no lock
    with open_run(out) as run:
        assert run.complete and run.layers() == ["layer0"]
        np.testing.assert_array_equal(run.waveform("tile0", 1)["time_s"], wave["time_s"])


def test_a_rerun_that_changes_nothing_leaves_the_file_alone(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    writer = RunWriter(out, CONFIG, PROVENANCE)
    writer.add_tile("tile0", 1, {})
    writer.write_columns("tile0", {0: {"status": "ok"}})
    writer.write_layer("layer0", [_schedule("serialized", 1.0)], ["tile0"])
    writer.finish()
    before = out.stat()
    again = RunWriter(out, CONFIG, PROVENANCE)
    again.add_tile("tile0", 1, {})
    again.write_layer("layer0", [_schedule("serialized", 1.0)], ["tile0"])
    again.finish()
    assert (out.stat().st_ino, out.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]


def test_a_complete_file_is_extended_and_replaying_merged_records_changes_nothing(
        tmp_path: Path) -> None:
    """A kill after the final rename but before the journal is removed leaves both: the rerun
    replays the journal onto the file it was merged into, and ends with the same file."""
    out = tmp_path / "run.h5"
    wave = {f.name: np.linspace(0, 1, 7) + k for k, f in enumerate(schema.WAVEFORM_FIELDS)}
    first = RunWriter(out, CONFIG, PROVENANCE)
    first.add_tile("tile0", 2, {})
    first.write_columns("tile0", {0: {"status": "ok"}, 1: {"status": "ok"}}, {0: wave})
    first.finish()
    extend = RunWriter(out, CONFIG, PROVENANCE)  # e.g. Monte Carlo replicas of a nominal run
    extend.add_tile("tile1", 1, {})
    extend.write_columns("tile1", {0: {"status": "ok", "v_final_v": 0.5}}, {0: wave})
    journal = tmp_path / "run.h5.journal"
    kept = journal.read_bytes()
    extend.finish()
    journal.write_bytes(kept)
    with open_run(out) as run:
        expected = {t: run.columns(t) for t in run.tiles()}
    again = RunWriter(out, CONFIG, PROVENANCE)
    assert again.resumed and again.pending("tile1") == []
    again.finish()
    assert not journal.exists()
    with open_run(out) as run:
        assert run.tiles() == ["tile0", "tile1"] and run.complete
        for t, table in expected.items():
            for name in table.data:
                np.testing.assert_array_equal(run.columns(t)[name], table[name])
        for t in ("tile0", "tile1"):
            np.testing.assert_array_equal(run.waveform(t, 0)["v_in_v"], wave["v_in_v"])


def test_a_changed_parameter_is_refused_naming_it(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    writer = RunWriter(out, CONFIG, PROVENANCE)
    writer.finish()
    changed = {**CONFIG, "spec": {**CONFIG["spec"], "rows": 8}}
    with pytest.raises(ConfigMismatchError, match=r"spec\.rows: 4 -> 8.*--overwrite"):
        RunWriter(out, changed, PROVENANCE)
    assert out.exists()  # the refused run left the file alone
    fresh = RunWriter(out, changed, PROVENANCE, overwrite=True)
    assert not fresh.resumed
    fresh.finish()
    with open_run(out) as run:
        assert run.config["spec"]["rows"] == 8


def test_config_differences_name_nested_and_missing_keys() -> None:
    diff = config_differences({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "d": 3}})
    assert diff == ["a.c: 2 -> '<absent>'", "a.d: '<absent>' -> 3"]


def test_a_foreign_file_is_a_result_file_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.h5"
    bad.write_text("not hdf5")
    with pytest.raises(ResultFileError, match="not a readable"):
        open_run(bad)
    with pytest.raises(ResultFileError, match="not a readable.*--overwrite"):
        RunWriter(bad, CONFIG, PROVENANCE)
    with pytest.raises(ResultFileError, match="does not exist"):
        open_run(tmp_path / "missing.h5")
