"""The transfer table's cache file: written whenever asked for, also when this process has the
table in memory already, and a damaged one is never taken for a table to reuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from spicecim.acam import transfer
from spicecim.acam.netlist import acam_cell

CELL = acam_cell()


@pytest.mark.ngspice
def test_a_memoised_table_is_still_written_to_its_cache(tmp_path: Path) -> None:
    first = transfer.measure_transfer(CELL)
    cache = tmp_path / "table.npz"
    again = transfer.measure_transfer(CELL, cache=cache)
    assert again is first and cache.is_file()
    assert transfer.reusable_transfer(cache, CELL)
    stored = transfer.load_transfer(cache, CELL)
    assert (stored.g_s == first.g_s).all() and (stored.v_lo_v == first.v_lo_v).all()


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not a zip", b"not an archive"],
                         ids=["empty", "truncated zip", "text"])
def test_a_damaged_cache_is_not_reusable(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "table.npz"
    path.write_bytes(content)
    assert not transfer.reusable_transfer(path, CELL)
    with pytest.raises(transfer.ResultFileError, match="is not an ACAM transfer table"):
        transfer.load_transfer(path, CELL)
