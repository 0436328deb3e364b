"""What sets a column's latency, measured (spicecim.report.attribution): a column rerun in
ngspice with one element ideal at a time, against the closed form of its sampled node's
two-pole step (spicecim.devices.settling) and the element built to be the slow one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from spicecim.devices.amplifier import _divider
from spicecim.devices.settling import closed_loop, settle_time_s
from spicecim.errors import ResultFileError, SpecError
from spicecim.netlist import spec as specs
from spicecim.netlist.spec import Tile
from spicecim.netlist.weights import make_tile
from spicecim.report.attribution import (
    ELEMENTS,
    attribute,
    idealised,
    render_causes,
    run_causes_text,
    slowest_columns,
)
from spicecim.sim import driver
from spicecim.sim.driver import RunOptions
from spicecim.store.hdf5 import open_run

SPEC = specs.default_spec(16, 16)
G = np.full((16, 16), 12.5e-6)
HALF = np.full(16, 0.5)  # a half-scale step: clear of the output stage's compression


def pinned_tile(r_on_factor: float) -> Tile:
    """The default 16x16 tile's front end pinned at its sizing, its switch ``r_on_factor``
    times slower (the amplifier not resized for it)."""
    base = Tile(SPEC, G, HALF)
    readout = SPEC.readout.pinned(base.readout)
    readout = dataclasses.replace(readout, sample_hold=dataclasses.replace(
        readout.sample_hold, r_on_ohm=readout.sample_hold.r_on_ohm * r_on_factor))
    return Tile(dataclasses.replace(SPEC, readout=readout), G, HALF)


def closed_form_s(tile: Tile) -> float:
    """The sampled node's half-scale step to half an LSB: a full-scale step to one LSB."""
    sized = tile.readout
    amp, load = sized.readout.opamp, sized.load
    assert load is not None and amp.gbw_hz is not None and amp.r_out_ohm is not None
    f_u = amp.gbw_hz * _divider(load, amp.r_out_ohm) / load.noise_gain
    return settle_time_s(*closed_loop(f_u, amp.r_out_ohm, load), load.bits - 1)


@pytest.mark.ngspice
@pytest.mark.parametrize(("r_on_factor", "slow"), [(1.0, "amplifier"), (30.0, "switch")])
def test_the_element_that_sets_the_latency_is_the_one_whose_removal_shortens_it_most(
        r_on_factor: float, slow: str) -> None:
    """As built, the column settles as the closed form of its loop says (within 3 %); the
    16-row tile's column is quiet enough that its amplifier is noise-limited, so making the
    amplifier ideal shortens it most; with a switch 30x slower the switch does. Making an
    element ideal never lengthens the latency by more than 2 %."""
    tile = pinned_tile(r_on_factor)
    (causes,) = attribute(tile, [0])
    assert causes.latency_s == pytest.approx(closed_form_s(tile), rel=0.03)
    assert causes.set_by == slow
    assert set(causes.ideal_latency_s) == set(ELEMENTS)
    assert all(t <= 1.02 * causes.latency_s for t in causes.ideal_latency_s.values())
    text = render_causes([causes])
    assert text.splitlines()[-1].split()[-1] == slow


def test_an_ideal_element_changes_that_element_alone() -> None:
    tile = pinned_tile(1.0)
    amp = tile.readout.readout.opamp
    ideal = idealised(tile, "amplifier").readout
    assert ideal.r_f_ohm == tile.readout.r_f_ohm and ideal.c_s_f == tile.readout.c_s_f
    assert ideal.full_scale_v == tile.readout.full_scale_v
    assert amp.gbw_hz is not None and ideal.readout.opamp.gbw_hz == pytest.approx(
        1e3 * amp.gbw_hz)
    wires = idealised(tile, "wires")
    assert wires.spec.wire.r_col_ohm == pytest.approx(SPEC.wire.r_col_ohm / 1e3)
    assert wires.readout.readout.opamp == amp
    with pytest.raises(SpecError, match="element"):
        idealised(tile, "cables")


@pytest.mark.ngspice
def test_a_seeded_runs_slowest_column_is_rerun_and_another_refused(tmp_path: Path) -> None:
    """tables --latency-causes: the tile rebuilt from the run's seed, its slowest stored column
    rerun as built to the stored latency (within 1 %: the same ngspice, the same drive); a run
    whose seed does not rebuild its tile is refused in one line."""
    spec = specs.default_spec(8, 8)
    tile = make_tile(spec, seed=3)
    out = tmp_path / "tile.h5"
    driver.simulate(tile, out, options=RunOptions(), parameters={"seed": 3})
    with open_run(out) as run:
        (slowest,) = slowest_columns(run, run.tiles()[0], 1)
        stored = run.columns(run.tiles()[0])
        latency = float(stored["latency_s"][list(stored["column"]).index(slowest)])
    text = run_causes_text(out, 1)
    row = text.splitlines()[-1].split()
    assert int(row[0]) == slowest and row[-1] in ELEMENTS
    (causes,) = attribute(tile, [slowest], elements=("switch",))
    assert causes.latency_s == pytest.approx(latency, rel=0.01)
    other = tmp_path / "other.h5"
    driver.simulate(tile, other, options=RunOptions(), parameters={"seed": 4})
    with pytest.raises(ResultFileError, match="cannot be rebuilt"):
        run_causes_text(other, 1)
