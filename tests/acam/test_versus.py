"""The ACAM converter against the ADC it replaces: the count of conversions by hand, the figures
the ACAM's own ngspice measurement gives, the ADC's with its reference buffer."""

from __future__ import annotations

import numpy as np
import pytest

from spicecim.acam.converter import converter_figures
from spicecim.cost.mapping import TileGeometry
from spicecim.devices import AdcModel
from spicecim.models.mlp import Dense, Mlp
from spicecim.report.converters import compare_converters, conversions_per_sample


def _mlp() -> Mlp:
    z = np.zeros
    return Mlp({"x": 300}, (Dense("fc", ("x",), z((300, 10), np.float32), z(10, np.float32),
                                  "relu"),
                            Dense("out", ("fc",), z((10, 3), np.float32), z(3, np.float32),
                                  "none")))


def test_conversions_are_each_row_tiles_columns_in_each_phase() -> None:
    # fc: 300 inputs on 2 row tiles (256 + 44), 10 outputs on 20 differential columns, its
    # signed input in 2 phases; out: 1 row tile, 6 columns, 1 phase (relu inputs).
    assert conversions_per_sample(_mlp(), TileGeometry(256, 256, "differential")) == (
        2 * 20 * 2 + 1 * 6 * 1)


@pytest.mark.ngspice
def test_the_comparison_takes_each_converters_own_figures() -> None:
    adc = AdcModel(bits=2, t_conv_s=0.5e-9, e_conv_j=1e-13, ref_fraction=0.5)
    c = compare_converters(_mlp(), TileGeometry(256, 256, "differential"), adc)
    acam = converter_figures(2)
    assert (c.acam_energy_j, c.acam_latency_s) == (acam.energy_j, acam.latency_s)
    assert c.adc_energy_j == pytest.approx(1.5e-13)
    assert c.energy_ratio == pytest.approx(acam.energy_j / 1.5e-13)
    winner = "ADC" if c.energy_ratio > 1 else "ACAM"
    assert c.answer().startswith(f"{winner} wins on energy")
    assert "4 rows of a 2-bit code" in c.answer()
