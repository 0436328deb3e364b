"""Schedules from tables: the hand arithmetic on a synthetic table with known columns.

Synthetic tile (conftest): 8x8, column j has latency (j + 1) ns and array energy (j + 1) fJ;
the ADC converts in 1 ns for 1 pJ; 4 columns share an ADC. Every column is sampled when the
slowest has settled, then converted in rounds: k columns per ADC, k rounds.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from spicecim.cost.mapping import ModelMapping, TileGeometry, map_layer
from spicecim.cost.schedule import (
    DigitalAdder,
    Workload,
    digital_stage,
    find_table,
    layer_costs,
    model_cost,
    read_tables,
    with_geometry,
)
from spicecim.devices.readout import REF_BUFFER_FRACTION
from spicecim.errors import ResultFileError, SpecError
from spicecim.netlist.spec import CrossbarSpec

NS, FJ, PJ = 1e-9, 1e-15, 1e-12
CONV_PJ = PJ * (1 + REF_BUFFER_FRACTION)  # one conversion with its reference buffer
NO_ADDER = DigitalAdder(0.0, 0.0)
TILE8 = TileGeometry(8, 8)


def _four_layers() -> ModelMapping:
    """Four 4 -> 4 layers: each fills one 8x8 tile's 8 columns (differential pairs)."""
    return ModelMapping(tuple(map_layer(f"fc{i}", 4, 4, TILE8) for i in range(4)), TILE8)


def test_one_layer_is_the_hand_arithmetic(synthetic: Path) -> None:
    (table,) = read_tables(synthetic)
    costs = layer_costs(map_layer("fc", 4, 4, TILE8), table, NO_ADDER)
    # serialized: the slowest column, then 8 conversions through the one ADC
    assert costs["serialized"].latency_s == pytest.approx(8 * NS + 8 * NS)
    # fully parallel: the slowest column + one conversion
    assert costs["fully_parallel"].latency_s == pytest.approx(8 * NS + 1 * NS)
    # 4 columns per ADC: 4 rounds
    assert costs["adc_shared"].latency_s == pytest.approx(8 * NS + 4 * NS)
    for cost in costs.values():
        assert cost.energy_array_j == pytest.approx(36 * FJ)
        assert cost.energy_adc_j == pytest.approx(8 * CONV_PJ)
        assert cost.energy_j == pytest.approx(36 * FJ + 8 * CONV_PJ)
        assert cost.conversions == 8


def test_a_layer_using_n_columns_takes_columns_0_to_n_minus_1(synthetic: Path) -> None:
    (table,) = read_tables(synthetic)
    costs = layer_costs(map_layer("fc", 4, 2, TILE8), table, NO_ADDER)  # 4 columns
    assert costs["serialized"].latency_s == pytest.approx(4 * NS + 4 * NS)
    assert costs["fully_parallel"].latency_s == pytest.approx(4 * NS + NS)
    assert costs["serialized"].energy_j == pytest.approx(10 * FJ + 4 * CONV_PJ)


def test_tiles_run_in_parallel_and_their_energies_add(synthetic: Path) -> None:
    (table,) = read_tables(synthetic)
    m = map_layer("fc", 12, 6, TILE8)  # rows 8 + 4; outputs 4 (8 columns) + 2 (4 columns)
    assert (m.row_tiles, m.col_tiles, m.column_counts) == (2, 2, (8, 4))
    costs = layer_costs(m, table, NO_ADDER)
    assert costs["serialized"].latency_s == pytest.approx(8 * NS + 8 * NS)  # the slower tile
    assert costs["serialized"].energy_j == pytest.approx(
        2 * (36 * FJ + 8 * CONV_PJ + 10 * FJ + 4 * CONV_PJ))


def test_signed_inputs_read_twice(synthetic: Path) -> None:
    (table,) = read_tables(synthetic)
    once = layer_costs(map_layer("fc", 4, 4, TILE8), table, NO_ADDER)
    twice = layer_costs(map_layer("fc", 4, 4, TILE8, input_phases=2), table, NO_ADDER)
    for s, cost in twice.items():
        assert cost.latency_s == pytest.approx(2 * once[s].latency_s)
        assert cost.energy_j == pytest.approx(2 * once[s].energy_j)
        assert cost.conversions == 2 * once[s].conversions


def test_a_generic_tile_counts_its_row_buffers_and_word_lines(tmp_path: Path, make_spec,
                                                              write_table) -> None:
    """The generic tile's periphery as the run stored it: each of the 8 driven rows' buffers
    at 2 uW while the rows are on (the slowest column's 8 ns, and the conversions when kept
    driven) and its word line, 3 fJ, once per read: in the layer's array energy."""
    cols = np.arange(1, 9)
    path = write_table(tmp_path / "r.h5", make_spec(), cols * NS, cols * FJ, row_bias_w=2e-6,
                       wordline_e_j=3 * FJ)
    (table,) = read_tables(path)
    assert (table.row_bias_w, table.wordline_e_j) == (2e-6, 3 * FJ)
    hold = layer_costs(map_layer("fc", 4, 4, TILE8), table, NO_ADDER, policy="hold")
    driven = layer_costs(map_layer("fc", 4, 4, TILE8), table, NO_ADDER, policy="driven")
    for s, rounds in (("fully_parallel", 1), ("adc_shared", 4), ("serialized", 8)):
        assert hold[s].energy_array_j == pytest.approx(36 * FJ + 8 * 2e-6 * 8 * NS + 8 * 3 * FJ)
        assert driven[s].energy_array_j == pytest.approx(
            36 * FJ + 8 * 2e-6 * (8 + rounds) * NS + 8 * 3 * FJ)


def test_columns_drawing_power_while_the_slowest_settles_cost_energy(tmp_path: Path, make_spec,
                                                                     write_table) -> None:
    """With rows held until every sample is taken, column j draws its settled power for
    (8 - (j + 1)) ns after its own window; kept driven, for the conversions too."""
    cols = np.arange(1, 9)
    path = write_table(tmp_path / "p.h5", make_spec(), cols * NS, cols * FJ, power_w=1e-6)
    (table,) = read_tables(path)
    hold = layer_costs(map_layer("fc", 4, 4, TILE8), table, NO_ADDER, policy="hold")
    driven = layer_costs(map_layer("fc", 4, 4, TILE8), table, NO_ADDER, policy="driven")
    waiting = 1e-6 * float(np.sum(8 - cols)) * NS
    for s, rounds in (("fully_parallel", 1), ("adc_shared", 4), ("serialized", 8)):
        assert hold[s].energy_array_j == pytest.approx(36 * FJ + waiting)
        assert driven[s].energy_array_j == pytest.approx(36 * FJ + waiting
                                                         + 8 * 1e-6 * rounds * NS)
        assert driven[s].latency_s == hold[s].latency_s


def test_digital_stage_counts_levels_and_additions() -> None:
    adder = DigitalAdder(latency_s=1 * NS, energy_j=1 * PJ)
    # 2 row tiles, 1 phase: subtract pairs (1 level), add 2 partial sums + bias (2 levels);
    # 2 subtractions + 2 additions per output, 6 outputs
    t, e = digital_stage(map_layer("fc", 12, 6, TILE8), adder)
    assert (t, e) == (pytest.approx(3 * NS), pytest.approx(24 * PJ))
    # 1 row tile, 2 phases: 1 + ceil(log2(3)) levels; 4 additions per output
    t, e = digital_stage(map_layer("fc", 4, 4, TILE8, input_phases=2), adder)
    assert (t, e) == (pytest.approx(3 * NS), pytest.approx(16 * PJ))


def test_four_layers_per_ray_and_per_frame_multiply_out(synthetic: Path) -> None:
    (table,) = read_tables(synthetic)
    adder = DigitalAdder(latency_s=1 * NS, energy_j=1 * PJ)
    layer = layer_costs(map_layer("fc", 4, 4, TILE8), table, adder)
    one = model_cost(_four_layers(), table, Workload(192, 800, 800, 1), 4, adder)
    four = model_cost(_four_layers(), table, Workload(192, 800, 800, 4), 4, adder)
    for s, cost in layer.items():
        total = one.total(s)
        assert total.sample_latency_s == pytest.approx(4 * cost.latency_s)
        assert total.sample_energy_j == pytest.approx(4 * cost.energy_j)
        assert total.ray_latency_s == pytest.approx(192 * 4 * cost.latency_s)
        assert total.ray_energy_j == pytest.approx(192 * 4 * cost.energy_j)
        assert total.frame_latency_s == pytest.approx(800 * 800 * 192 * 4 * cost.latency_s)
        assert total.frame_energy_j == pytest.approx(800 * 800 * 192 * 4 * cost.energy_j)
        assert total.throughput_per_s == pytest.approx(1 / (4 * cost.latency_s))
        assert total.pipelined_per_s == pytest.approx(1 / cost.latency_s)
        replicated = four.total(s)
        assert replicated.ray_latency_s == pytest.approx(48 * 4 * cost.latency_s)
        assert replicated.ray_energy_j == pytest.approx(total.ray_energy_j)
        assert replicated.throughput_per_s == pytest.approx(4 * total.throughput_per_s)
    # the serialized layer: 8 ns of settling, 8 conversions + 2 adder levels
    assert one.total("serialized").sample_latency_s == pytest.approx(4 * 18 * NS)


def test_a_failed_column_makes_only_the_layers_using_it_missing(tmp_path: Path, make_spec,
                                                               write_table) -> None:
    cols = np.arange(1, 9)
    status = ["ok"] * 6 + ["failed", "ok"]
    path = write_table(tmp_path / "t.h5", make_spec(), cols * NS, cols * FJ, status=status)
    (table,) = read_tables(path)
    assert table.failed == (6,)
    assert math.isnan(layer_costs(map_layer("a", 4, 4, TILE8), table, NO_ADDER)
                      ["serialized"].latency_s)
    assert layer_costs(map_layer("b", 4, 3, TILE8), table, NO_ADDER)["serialized"].latency_s \
        == pytest.approx(6 * NS + 6 * NS)
    # a model with one such layer has a missing total, never a partial one
    model = ModelMapping((map_layer("b", 4, 3, TILE8), map_layer("a", 4, 4, TILE8)), TILE8)
    assert math.isnan(model_cost(model, table, Workload(), 4).total("fully_parallel")
                      .sample_latency_s)


def test_other_configurations_are_not_found(synthetic: Path, make_spec, weights) -> None:
    tables = read_tables(synthetic)
    spec = make_spec()
    assert find_table(tables, spec, weights) is tables[0]
    assert CrossbarSpec.from_dict(spec.to_dict()) == spec
    assert find_table(tables, with_geometry(spec, 16, 16), weights) is None
    assert find_table(tables, make_spec(t_conv_s=2e-9), weights) is None
    assert find_table(tables, spec, dataclasses.replace(weights, bits=3)) is None
    missing = model_cost(_four_layers(), None, Workload(), 4)
    assert all(math.isnan(c.latency_s) for layer in missing.layers for c in layer.values())


def test_a_table_of_another_tile_size_is_refused_not_stretched(synthetic: Path) -> None:
    (table,) = read_tables(synthetic)
    with pytest.raises(SpecError, match="table tile"):
        layer_costs(map_layer("fc", 4, 4, TileGeometry(16, 16)), table, NO_ADDER)


def test_reading_a_missing_or_foreign_file_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match="does not exist"):
        read_tables(tmp_path / "nope.h5")
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(ResultFileError):
        read_tables(tmp_path / "junk.h5")


def test_slices_copies_and_row_groups_cost_what_they_read(synthetic: Path) -> None:
    (table,) = read_tables(synthetic)
    # 4 inputs x 2 outputs, 2 slices: 8 columns; 2 copies: the 4 inputs fill 8 rows
    sliced = TileGeometry(8, 8, slices=2, copies=2)
    m = map_layer("fc", 4, 2, sliced)
    assert (m.row_tiles, m.col_tiles, m.column_counts, m.devices) == (1, 1, (8,), 64)
    costs = layer_costs(m, table, NO_ADDER)
    assert costs["fully_parallel"].latency_s == pytest.approx(8 * NS + 1 * NS)
    assert costs["fully_parallel"].energy_adc_j == pytest.approx(8 * CONV_PJ)
    # read 4 rows at a time: two reads one after the other, twice the conversions
    grouped = map_layer("fc", 4, 2, dataclasses.replace(sliced, rows_per_read=4))
    assert grouped.reads == 2 and grouped.columns_converted == 16
    g = layer_costs(grouped, table, NO_ADDER)
    assert g["fully_parallel"].latency_s == pytest.approx(2 * (8 * NS + 1 * NS))
    assert g["fully_parallel"].energy_j == pytest.approx(2 * costs["fully_parallel"].energy_j)
    # digital: the slices' columns of every read, per output
    adder = DigitalAdder(1 * NS, 1 * PJ)
    assert digital_stage(grouped, adder) == (pytest.approx(4 * NS), pytest.approx(16 * PJ))


def test_bad_geometry_names_the_field() -> None:
    with pytest.raises(SpecError, match="rows_per_read"):
        TileGeometry(8, 8, copies=2, rows_per_read=3)
    with pytest.raises(SpecError, match="slices"):
        TileGeometry(8, 8, "reference", slices=2)
    with pytest.raises(SpecError, match="copies"):
        TileGeometry(8, 8, copies=9)
