"""Column circuits as arrays: the element values :func:`~spicecim.netlist.crossbar.build_column`
writes, for a batch of columns (of one tile or many), built from the same ``Tile``, drive and
readout objects, never from SPICE text.

A column is, per row ``i``: the row's Thevenin source ``V_i(t)`` (a ramp over the driver's
rise), its resistance ``Rt_i`` to the row node with the Elmore capacitance ``Cr_i``, the cell
(memristor or resistor, then the access transistor when the cell is 1T1R) to the column node
``c_i``; the column wire (``Rc``, ``Cc`` per segment) from ``c_0`` down to the column end ``b``;
the readout from ``b``. Columns batch together when they share :class:`Structure`; every value
may differ between them (tiles, inputs, drives, Monte Carlo replicas).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from spicecim.devices.amplifier import OpAmp
from spicecim.devices.frontends import FrontEnd
from spicecim.devices.memristor import MemristorParams
from spicecim.devices.transistor import AccessTransistor
from spicecim.errors import SpecError, check
from spicecim.netlist.crossbar import RowDrive, _elmore_row_capacitance
from spicecim.netlist.readout import hold_time_s
from spicecim.netlist.spec import Tile

MODELLED_OPAMPS = ("opamp_1p", "opamp_2s")
"""The macromodels whose equations :class:`~spicecim.devices.amplifier.OpAmp` holds."""

FRONT_END_PARAMS = ("r_f_ohm", "c_int_f", "r_sense_ohm", "gm_s", "r1_ohm", "c1_f", "r_on_ohm",
                    "hold_s", "c_s_f", "i_sl_a", "r_o_ohm", "v_swing_v", "i_q_a", "vdd_v")
"""Per column, so that tiles whose amplifiers are sized apart still batch (and compile) as one:
the amplifier's slew current, output resistance, swing, quiescent current and supply."""


@dataclass(frozen=True, slots=True)
class Structure:
    """What columns must share to be solved as one batch: the shapes and element kinds."""

    rows: int
    wire: bool  # a column wire of r > 0: one node per row; else every cell meets at b
    cell: str
    front: FrontEnd
    hold: bool  # the sample-and-hold opens at a time (the integrator's window end)
    memristor: MemristorParams
    access: AccessTransistor | None
    opamp: str | None  # the macromodel (None: passive)
    slew: bool  # its first stage is current-limited (tanh), else linear
    amp_pin: bool  # its output resistance makes the pin a node

    def __post_init__(self) -> None:
        check(isinstance(self.front, FrontEnd), "front", self.front,
              "a front end of spicecim.devices.frontends")

    @property
    def unknowns(self) -> int:
        """The front end's own unknowns besides the column end (:attr:`FrontEnd.unknowns`:
        the amplifier's gain node ``p1``, whose function its output ``f`` is, and the sampling
        capacitor ``out``; ``passive``: ``out``), and the amplifier's pin behind an output
        resistance (the capacitive feedback of the integrator reaches it, so it stays a node
        rather than a Thevenin form)."""
        return self.front.unknowns + int(self.amp_pin)

    @property
    def nodes(self) -> int:
        """The column's chain of nodes: ``c_0 .. c_{m-1}, b`` (``b`` alone without a wire)."""
        return self.rows + 1 if self.wire else 1


@dataclass(frozen=True, slots=True)
class ColumnBatch:
    """``B`` columns of one :class:`Structure`: per-row arrays ``(B, rows)``, per-column
    ``(B,)``. Row ``i`` of a column with ``g_row_s == 0`` is driven straight from its source
    (no driver or wire resistance: the netlist's node is the source's)."""

    structure: Structure
    v_th_v: np.ndarray = field(repr=False)
    v_dac_v: np.ndarray = field(repr=False)
    g_row_s: np.ndarray = field(repr=False)
    c_row_f: np.ndarray = field(repr=False)
    cell_a: np.ndarray = field(repr=False)  # memristor: k of k sinh(v/v0); linear: conductance
    g_col_s: np.ndarray = field(repr=False)
    c_col_f: np.ndarray = field(repr=False)  # at each column node c_i
    c_end_f: np.ndarray = field(repr=False)  # at b (the lumped wire when there is no wire)
    rise_s: np.ndarray = field(repr=False)
    rail_v: np.ndarray = field(repr=False)  # the rows' rail (Vdrail), drawing their current
    front_end: dict[str, np.ndarray] = field(repr=False)

    @property
    def size(self) -> int:
        return int(self.v_th_v.shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array, by name (what the solver takes)."""
        out = {name: getattr(self, name) for name in (
            "v_th_v", "v_dac_v", "g_row_s", "c_row_f", "cell_a", "g_col_s", "c_col_f",
            "c_end_f", "rise_s", "rail_v")}
        out.update({f"fe_{k}": v for k, v in self.front_end.items()})
        return out


def unsupported(tile: Tile) -> str | None:
    """Why the batched engine cannot solve ``tile``'s columns (None: it can)."""
    cell = tile.spec.cell
    if cell.kind == "memristor" and cell.state != "frozen":
        return ("the batched engine solves frozen memristor cells (state 'frozen'), not the "
                "dynamic model")
    if tile.spec.driver.encoding != "amplitude":
        return "the batched engine drives amplitude-encoded inputs only"
    ro = tile.spec.readout
    if ro.front.has_amplifier and ro.opamp.name not in MODELLED_OPAMPS:
        return (f"the batched engine models the op-amps {MODELLED_OPAMPS}, not "
                f"{ro.opamp.name!r}")
    return None


def structure_of(tile: Tile) -> Structure:
    spec = tile.spec
    cell = spec.cell
    reason = unsupported(tile)
    if reason is not None:
        raise SpecError(reason)
    ro = tile.readout.readout  # the amplifier as sized for this tile
    amp = ro.opamp if ro.front.has_amplifier else None
    return Structure(rows=spec.rows, wire=spec.wire.r_col_ohm > 0, cell=cell.kind,
                     front=ro.front, hold=hold_time_s(tile.readout) is not None,
                     memristor=cell.memristor, access=cell.access,
                     opamp=None if amp is None else amp.name,
                     slew=amp is not None and math.isfinite(amp.slew_current_a),
                     amp_pin=amp is not None and amp.output_resistance_ohm > 0)


def build_batch(columns: Sequence[tuple[Tile, int, RowDrive]]) -> ColumnBatch:
    """The arrays of columns ``(tile, j, drive)``, all of one :class:`Structure`."""
    check(len(columns) >= 1, "columns", len(columns), "one or more")
    # per distinct tile, not per column: sizing a tile's readout reads its amplifier's .lib
    tiles = {id(t): t for t, _, _ in columns}
    structures = {structure_of(t) for t in tiles.values()}
    front_ends = {key: _front_end(t) for key, t in tiles.items()}
    check(len(structures) == 1, "structures", len(structures), "one (batch alike columns)")
    structure = structures.pop()
    per_row: dict[str, list[np.ndarray]] = {k: [] for k in (
        "v_th_v", "v_dac_v", "g_row_s", "c_row_f", "cell_a")}
    per_col: dict[str, list[float]] = {k: [] for k in (
        "g_col_s", "c_col_f", "c_end_f", "rise_s", "rail_v",
        *(f"fe_{p}" for p in FRONT_END_PARAMS))}
    for tile, j, drive in columns:
        spec = tile.spec
        r_th = np.asarray(drive.r_th_ohm, dtype=float)
        per_row["v_th_v"].append(np.asarray(drive.v_th_v, dtype=float))
        per_row["v_dac_v"].append(np.asarray(tile.v_in, dtype=float))
        per_row["g_row_s"].append(np.where(r_th > 0, 1.0 / np.where(r_th > 0, r_th, 1.0), 0.0))
        per_row["c_row_f"].append(_elmore_row_capacitance(tile, j, r_th))
        mem = spec.cell.memristor
        g = tile.g_s[:, j]
        # the netlist writes 1/g for a resistor: the same float
        per_row["cell_a"].append(mem.read_scale_a(g) if spec.cell.kind == "memristor"
                                 else 1.0 / (1.0 / g))
        w = spec.wire
        per_col["g_col_s"].append(1.0 / w.r_col_ohm if w.r_col_ohm > 0 else 0.0)
        per_col["c_col_f"].append(w.c_col_f if structure.wire else 0.0)
        per_col["c_end_f"].append(0.0 if structure.wire else w.c_col_f * spec.rows)
        per_col["rise_s"].append(spec.driver.rise_s)
        per_col["rail_v"].append(spec.driver.rail_v)
        for name, value in front_ends[id(tile)].items():
            per_col[f"fe_{name}"].append(value)
    front_end = {p: np.array(per_col.pop(f"fe_{p}")) for p in FRONT_END_PARAMS}
    arrays = {k: np.array(v) for k, v in (*per_row.items(), *per_col.items())}
    return ColumnBatch(structure=structure, front_end=front_end, **arrays)


def _front_end(tile: Tile) -> dict[str, float]:
    """The readout's element values as :mod:`spicecim.netlist.readout` writes them (0 for
    those the front end does not have)."""
    sized = tile.readout
    ro = sized.readout
    amp = ro.opamp
    hold = hold_time_s(sized)
    gm = amp.gm_s if ro.front.has_amplifier else 0.0
    return {
        "r_f_ohm": sized.r_f_ohm or 0.0, "c_int_f": ro.c_int_f,
        "r_sense_ohm": sized.r_sense_ohm or 0.0, "gm_s": gm,
        "r1_ohm": amp.a0 / gm if gm else 0.0,
        "c1_f": gm / (2 * np.pi * amp.gbw_hz) if gm and amp.gbw_hz else 0.0,
        "r_on_ohm": ro.sample_hold.r_on_ohm, "hold_s": -1.0 if hold is None else hold,
        "c_s_f": sized.c_s_f,
        **_amplifier(amp if gm else None),
    }


def _amplifier(amp: OpAmp | None) -> dict[str, float]:
    """The amplifier's sized values (0 without one, or for what its model lacks)."""
    if amp is None:
        return dict.fromkeys(("i_sl_a", "r_o_ohm", "v_swing_v", "i_q_a", "vdd_v"), 0.0)
    isl = amp.slew_current_a
    return {"i_sl_a": isl if math.isfinite(isl) else 0.0, "r_o_ohm": amp.output_resistance_ohm,
            "v_swing_v": amp.v_swing_v, "i_q_a": amp.i_q_a or 0.0, "vdd_v": amp.vdd_v}
