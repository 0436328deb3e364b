"""What sets a column's latency, measured: the column rerun in ngspice with one element of its
circuit made ideal at a time (:data:`ELEMENTS`), and the element whose removal shortens the
latency most named as the one that sets it.

An element made ideal is :data:`IDEAL_FACTOR` times better and everything else is unchanged:
the front end is pinned at its sizing for the real tile (the same ``R_f``, ADC range, sampling
capacitor and amplifier), so the half-LSB band the latency is measured to stays the same.

- ``wires``: the row and column wires' resistance and capacitance divided by the factor;
- ``driver``: the DACs' output resistance divided by it;
- ``cells``: the memristor cells as linear resistors at their conductance, without access
  transistors (the read I-V's curvature and the transistors' capacitance gone);
- ``amplifier``: its gain-bandwidth and slew rate multiplied by it and its output resistance
  divided by it (the DC gain kept: the final value does not move);
- ``switch``: the sample-and-hold switch's on-resistance divided by it.

The estimate the column tables carry (the largest of the time constants
:func:`spicecim.sim.scales.time_scales` writes) is an argmax of closed forms; this reruns the
circuit, so it is kept to a few columns (about 0.2 s of ngspice each per element for a 256-row
column).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spicecim.errors import ResultFileError, check
from spicecim.measure import measure_column
from spicecim.netlist.spec import Tile
from spicecim.netlist.weights import make_tile
from spicecim.sim.column import simulate_column
from spicecim.sim.driver import sim_options
from spicecim.sim.ngspice import NgspiceSession
from spicecim.sim.sweep import BEST_COLUMN_DRIVE, row_drives
from spicecim.store.hdf5 import open_run
from spicecim.store.runs import Run
from spicecim.units import format_si

ELEMENTS = ("wires", "driver", "cells", "amplifier", "switch")
IDEAL_FACTOR = 1e3
"""How much better an element made ideal is (design choice: three decades puts its own time
constant far below any other's here, and keeps ngspice's time step finite)."""


def idealised(tile: Tile, element: str) -> Tile:
    """``tile`` with ``element`` (one of :data:`ELEMENTS`) made ideal, its front end pinned at
    the real tile's sizing (module docstring)."""
    check(element in ELEMENTS, "element", element, f"one of {ELEMENTS}")
    spec, k = tile.spec, IDEAL_FACTOR
    readout = spec.readout.pinned(tile.readout)
    amp = readout.opamp
    if element == "wires":
        w = spec.wire
        spec = dataclasses.replace(spec, wire=dataclasses.replace(
            w, r_row_ohm=w.r_row_ohm / k, c_row_f=w.c_row_f / k, r_col_ohm=w.r_col_ohm / k,
            c_col_f=w.c_col_f / k))
    elif element == "driver":
        spec = dataclasses.replace(spec, driver=dataclasses.replace(
            spec.driver, r_out_ohm=spec.driver.r_out_ohm / k))
    elif element == "cells":
        spec = dataclasses.replace(spec, cell=dataclasses.replace(spec.cell, kind="linear",
                                                                  access=None))
    elif element == "amplifier":
        assert amp.gbw_hz is not None and amp.slew_v_per_s is not None
        readout = dataclasses.replace(readout, opamp=dataclasses.replace(
            amp, gbw_hz=amp.gbw_hz * k, slew_v_per_s=amp.slew_v_per_s * k,
            r_out_ohm=(amp.r_out_ohm or 0.0) / k))
    else:
        readout = dataclasses.replace(readout, sample_hold=dataclasses.replace(
            readout.sample_hold, r_on_ohm=readout.sample_hold.r_on_ohm / k))
    return Tile(dataclasses.replace(spec, readout=readout), tile.g_s, tile.x_in, tile.mapping)


@dataclass(frozen=True, slots=True)
class ColumnCauses:
    """One column's latency as built and with each element ideal (NaN: it never settled)."""

    column: int
    latency_s: float
    ideal_latency_s: dict[str, float] = field(default_factory=dict)

    @property
    def saved_s(self) -> dict[str, float]:
        """The latency each element's removal saves."""
        return {e: self.latency_s - t for e, t in self.ideal_latency_s.items()}

    @property
    def set_by(self) -> str:
        """The element whose removal shortens the latency most."""
        saved = self.saved_s
        return max(saved, key=lambda e: saved[e] if np.isfinite(saved[e]) else -np.inf)


def _latency_s(tile: Tile, columns: Sequence[int], session: NgspiceSession) -> list[float]:
    """Each column's latency in ngspice under the tile's coupled drive."""
    drives = row_drives(tile, BEST_COLUMN_DRIVE)
    options = sim_options(tile)
    out = []
    for j in columns:
        run = simulate_column(tile, j, drives[j], options, session)
        if run.status == "failed":
            out.append(float("nan"))
            continue
        m = measure_column(run.time_s, run.v_out_v, run.v_in_v, run.power_w, tile.readout,
                           rise_s=tile.spec.driver.rise_s)
        out.append(m.latency_s)
    return out


def attribute(tile: Tile, columns: Sequence[int],
              elements: Sequence[str] = ELEMENTS) -> list[ColumnCauses]:
    """Each of ``columns`` simulated as built and with each of ``elements`` ideal."""
    check(len(columns) >= 1, "columns", len(columns), "one or more columns")
    session = NgspiceSession()
    base = _latency_s(tile, columns, session)
    ideal = {e: _latency_s(idealised(tile, e), columns, session) for e in elements}
    return [ColumnCauses(j, base[n], {e: ideal[e][n] for e in elements})
            for n, j in enumerate(columns)]


def run_tile(run: Run) -> Tile:
    """The tile a run of ``spicecim simulate`` (no model) simulated, rebuilt from its
    specification, mapping and seed; refused (one line) where its weights or inputs came from
    files (the rebuilt tile's digest is not the run's)."""
    seed = run.parameters.get("seed")
    tile = None if seed is None or run.model is not None else make_tile(
        run.spec, run.mapping, seed=int(str(seed)))
    if tile is None or tile.digest() != run.config.get("data_digest"):
        raise ResultFileError(f"{run.path} holds a tile that cannot be rebuilt from its seed "
                              "(weights or inputs from files, or a co-simulation): expected a "
                              "run of 'spicecim simulate' with a seeded tile")
    return tile


def slowest_columns(run: Run, tile: str, count: int) -> list[int]:
    """The ``count`` columns of ``tile`` in ``run`` with the longest stored latency."""
    t = run.columns(tile)
    latency = np.nan_to_num(np.asarray(t["latency_s"], float), nan=np.inf)
    order = np.argsort(-latency, kind="stable")[:count]
    return [int(t["column"][k]) for k in order]


def render_causes(causes: Sequence[ColumnCauses]) -> str:
    """A table of each column's latency as built and with each element ideal, and the element
    that sets it."""
    elements = list(causes[0].ideal_latency_s)
    lines = [f"what sets the column latency, measured (ngspice, each element {IDEAL_FACTOR:g}x "
             "better in turn, the front end pinned):",
             f"  {'column':<8}{'as built':>11}" + "".join(f"{e:>11}" for e in elements)
             + "   set by"]
    for c in causes:
        cells = [format_si(c.latency_s, "s")] + [format_si(c.ideal_latency_s[e], "s")
                                                     for e in elements]
        lines.append(f"  {c.column:<8}" + "".join(f"{x:>11}" for x in cells) + f"   {c.set_by}")
    return "\n".join(lines)


def run_causes_text(path: Path, count: int) -> str:
    """:func:`render_causes` of the ``count`` slowest columns of the tile a run at ``path``
    simulated (:func:`run_tile`)."""
    check(isinstance(count, int) and count >= 1, "latency causes", count, "an integer >= 1")
    with open_run(path) as run:
        tile = run_tile(run)
        columns = slowest_columns(run, run.tiles()[0], count)
    return render_causes(attribute(tile, columns))
