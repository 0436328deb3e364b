"""The store's typed records: every column and tile attribute named once, in
``spicecim.store.schema``, and what the driver writes is exactly what a reader gets back."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from spicecim.errors import ResultFileError, SpecError
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


def test_the_tile_attributes_are_the_records_fields_with_their_units() -> None:
    fields = dataclasses.fields(schema.TileAttrs)
    assert schema.TILE_ATTRS == tuple((f.name, f.metadata["units"]) for f in fields)
    assert len(set(schema.TILE_ATTR_NAMES)) == len(fields)
    with pytest.raises(ResultFileError, match="enob"):
        schema.TileAttrs.from_dict({n: 0 for n in schema.TILE_ATTR_NAMES if n != "enob"})


@pytest.mark.ngspice
def test_a_simulated_run_holds_every_attribute_of_the_record(real_tables: Path) -> None:
    with open_run(real_tables) as run:
        record = run.tile_record("tile0")
        stored = run.tile_attrs("tile0")
        table = run.columns("tile0")
    assert set(stored) == set(schema.TILE_ATTR_NAMES)
    assert all(_same(v, stored[k]) for k, v in record.to_dict().items())
    assert record.adc_bits == 8 and record.drive
    assert list(table.data) == [f.name for f in schema.COLUMN_FIELDS]
