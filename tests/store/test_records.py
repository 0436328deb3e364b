"""The store's typed records: every column and tile attribute named once, in
``spicecim.store.schema``, and what the driver writes is exactly what a reader gets back."""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from spicecim.errors import ResultFileError, SpecError
from spicecim.report.text import render
from spicecim.store import schema
from spicecim.store.runs import open_run


def _same(a: object, b: object) -> bool:
    both_nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    return both_nan or a == b


def test_an_empty_column_record_is_the_pending_row_in_the_tables_order() -> None:
    row = schema.ColumnRecord().row()
    assert list(row) == [f.name for f in schema.COLUMN_FIELDS]
    assert all(_same(row[f.name], f.fill) for f in schema.COLUMN_FIELDS)
    assert row["status"] == schema.PENDING


def test_a_record_spreads_its_parts_over_their_columns() -> None:
    parts = {p: float(k) for k, p in enumerate(schema.ENERGY_PARTS)}
    row = schema.ColumnRecord(column=3, status="ok", energy_j=parts).row()
    assert {schema.energy_field(p): row[schema.energy_field(p)] for p in parts} == {
        schema.energy_field(p): v for p, v in parts.items()}
    assert row["column"] == 3
    with pytest.raises(SpecError, match="energy_j"):
        schema.ColumnRecord(energy_j={"colour": 1.0})


# The tile attributes a run of spicecim 98dcf27 (the first with typed records) did not store.
EARLIER_MISSING = ("adc_range_a", "amp_settle_s", "amp_settle_window_s", "row_buffer_i_q_a",
                   "row_bias_w", "wordline_e_j", "adc_ref_e_conv_j")


def test_the_tile_attributes_are_the_records_fields_with_their_units() -> None:
    fields = dataclasses.fields(schema.TileAttrs)
    assert schema.TILE_ATTRS == tuple((f.name, f.metadata["units"]) for f in fields)
    assert len(set(schema.TILE_ATTR_NAMES)) == len(fields)


def test_an_attribute_of_the_wrong_type_is_one_line_naming_it() -> None:
    for name, value in (("adc_bits", "8"), ("adc_bits", 8.5), ("i_fs_a", "1e-6"),
                        ("front_end", 3.0), ("noise_ok", None)):
        with pytest.raises(ResultFileError, match=f"^run.h5: tile 'tile0': tile attribute "
                                                  f"{name}=") as info:
            schema.TileAttrs.from_dict({name: value}, where="run.h5: tile 'tile0'")
        assert "\n" not in str(info.value)
    with pytest.raises(SpecError, match="adc_bits"):
        dataclasses.replace(schema.TileAttrs.from_dict({}), adc_bits=8.5)  # type: ignore[arg-type]


def test_numbers_stored_by_numpy_read_as_their_python_type() -> None:
    record = schema.TileAttrs.from_dict({"adc_bits": np.int64(8), "i_fs_a": np.float32(0.5),
                                         "noise_ok": np.bool_(True), "ops": 8.0})
    assert (record.adc_bits, record.i_fs_a, record.noise_ok, record.ops) == (8, 0.5, True, 8)
    assert [type(v) for v in (record.adc_bits, record.i_fs_a, record.noise_ok)] == [
        int, float, bool]


@pytest.mark.ngspice
def test_a_simulated_run_holds_every_attribute_of_the_record(real_tables: Path) -> None:
    with open_run(real_tables) as run:
        record = run.tile_attrs("tile0")
        stored = run.stored_tile_attrs("tile0")
        table = run.columns("tile0")
    assert set(stored) == set(schema.TILE_ATTR_NAMES)
    assert all(_same(v, stored[k]) for k, v in record.to_dict().items())
    assert record.adc_bits == 8 and record.drive
    assert list(table.data) == [f.name for f in schema.COLUMN_FIELDS]


@pytest.mark.ngspice
def test_a_run_of_an_earlier_spicecim_reads_back(real_tables: Path, tmp_path: Path) -> None:
    """The simulated run as an earlier spicecim wrote it (without the attributes added since,
    with one this spicecim no longer knows): each attribute it stored reads back as stored,
    each it did not as not stored (NaN), and its tables print."""
    old = tmp_path / "earlier.h5"
    shutil.copy(real_tables, old)
    with h5py.File(old, "r+") as f:
        attrs = f[schema.tile_group("tile0")].attrs
        for name in EARLIER_MISSING:
            del attrs[name]
        attrs["retired_attribute"] = 1.0
    with open_run(real_tables) as run:
        now = run.tile_attrs("tile0").to_dict()
    with open_run(old) as run:
        earlier = run.tile_attrs("tile0").to_dict()
        text = render(run)
    assert all(math.isnan(earlier[n]) for n in EARLIER_MISSING)  # type: ignore[arg-type]
    assert {k: v for k, v in earlier.items() if k not in EARLIER_MISSING} == {
        k: v for k, v in now.items() if k not in EARLIER_MISSING}
    assert "tile0: tia front end" in text and "periphery" not in text
