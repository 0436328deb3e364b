"""How a macro's read becomes its paper's figures: the arithmetic on a synthetic schedule, and
the command line on a shipped macro."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from spicecim.cli import cli
from spicecim.errors import SpecError
from spicecim.macros import load
from spicecim.macros.reproduce import result_of
from spicecim.measure import LayerSchedule


def _read(**energy_j: float) -> LayerSchedule:
    parts = {"energy_dac_j": 0.0, "energy_array_j": 0.0, "energy_frontend_j": 0.0,
             "energy_sh_j": 0.0, "energy_adc_j": 0.0, **energy_j}
    return LayerSchedule(schedule="fully_parallel", policy="hold", adc_share=1, rounds=1,
                         conversions=2, latency_s=10e-9, t_sample_s=9e-9, rows_on_s=9e-9,
                         **parts)


def test_reads_columns_and_adc_sharing_scale_as_the_macro_has_them() -> None:
    macro = load("hung2023")
    cited = dataclasses.replace(macro.input_cycles, value=2)
    macro = dataclasses.replace(macro, input_cycles=cited,
                                columns_per_adc=dataclasses.replace(macro.columns_per_adc,
                                                                    value=4))
    # Two simulated columns spent 2 pJ in the ADC and the rows' DACs 1 pJ for the read.
    r = result_of(macro, _read(energy_adc_j=2e-12, energy_dac_j=1e-12), columns=2)
    t_conv = macro.adc_t_conv_s.number
    assert r.access_time_s == pytest.approx(2 * (10e-9 + 3 * t_conv))
    assert r.energy_j["adc"] == pytest.approx(2 * 2e-12 * 64 / 2)  # 2 reads, 64 columns
    assert r.energy_j["dac"] == pytest.approx(2 * 1e-12)  # the rows' DACs once per read
    assert r.ops == 2 * 64 * 8  # 64 rows, 64 columns of 8 one-bit slices
    assert r.tops_per_w == pytest.approx(r.ops / r.total_energy_j / 1e12)


def test_an_unknown_macro_is_refused_with_the_shipped_names() -> None:
    with pytest.raises(SpecError, match="hung2023"):
        load("nosuchmacro")


@pytest.mark.slow
@pytest.mark.ngspice
def test_the_command_prints_predicted_against_measured_and_the_energy_by_part() -> None:
    out = CliRunner().invoke(cli, ["macro", "hung2023"])
    assert out.exit_code == 0, out.output
    for text in ("access time (ns)", "TOPS/W", "14.4", "21.6", "frontend", "adc", "assumed"):
        assert text in out.output
