"""The ADC range's noise floor (spicecim.devices.ranging): the least range at which the sized
TIA settles a full-scale step in its window, against a hand calculation of the noise at the
floor and an independent ngspice .noise deck of the circuit sized there."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from spicecim.devices.amplifier import crossover_hz, loop_settle_s
from spicecim.devices.ranging import bits_given_up, floored_range_a, noise_floor_a, sized_at
from spicecim.netlist.spec import default_spec, sized_readout
from tests.devices.test_amplifier import KT, tia_noise_v

SPEC = default_spec()
C_COLUMN_F = SPEC.rows * SPEC.wire.c_col_f


def floor_of(g_cell_s: float) -> tuple[float, float]:
    """(floor, worst-case current) of the default tile with every cell at ``g_cell_s``."""
    d = SPEC.driver
    i_fs = sized_readout(SPEC, np.full((SPEC.rows, SPEC.cols), g_cell_s)).i_fs_a
    return noise_floor_a(SPEC.readout, i_fs, d.v_full_v, d.rise_s, C_COLUMN_F), i_fs


def at(i_range_a: float, i_fs_a: float):  # noqa: ANN201 - a SizedReadout
    d = SPEC.driver
    return sized_at(SPEC.readout, i_range_a, i_fs_a, d.v_full_v, d.rise_s, C_COLUMN_F)


@pytest.mark.parametrize("g_cell_s", [12.5e-6, 3e-6])
def test_the_floor_is_the_least_range_that_settles_in_the_window(g_cell_s: float) -> None:
    """At the floor the sized TIA settles in the window with its noise within half an LSB; 1 %
    below it, it does not. Hand calculation: at the floor the loop's crossover f_c (read off its
    loop gain) is the one at which R_f's and the cells' noise, 4 k T (R_f + G R_f^2) (pi/2) f_c,
    fills what the amplifier's half and the capacitor's k T / C_s leave of (LSB/2)^2; that
    quadratic's R_f gives the floor swing / R_f within 5 %."""
    floor, i_fs = floor_of(g_cell_s)
    assert 0 < floor < i_fs
    sized = at(floor, i_fs)
    amp, load = sized.readout.opamp, sized.load
    assert load is not None
    assert loop_settle_s(amp, load) == pytest.approx(load.t_settle_s, rel=1e-5)
    assert sized.noise_v <= sized.half_lsb_v
    below = at(0.99 * floor, i_fs)
    assert below.load is not None
    assert loop_settle_s(below.readout.opamp, below.load) > 1.01 * load.t_settle_s
    left = (1 - amp.noise_share) * sized.half_lsb_v**2 - KT / sized.c_s_f
    r_sum = left / (4 * KT * 0.5 * math.pi * crossover_hz(amp, load))  # R_f + G R_f^2
    g = load.g_in_s
    r_f = (math.sqrt(1 + 4 * g * r_sum) - 1) / (2 * g)
    assert amp.v_swing_v / r_f == pytest.approx(floor, rel=0.05)


@pytest.mark.ngspice
def test_the_noise_at_the_floor_matches_an_ngspice_noise_deck(tmp_path: Path) -> None:
    """ngspice .noise on the TIA sized at the floor of 12.5 uS cells (the column as one
    resistor at its conductance, its capacitance, R_f, the amplifier's noise resistor, the
    switch into C_s): the total within 5 % of the sizing's noise, and within half an LSB."""
    floor, i_fs = floor_of(12.5e-6)
    sized = at(floor, i_fs)
    total = tia_noise_v(tmp_path, sized)
    assert total == pytest.approx(sized.noise_v, rel=0.05)
    assert total <= 1.05 * sized.half_lsb_v


def test_a_range_that_settles_is_kept_and_one_below_the_floor_raised() -> None:
    """floored_range_a keeps a calibrated range at which the front end settles, raises one
    below the floor to it, and the bits given up are log2 of the ratio."""
    floor, i_fs = floor_of(12.5e-6)
    d = SPEC.driver
    args = (i_fs, d.v_full_v, d.rise_s, C_COLUMN_F)
    assert floored_range_a(SPEC.readout, 0.5 * i_fs, *args) == 0.5 * i_fs
    assert floored_range_a(SPEC.readout, 0.25 * floor, *args) == floor
    assert bits_given_up(floor, 0.25 * floor) == pytest.approx(2.0)
    assert bits_given_up(0.5 * i_fs, 0.5 * i_fs) == 0.0


def test_a_column_too_quiet_for_the_window_is_floored_at_its_worst_case() -> None:
    """1 uS cells: even the worst-case range is noise-limited beyond the window; the floor is
    the worst case (no smaller range settles as fast)."""
    floor, i_fs = floor_of(1e-6)
    assert floor == pytest.approx(i_fs, rel=1e-5)
    sized = at(i_fs, i_fs)
    assert sized.load is not None
    assert loop_settle_s(sized.readout.opamp, sized.load) > sized.load.t_settle_s
