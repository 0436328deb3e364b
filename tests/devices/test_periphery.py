"""The periphery the column netlist does not simulate: each part against a closed form written
here, and the schedule charging each at its count and rail."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from spicecim.devices import AdcModel, access_transistor
from spicecim.devices.periphery import dac_e_conv_j, row_buffer, wordline_e_j
from spicecim.measure import ENERGY_PARTS, ColumnFigures, periphery, schedule_layer
from spicecim.netlist.spec import Tile, default_spec
from spicecim.store import schema

# MNSIM 2.0 Hardware_Model/DAC.py, DAC_power_dict at 1 GS/s (W), keyed by bits.
MNSIM_DAC_POWER_W = {1: 0.0039e-3, 2: 0.0078e-3, 3: 0.0156e-3, 4: 0.0312e-3, 6: 0.1248e-3,
                     8: 0.4992e-3}


@pytest.mark.parametrize("bits", sorted(MNSIM_DAC_POWER_W))
def test_dac_energy_follows_the_cited_table(bits: int) -> None:
    assert dac_e_conv_j(bits) == pytest.approx(MNSIM_DAC_POWER_W[bits] / 1e9, rel=1e-12)


def test_default_driver_scales_its_conversion_with_its_bits() -> None:
    driver = default_spec(4, 4).driver
    assert driver.conversion_energy_j == pytest.approx(0.4992e-12)
    four = dataclasses.replace(driver, dac_bits=4)
    assert four.conversion_energy_j == pytest.approx(0.0312e-3 / 1e9)


def test_wordline_is_wire_and_gates_charged_to_the_gate_voltage() -> None:
    t = access_transistor()
    cox = 3.9 * 8.8541878128e-12 / 1.25e-9  # PTM 45 nm toxe, by hand
    c = 64 * (32e-18 + cox * t.w_m * t.l_m)
    assert wordline_e_j(64, 32e-18, t) == pytest.approx(c * 1.0**2, rel=1e-6)
    assert wordline_e_j(64, 32e-18, None) == 0.0  # 0T1R: no word line


def test_row_buffer_output_stage_is_biased_at_the_row_current() -> None:
    buf = row_buffer(2.56e-4, 2e-15, 0.1, 8, 1.0)
    assert buf.i_out_a == pytest.approx(2.56e-4)  # class A over the row's full range
    assert buf.i_q_a == pytest.approx(buf.i_out_a + buf.i_tail_a)
    # The tail: 2 gm1 / (gm/Id)_in with gm1 = 2 pi gbw Cc (unity feedback, noise gain 1).
    gm1 = 2 * np.pi * buf.gbw_hz * buf.c_c_f
    assert buf.i_tail_a == pytest.approx(2 * gm1 / buf.gm_id_in_per_v)


def test_tile_periphery_draws_its_row_bias_from_the_rail() -> None:
    spec = default_spec(8, 16)
    g = np.full((8, 16), 20e-6)
    p = periphery(Tile(spec, g, np.ones(8)))
    assert p["row_bias_w"] == pytest.approx(p["row_buffer_i_q_a"] * spec.driver.rail_v)
    assert p["row_buffer_i_q_a"] > 16 * 20e-6 * spec.driver.v_full_v  # the row's current and more
    assert p["adc_ref_e_conv_j"] == pytest.approx(spec.readout.adc.ref_fraction
                                                  * spec.readout.adc.e_conv_j)


def test_schedule_charges_each_part_at_its_count() -> None:
    n = 4
    lat = np.array([1e-9, 2e-9, 3e-9, 4e-9])
    cols = ColumnFigures(latency_s=lat, window_s=lat, energy_array_j=np.full(n, 1e-13),
                         energy_frontend_j=np.full(n, 2e-13), power_array_w=np.zeros(n),
                         power_frontend_w=np.zeros(n))
    adc = AdcModel(bits=8, t_conv_s=1e-9, e_conv_j=2e-12, ref_fraction=0.5)
    rows = schedule_layer(cols, adc, 2, rows=3, dac_e_conv_j=1e-13, sh_e_clock_j=0.0,
                          row_bias_w=1e-4, wordline_e_j=1e-14)
    for r in rows:
        assert r.energy_rowbias_j == pytest.approx(3 * 1e-4 * r.rows_on_s)
        assert r.energy_wordline_j == pytest.approx(3 * 1e-14)
        assert r.energy_adcref_j == pytest.approx(n * 1e-12)
        assert r.energy_j == pytest.approx(sum(getattr(r, f"energy_{p}_j") for p in ENERGY_PARTS))
    driven = next(r for r in rows if r.schedule == "serialized" and r.policy == "driven")
    assert driven.energy_rowbias_j == pytest.approx(3 * 1e-4 * (4e-9 + 4 * 1e-9))


def test_the_store_keeps_every_part() -> None:
    assert schema.LAYER_ENERGY_PARTS == ENERGY_PARTS
