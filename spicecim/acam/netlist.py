"""Analog CAM (6T2M) netlists: the cell's DC transfer sweep and the search transient of arrays.

Pure functions from specifications to SPICE text. The cell's six transistors are the subcircuit
of ``device_models/acam/acam_6t2m.lib``; the two memristors are written here, from the divider
supply ``sl`` to the cell's divider nodes, as linear resistors (``device="linear"``) or as the
memristor subcircuit at its programmed gap (``device="memristor"``). A conductance is the chord
conductance at the memristor's read voltage: what a program-and-verify loop measures.

Search timing: the search starts at t = 0 with the match lines (ML) precharged to ``vpre`` (an
``.ic``: a precharge completed before the inputs arrive) and the data lines at their inputs; the
precharge PMOS is released by a gate edge of ``rise_s`` from t = 0, and the sense amplifier
samples at ``release_s + t_eval_s``, where ``release_s`` is the edge's 50 % point (where the
PMOS cuts off, so a marginal pull-down discharges the ML for ``t_eval_s``). Latencies count from
t = 0: a strong mismatch outpulls the precharge device before it is off.

Node names, so waveforms can be found by name:

- ``dl<q>_<j>``: data line of cell column ``j`` for input vector ``q``;
- ``ml<q>_<r>``: match line of row ``r`` for input vector ``q``;
- ``vdd<q>``, ``sl<q>``, ``pre<q>``: inverter supply, divider supply and precharge supply of
  input vector ``q`` (one set per input, so each search's energy is told apart);
- transfer sweeps: ``dl`` (swept) and the divider nodes ``alo<k>`` / ``ahi<k>`` of conductance
  ``k``; ``g`` (swept divider node) and sources ``vplo`` / ``vphi`` carrying the pull-downs'
  currents; ``sense``, the pull-down drains held at the sense threshold.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import spicecim
from spicecim import devices
from spicecim.devices.library import ASSIGN, fmt, header_value, read_lib, source_of
from spicecim.errors import SpecError, check

DEVICES = ("linear", "memristor")
CELL_SUBCKT = "acam_6t2m"
PMOS_MODEL = "pmos_acam"
# Points per transient: a marginal mismatch discharges the ML linearly over the whole window,
# so a uniform step resolves the sampled voltage well; 200 keeps ngspice's error far below 1 mV.
TRAN_POINTS = 200
T_EVAL_MAX_S = 1e-6
"""The longest sense time: 1000 times the cell file's 1 ns (X-TIME's 1 GHz clock, as the file
cites) and 60 times the longest that ``acam simulate --t-eval auto`` tries; a CAM sensed after
a microsecond is no longer the fast search it models (``--t-eval 1e300`` is a typo)."""
_NOT_IN_TRANSFER = ("vpre_v", "c_ml_cell_f", "c_ml_fixed_f", "rise_s", "t_eval_s", "pre_w_m",
                    "pre_l_m")


@dataclass(frozen=True, slots=True)
class AcamCell:
    """The 6T2M cell, its memristors and the operating point of the array around it.

    Voltages in V, capacitances in F, times in s, conductances in S (chord at the memristor's
    read voltage). ``c_ml_cell_f`` is the match-line capacitance each cell adds, ``c_ml_fixed_f``
    the precharge device and sense amplifier on every match line.
    """

    name: str
    vdd_v: float
    vsl_v: float
    vpre_v: float
    vsense_v: float
    c_ml_cell_f: float
    c_ml_fixed_f: float
    rise_s: float
    t_eval_s: float
    g_min_s: float
    g_max_s: float
    pre_w_m: float
    pre_l_m: float
    device: str
    memristor: devices.MemristorParams
    nmos: devices.AccessTransistor
    source: str = ""

    def __post_init__(self) -> None:
        check(self.device in DEVICES, "device", self.device, f"one of {DEVICES}")
        check(self.vdd_v > 0, "vdd_v", self.vdd_v, "a supply > 0 V")
        check(0 < self.vsl_v <= self.vdd_v, "vsl_v", self.vsl_v, f"in (0, vdd = {self.vdd_v}] V")
        check(0 < self.vpre_v <= self.vdd_v, "vpre_v", self.vpre_v, f"in (0, vdd = {self.vdd_v}] V")
        check(0 < self.vsense_v < self.vpre_v, "vsense_v", self.vsense_v,
              f"in (0, vpre = {self.vpre_v}) V")
        for name in ("c_ml_cell_f", "c_ml_fixed_f"):
            check(getattr(self, name) >= 0, name, getattr(self, name), "a capacitance >= 0 F")
        check(self.rise_s > 0, "rise_s", self.rise_s, "an edge time > 0 s")
        check(self.rise_s <= self.t_eval_s <= T_EVAL_MAX_S, "t_eval_s", self.t_eval_s,
              f"an evaluation time from the release edge's {self.rise_s:g} s to "
              f"{T_EVAL_MAX_S:g} s")
        check(self.g_min_s > 0, "g_min_s", self.g_min_s, "a conductance > 0 S")
        check(self.g_max_s > self.g_min_s, "g_max_s", self.g_max_s, f"> g_min_s = {self.g_min_s} S")
        check(self.pre_w_m > 0 and self.pre_l_m > 0, "precharge size", (self.pre_w_m, self.pre_l_m),
              "a width and length > 0 m")
        if self.device == "memristor":
            mem = self.memristor
            check(mem.g_off_s <= self.g_min_s and self.g_max_s <= mem.g_on_s, "conductance range",
                  (self.g_min_s, self.g_max_s), f"inside the {mem.name} range "
                  f"[{mem.g_off_s:.4g}, {mem.g_on_s:.4g}] S")

    @property
    def release_s(self) -> float:
        """Time of the precharge release: the 50 % point of its gate edge."""
        return 0.5 * self.rise_s

    @property
    def sample_s(self) -> float:
        """Absolute time at which the sense amplifier samples the match lines."""
        return self.release_s + self.t_eval_s

    def to_dict(self) -> dict:
        return asdict(self)

    def digest(self) -> str:
        return _digest(json.dumps(self.to_dict(), sort_keys=True).encode())

    def transfer_digest(self) -> str:
        """Digest of what the DC transfer sweeps depend on: not the match line or the timing."""
        d = self.to_dict()
        for name in _NOT_IN_TRANSFER:
            d.pop(name)
        return _digest(json.dumps(d, sort_keys=True).encode())

    def models_text(self) -> str:
        """Transistor cards, the cell subcircuit and (memristor cells) the memristor subcircuit."""
        parts = [self.nmos.model_text().rstrip(), read_lib("acam", PMOS_MODEL).rstrip(),
                 read_lib("acam", self.name).rstrip()]
        if self.device == "memristor":
            parts.append(self.memristor.subckt_text().rstrip())
        return "\n".join(parts)

    def divider(self, name: str, supply: str, node: str, g_s: float) -> str:
        """One memristor of the cell, from the divider supply to a divider node."""
        if self.device == "linear":
            return f"R{name} {supply} {node} {fmt(1.0 / g_s)}"
        mem = self.memristor
        return f"X{name} {supply} {node} {mem.subckt} {mem.instance_params(g_s)}"


def acam_cell(name: str = CELL_SUBCKT, device: str = "linear", *,
              memristor: str = "hfox_stanford_v1", **overrides: Any) -> AcamCell:
    """Load the cell from ``device_models/acam/<name>.lib`` (its header's cited operating point),
    then ``overrides`` (field names, e.g. ``t_eval_s``)."""
    text = read_lib("acam", name)
    op = {k.lower(): float(v) for k, v in ASSIGN.findall(header_value(text, "operating"))}
    pre = {k.lower(): float(v) for k, v in ASSIGN.findall(header_value(text, "precharge"))}
    wanted = {"vdd", "vsl", "vpre", "vsense", "cml", "cml0", "trise", "teval", "gmin", "gmax"}
    missing = wanted - set(op)
    if missing:
        raise SpecError(f"acam model {name!r} lacks operating values {sorted(missing)}")
    cell = AcamCell(
        name=name,
        vdd_v=op["vdd"],
        vsl_v=op["vsl"],
        vpre_v=op["vpre"],
        vsense_v=op["vsense"],
        c_ml_cell_f=op["cml"],
        c_ml_fixed_f=op["cml0"],
        rise_s=op["trise"],
        t_eval_s=op["teval"],
        g_min_s=op["gmin"],
        g_max_s=op["gmax"],
        pre_w_m=pre["w"],
        pre_l_m=pre["l"],
        device=device,
        memristor=devices.memristor(memristor),
        nmos=devices.access_transistor(),
        source=source_of(text),
    )
    return dataclasses.replace(cell, **overrides) if overrides else cell


@dataclass(frozen=True, slots=True)
class AcamArray:
    """``rows`` match lines of ``cells`` cells each; cell ``j`` of every row shares data line j."""

    rows: int
    cells: int
    cell: AcamCell

    def __post_init__(self) -> None:
        for name in ("rows", "cells"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 1, name, value, "an integer >= 1")

    @property
    def c_ml_f(self) -> float:
        return self.cells * self.cell.c_ml_cell_f + self.cell.c_ml_fixed_f

    @property
    def i_trip_a(self) -> float:
        """Pull-down current that takes the ML from precharge to the sense threshold in exactly
        ``t_eval_s``: a cell whose saturated pull-down carries more reads as a mismatch. The
        level-1 cards have lambda = 0, so this current does not depend on the ML voltage."""
        c = self.cell
        return self.c_ml_f * (c.vpre_v - c.vsense_v) / c.t_eval_s

    def to_dict(self) -> dict:
        return asdict(self)

    def digest(self) -> str:
        return _digest(json.dumps(self.to_dict(), sort_keys=True).encode())


@dataclass(frozen=True, slots=True)
class SearchData:
    """An array's programmed conductances and the input vectors searched (rows of ``dl_v``)."""

    array: AcamArray
    g_lo_s: np.ndarray = field(repr=False)
    g_hi_s: np.ndarray = field(repr=False)
    dl_v: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        a, c = self.array, self.array.cell
        arrays = {}
        for name in ("g_lo_s", "g_hi_s"):
            g = np.asarray(getattr(self, name), dtype=float)
            check(g.shape == (a.rows, a.cells), f"{name}.shape", g.shape, f"({a.rows}, {a.cells})")
            ok = np.isfinite(g) & (g >= c.g_min_s * (1 - 1e-9)) & (g <= c.g_max_s * (1 + 1e-9))
            check(bool(np.all(ok)), name, _span(g), f"conductances in [{c.g_min_s}, {c.g_max_s}] S")
            arrays[name] = g
        dl = np.atleast_2d(np.asarray(self.dl_v, dtype=float))
        check(dl.ndim == 2 and dl.shape[1] == a.cells and dl.shape[0] >= 1, "dl_v.shape", dl.shape,
              f"(inputs, {a.cells})")
        check(bool(np.all(np.isfinite(dl) & (dl >= 0) & (dl <= c.vdd_v))), "dl_v", _span(dl),
              f"voltages in [0, {c.vdd_v}] V")
        arrays["dl_v"] = dl
        for name, value in arrays.items():
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def inputs(self) -> int:
        return int(self.dl_v.shape[0])

    def digest(self) -> str:
        h = hashlib.sha256(self.array.digest().encode())
        for value in (self.g_lo_s, self.g_hi_s, self.dl_v):
            h.update(np.ascontiguousarray(value).tobytes())
        return h.hexdigest()[:16]


def build_transfer(cell: AcamCell, g_s: np.ndarray, dl_step_v: float) -> str:
    """DC sweep of the data line through one cell per conductance in ``g_s`` (both memristors
    at that conductance); the divider nodes ``alo<k>`` / ``ahi<k>`` are what it measures.

    Each divider node drives its pull-down (through the inverter for the upper bound) and nothing
    else, so with :func:`build_gate_sweep` it gives the bound for any trip current.
    """
    g = np.asarray(g_s, dtype=float)
    check(g.ndim == 1 and g.size >= 2, "g_s", g.shape, "a 1-D grid of >= 2 conductances")
    check(bool(np.all((g >= cell.g_min_s * (1 - 1e-9)) & (g <= cell.g_max_s * (1 + 1e-9)))), "g_s",
          _span(g), f"conductances in [{cell.g_min_s}, {cell.g_max_s}] S")
    check(0 < dl_step_v <= 0.1 * cell.vdd_v, "dl_step_v", dl_step_v,
          f"in (0, {0.1 * cell.vdd_v}] V")
    lines = _transfer_head(cell, f"data-line sweep, {g.size} conductances, "
                                 f"grid {_digest(g.tobytes())}")
    lines.append("Vdl dl 0 DC 0")
    for k, gk in enumerate(g):
        lines += [
            cell.divider(f"mlo{k}", "sl", f"alo{k}", float(gk)),
            cell.divider(f"mhi{k}", "sl", f"ahi{k}", float(gk)),
            f"Xc{k} dl sense sense alo{k} ahi{k} vdd {cell.name}",
        ]
    lines += _chunked(".save", [f"v(alo{k}) v(ahi{k})" for k in range(g.size)])
    lines += [f".dc Vdl 0 {fmt(cell.vdd_v)} {fmt(dl_step_v)}", ".end"]
    return "\n".join(lines) + "\n"


def build_gate_sweep(cell: AcamCell, step_v: float) -> str:
    """DC sweep of both divider nodes of one cell (its data line grounded, so the divider
    transistors are off) with each pull-down's drain held at the sense threshold.

    The currents of ``vplo`` / ``vphi`` are the lower / upper pull-down currents against their
    divider node's voltage. A saturated pull-down carries the same current at any ML voltage
    above the threshold (lambda = 0), so this current decides the sensed bound.
    """
    check(0 < step_v <= 0.01 * cell.vdd_v, "step_v", step_v, f"in (0, {0.01 * cell.vdd_v}] V")
    lines = _transfer_head(cell, "divider-node sweep")
    lines += ["Vg g 0 DC 0", f"Xc 0 plo phi g g vdd {cell.name}", "Vplo sense plo DC 0",
              "Vphi sense phi DC 0", f".dc Vg 0 {fmt(cell.vdd_v)} {fmt(step_v)}", ".end"]
    return "\n".join(lines) + "\n"


def _transfer_head(cell: AcamCell, what: str) -> list[str]:
    return [
        f"* spicecim {spicecim.__version__} acam transfer: {what}",
        f"* cell {cell.transfer_digest()}",
        f"* parameters: {json.dumps(cell.to_dict(), sort_keys=True)}",
        cell.models_text(),
        f"Vdd vdd 0 DC {fmt(cell.vdd_v)}",
        f"Vsl sl 0 DC {fmt(cell.vsl_v)}",
        f"Vsense sense 0 DC {fmt(cell.vsense_v)}",
    ]


def build_search(data: SearchData) -> str:
    """The array once per input vector (independent copies, each with its own supplies), from
    precharge release to the sense amplifier's sample."""
    a, c = data.array, data.array.cell
    stop = c.sample_s
    lines = [
        f"* spicecim {spicecim.__version__} acam search {a.rows}x{a.cells}, {data.inputs} inputs",
        f"* array {a.digest()} data {data.digest()}",
        f"* parameters: {json.dumps(a.to_dict(), sort_keys=True)}",
        c.models_text(),
        f"Vpc pc 0 PWL(0 0 {fmt(c.rise_s)} {fmt(c.vdd_v)})",
    ]
    ml_nodes = []
    for q in range(data.inputs):
        lines += [f"* --- input {q}",
                  f"Vdd{q} vdd{q} 0 DC {fmt(c.vdd_v)}",
                  f"Vsl{q} sl{q} 0 DC {fmt(c.vsl_v)}",
                  f"Vpre{q} pre{q} 0 DC {fmt(c.vpre_v)}"]
        lines += [f"Vdl{q}_{j} dl{q}_{j} 0 DC {fmt(round(float(data.dl_v[q, j]), 12))}"
                  for j in range(a.cells)]
        for r in range(a.rows):
            ml = f"ml{q}_{r}"
            ml_nodes.append(ml)
            for j in range(a.cells):
                tag = f"{q}_{r}_{j}"
                lines += [
                    c.divider(f"lo{tag}", f"sl{q}", f"alo{tag}", float(data.g_lo_s[r, j])),
                    c.divider(f"hi{tag}", f"sl{q}", f"ahi{tag}", float(data.g_hi_s[r, j])),
                    f"Xc{tag} dl{q}_{j} {ml} {ml} alo{tag} ahi{tag} vdd{q} {c.name}",
                ]
            lines += [f"Mpc{q}_{r} {ml} pc pre{q} pre{q} {PMOS_MODEL} W={fmt(c.pre_w_m)} "
                      f"L={fmt(c.pre_l_m)}",
                      f"Cml{q}_{r} {ml} 0 {fmt(a.c_ml_f)}"]
    supplies = [f"i(v{s}{q})" for q in range(data.inputs) for s in ("dd", "sl", "pre")]
    lines += _chunked(".ic", [f"v({n})={fmt(c.vpre_v)}" for n in ml_nodes])
    lines += _chunked(".save", [f"v({n})" for n in ml_nodes] + supplies)
    step = stop / TRAN_POINTS
    lines += [f".tran {fmt(step)} {fmt(stop)} 0 {fmt(step)}", ".end"]
    return "\n".join(lines) + "\n"


def _chunked(keyword: str, items: list[str], per_line: int = 32) -> list[str]:
    return [f"{keyword} " + " ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]


def _span(x: np.ndarray) -> str:
    x = np.asarray(x, dtype=float)
    return f"{float(np.min(x)):.4g}..{float(np.max(x)):.4g}" if x.size else "empty"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]
