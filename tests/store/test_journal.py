"""Nothing lost, ever, at the store: a journal cut at any byte (what a kill leaves) resumes to the
run an uninterrupted writer makes; damage is detected, said and dropped; an earlier spicecim's
partial HDF5 file is salvaged or set aside."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spicecim.measure import LayerSchedule
from spicecim.store import journal, schema
from spicecim.store.hdf5 import RunWriter, open_run

CONFIG = {"spec": {"rows": 4, "cols": 5}, "simulation": {"waveforms": True}}
PROVENANCE = {schema.ATTR_NGSPICE: "ngspice-39", schema.ATTR_COMMAND: "spicecim simulate"}
COLS = 5
BATCHES = ((0, 1), (2,), (3, 4))


def _row(j: int) -> dict[str, object]:
    return {"status": "ok" if j != 2 else "failed", "retries": j, "latency_s": (j + 1) * 1e-9,
            "energy_adc_j": j * 1e-15, "message": f"column {j}\x00tail"}


def _waves(j: int) -> dict[str, np.ndarray]:
    n = 0 if j == 2 else 20 + j  # a failed column: empty waveforms, as ngspice leaves them
    return {f.name: np.linspace(0, 1, n) * (k + 1) + j
            for k, f in enumerate(schema.WAVEFORM_FIELDS)}


def _layer(value: float) -> list[LayerSchedule]:
    return [LayerSchedule("serialized", "hold", COLS, COLS, COLS, value, value, value, 0.0, value,
                          0.0, 0.0, 0.0)]


def _write(out: Path, batches: tuple[tuple[int, ...], ...] = BATCHES) -> RunWriter:
    writer = RunWriter(out, CONFIG, PROVENANCE)
    writer.add_tile("tile0", COLS, {"drive": "coupled", "adc_bits": 8})
    for batch in batches:
        todo = [j for j in batch if j in writer.pending("tile0")]
        if todo:
            writer.write_columns("tile0", {j: _row(j) for j in todo}, {j: _waves(j) for j in todo})
    return writer


def _contents(path: Path) -> dict[str, object]:
    """Every dataset and attribute of an HDF5 file, timestamps aside."""
    found: dict[str, object] = {}

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            found[name] = obj.asstr()[()] if h5py.check_string_dtype(obj.dtype) else obj[()]
        found.update({f"{name}@{k}": v for k, v in obj.attrs.items()})  # type: ignore[attr-defined]

    with h5py.File(path, "r") as f:
        f.visititems(visit)
        found.update({f"@{k}": v for k, v in f.attrs.items() if k != schema.ATTR_CREATED})
    return found


def _assert_same(a: dict[str, object], b: dict[str, object]) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict[str, object]]:
    """The journal just before finish, and the file an uninterrupted run ends with."""
    out = tmp_path_factory.mktemp("reference") / "run.h5"
    writer = _write(out)
    writer.write_layer("layer0", _layer(1e-9), ["tile0"])
    data = (out.with_name("run.h5.journal")).read_bytes()
    writer.finish()
    return data, _contents(out)


def _resume_and_finish(out: Path) -> RunWriter:
    writer = _write(out)  # the rerun: add_tile again, then only the columns still pending
    writer.write_layer("layer0", _layer(1e-9), ["tile0"])
    writer.finish()
    return writer


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_a_journal_cut_at_any_byte_resumes_to_the_uninterrupted_run(
        tmp_path_factory: pytest.TempPathFactory, reference: tuple[bytes, dict[str, object]],
        fraction: float) -> None:
    data, expected = reference
    cut = int(fraction * len(data))
    out = tmp_path_factory.mktemp("cut") / "run.h5"
    out.with_name("run.h5.journal").write_bytes(data[:cut])
    whole = [r.offset for r in journal.replay(out.with_name("run.h5.journal")).records]
    assert all(offset < cut for offset in whole)
    _resume_and_finish(out)
    _assert_same(_contents(out), expected)
    assert sorted(p.name for p in out.parent.iterdir()) == ["run.h5"]


def test_a_torn_tail_is_dropped_and_said_and_the_batches_before_it_are_kept(
        tmp_path: Path, reference: tuple[bytes, dict[str, object]],
        caplog: pytest.LogCaptureFixture) -> None:
    data, expected = reference
    src = tmp_path / "src.journal"
    src.write_bytes(data)
    offsets = [r.offset for r in journal.replay(src).records]
    last_batch = offsets[-2]  # the records are: open, provenance, tile, 3 batches, layer
    out = tmp_path / "run.h5"
    out.with_name("run.h5.journal").write_bytes(data[:last_batch + 30])
    with caplog.at_level(logging.WARNING, "spicecim"):
        writer = RunWriter(out, CONFIG, PROVENANCE)
    assert "a record cut short" in caplog.text and "kept 3 of the 5 columns" in caplog.text
    writer.add_tile("tile0", COLS, {})
    assert writer.pending("tile0") == [3, 4]
    writer.close()
    _resume_and_finish(out)
    _assert_same(_contents(out), expected)


def test_a_damaged_record_fails_its_checksum_and_ends_the_replay(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    _write(out).close()
    path = out.with_name("run.h5.journal")
    records = journal.replay(path).records
    data = bytearray(path.read_bytes())
    data[records[4].offset + 40] ^= 0xFF  # the second batch
    path.write_bytes(bytes(data))
    found = journal.replay(path)
    assert found.reason == "a record that fails its checksum"
    assert [r.offset for r in found.records] == [r.offset for r in records[:4]]
    with open_run(out) as run:  # a reader sees the same whole records
        assert run.pending("tile0") == [2, 3, 4]


def test_a_journal_killed_as_it_was_created_starts_anew(tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "run.h5"
    out.with_name("run.h5.journal").write_bytes(journal.encode({"kind": "open"})[:10])
    with caplog.at_level(logging.WARNING, "spicecim"):
        writer = RunWriter(out, CONFIG, PROVENANCE)
    assert "holds no whole record" in caplog.text and not writer.resumed
    writer.close()


def test_arrays_round_trip_through_a_record(tmp_path: Path) -> None:
    arrays = {"a": np.arange(6.0).reshape(2, 3), "b": np.array([], dtype=float),
              "c": np.array([1, 2], dtype="<i8")}
    path = tmp_path / "j"
    f = journal.JournalFile(path)
    offset = f.append({"kind": "x", "note": float("nan")}, arrays)
    f.close()
    got = journal.read_arrays(path, offset)
    for k, v in arrays.items():
        np.testing.assert_array_equal(got[k], v)
        assert got[k].dtype == v.dtype


def _legacy_partial(out: Path, done: list[int]) -> Path:
    """What an earlier spicecim left after a kill: the run's HDF5 file as ``<out>.partial``,
    complete false, the other columns pending."""
    writer = _write(out)
    writer.finish()
    partial = out.with_name("run.h5.partial")
    shutil.move(out, partial)
    with h5py.File(partial, "r+") as f:
        f.attrs[schema.ATTR_COMPLETE] = False
        status = f[schema.columns_group("tile0")]["status"]
        for j in range(COLS):
            if j not in done:
                status[j] = schema.PENDING
    return partial


def test_an_earlier_partial_file_is_salvaged_into_the_journal(
        tmp_path: Path, reference: tuple[bytes, dict[str, object]],
        caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "run.h5"
    partial = _legacy_partial(out, [0, 1, 3])
    with caplog.at_level(logging.WARNING, "spicecim"):
        writer = RunWriter(out, CONFIG, PROVENANCE)
    assert "kept 3 of its 5 columns" in caplog.text and "the other 2 will be simulated" in \
        caplog.text
    assert writer.resumed and not partial.exists()
    assert writer.pending("tile0") == [2, 4]
    writer.close()
    _resume_and_finish(out)
    _assert_same(_contents(out), reference[1])


def test_an_unreadable_partial_file_is_set_aside_and_said(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "run.h5"
    partial = _legacy_partial(out, [0, 1])
    data = bytearray(partial.read_bytes())
    data[:512] = bytes(512)  # the superblock gone: h5py cannot open it
    partial.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, "spicecim"):
        writer = _write(out)
    assert "cannot be read" in caplog.text and "kept none of it" in caplog.text
    assert out.with_name("run.h5.partial.damaged").exists() and not partial.exists()
    assert writer.pending("tile0") == []
    writer.close()


def test_a_value_the_file_cannot_hold_is_refused_before_it_is_journaled(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    writer = RunWriter(out, CONFIG, PROVENANCE)
    with pytest.raises(TypeError, match="attribute adc_bits=None"):
        writer.add_tile("tile0", 1, {"adc_bits": None})
    writer.add_tile("tile0", 1, {})
    size = out.with_name("run.h5.journal").stat().st_size
    with pytest.raises(TypeError, match="status=None is not a str"):
        writer.write_columns("tile0", {0: {"status": None}})
    with pytest.raises(TypeError, match="latency_s='fast' is not a f8"):
        writer.write_columns("tile0", {0: {"status": "ok", "latency_s": "fast"}})
    with pytest.raises(KeyError, match="speed_s"):
        writer.write_columns("tile0", {0: {"status": "ok", "speed_s": 1.0}})
    assert out.with_name("run.h5.journal").stat().st_size == size
    writer.close()
    again = RunWriter(out, CONFIG, PROVENANCE)
    again.add_tile("tile0", 1, {})
    again.write_columns("tile0", {0: {"status": "ok"}})
    again.finish()
