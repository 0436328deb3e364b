"""The front ends as classes: each name resolves to one class once, each class sizes its
element to the full scale its closed form gives, and every consumer (the netlist's lines, the
batched engine's unknowns) has an entry for every front end."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from spicecim.devices.frontends import (
    FRONT_ENDS,
    AmplifierFrontEnd,
    IntegratorFrontEnd,
    PassiveFrontEnd,
    TiaFrontEnd,
    front_end,
)
from spicecim.errors import SpecError
from spicecim.netlist.readout import FRONT_END_LINES
from spicecim.netlist.spec import DEFAULT_READOUT, Tile, default_spec
from spicecim.sim.batched.circuit import build_batch, structure_of
from spicecim.sim.batched.solver import _front_end
from spicecim.sim.sweep import row_drives


def _tile(name: str) -> Tile:
    spec = default_spec(4, 4)
    spec = dataclasses.replace(spec, readout=dataclasses.replace(DEFAULT_READOUT, front_end=name))
    rng = np.random.default_rng(0)
    return Tile(spec, rng.uniform(1e-6, 40e-6, (4, 4)), rng.uniform(0, 1, 4))


def test_each_name_is_one_class_and_a_bad_name_is_one_line() -> None:
    classes = {"tia": TiaFrontEnd, "integrator": IntegratorFrontEnd, "passive": PassiveFrontEnd}
    assert set(FRONT_ENDS) == set(classes)
    for name, cls in classes.items():
        fe = front_end(name)
        assert type(fe) is cls and fe.name == name and fe is front_end(name)
        readout = dataclasses.replace(DEFAULT_READOUT, front_end=name)
        assert readout.front is fe and readout.virtual_ground == fe.has_amplifier
        assert fe.has_amplifier == isinstance(fe, AmplifierFrontEnd)
    with pytest.raises(SpecError, match="'tiaa'.*one of") as info:
        dataclasses.replace(DEFAULT_READOUT, front_end="tiaa")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", FRONT_ENDS)
def test_each_front_end_reaches_its_full_scale_at_the_range_current(name: str) -> None:
    """Sized for the tile's worst-case current: the op-amp's swing (``tia``: ``i r_f``;
    ``integrator``: ``i (t_int - edge/2) / c_int``) or the fraction of the read voltage
    (``passive``: ``i r_sense``), each written out here rather than read from the class."""
    tile = _tile(name)
    sized, ro = tile.readout, tile.spec.readout
    i = sized.i_fs_a
    edge = tile.spec.driver.rise_s
    full_scale = {"tia": lambda: i * sized.r_f_ohm,
                  "integrator": lambda: i * (sized.t_int_s - 0.5 * edge) / ro.c_int_f,
                  "passive": lambda: i * sized.r_sense_ohm}[name]()
    expected = (ro.full_scale_fraction * tile.spec.driver.v_full_v if name == "passive"
                else ro.opamp.v_swing_v)
    assert full_scale == pytest.approx(expected, rel=1e-12)
    assert sized.full_scale_v == pytest.approx(expected, rel=1e-12)
    owned = {"tia": "r_f_ohm", "integrator": "t_int_s", "passive": "r_sense_ohm"}
    assert [f for f in owned.values() if getattr(sized, f) is not None] == [owned[name]]
    assert (sized.load is None) == (not ro.front.has_amplifier)


def test_the_netlist_writes_every_front_end() -> None:
    assert set(FRONT_END_LINES) == {type(front_end(name)) for name in FRONT_ENDS}


@pytest.mark.parametrize("name", FRONT_ENDS)
def test_the_batched_unknowns_are_what_the_solver_stacks(name: str) -> None:
    """The solver returns one current per node ``[b, *unknowns, o]``: the class's count of
    unknowns (with the amplifier's pin) is the length of that stack, less the two ends."""
    tile = _tile(name)
    st = structure_of(tile)
    batch = build_batch([(tile, 0, row_drives(tile, "isolated")[0])])
    p = {k: v[0] for k, v in batch.arrays().items()}
    i, q = _front_end(st, p, 1e-9, 1e-3, np.zeros(st.unknowns))
    assert len(i) == len(q) == st.unknowns + 2
    assert st.unknowns == front_end(name).unknowns + int(st.amp_pin)
    assert st.hold == (front_end(name).hold_time_s(tile.readout) is not None)
    assert math.isfinite(float(np.sum(i)))
