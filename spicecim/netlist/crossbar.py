"""Crossbar tile netlists: the full array as one circuit, or one circuit per column.

Pure functions from a :class:`~spicecim.netlist.spec.Tile` to SPICE text; :func:`write_netlists`
is the only place that touches files. Node names, so waveforms can be found by name:

- ``d<i>``: row ``i``'s DAC source node; ``r<i>_<j>``: row ``i`` wire at column ``j``;
- ``c<i>_<j>``: column ``j`` wire at row ``i``; ``b<j>``: the column's end, where its readout
  takes the current; ``f<j>`` the readout's front-end output; ``out<j>``: the sampling capacitor,
  the voltage the ADC of column ``j`` converts (:mod:`spicecim.netlist.readout`).

A wire, driver or sense element of zero resistance is a short: its two nodes become one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import spicecim
from spicecim.devices.library import fmt
from spicecim.devices.readout import SizedReadout
from spicecim.errors import check
from spicecim.netlist import readout
from spicecim.netlist.spec import Tile
from spicecim.store import files

OUTPUT_NODE = "out{j}"
SOURCE_GROUPS = ("drivers", "frontend", "wordline", "rowrail")
"""Energy is reported per group of the netlist's sources: the row DACs (``V<i>``: what they
deliver into the array, at the rows' voltage), the readout amplifiers' supply (``Vdd``,
``Vss``), the 1T1R word-line bias (``Vwl``), and the rows' rail (``Vdrail``: the same rows'
current drawn at the rail their buffers hang from; it includes ``drivers``, so a layer's array
energy counts ``rowrail`` and not ``drivers``)."""
SOURCE_PATTERNS = (("drivers", r"v\d+"), ("frontend", r"vdd|vss"), ("wordline", r"vwl"),
                   ("rowrail", r"vdrail"), (None, r"vedge"))
"""Which group each source name (lower case) belongs to; None: a source that delivers no
energy (the edge's breakpoints drive no load)."""


@dataclass(frozen=True, slots=True)
class Op:
    """A DC operating point (inputs held at their final value)."""


# The most print points a transient may ask for: ngspice keeps every saved vector in memory,
# 80 MB each at 10^7 points (a 256x256 tile saves hundreds); --stop 1 --step 1e-15 would ask
# for 10^15.
MAX_PRINT_POINTS = 10**7


@dataclass(frozen=True, slots=True)
class Transient:
    """A transient from t = 0: every input rises from 0 at t = 0 over the driver's rise time.
    ``edge_points`` > 1 adds an unloaded source ``Vedge`` whose waveform has that many corners
    along the edge: ngspice's breakpoints are global, so every input's edge is resolved by them
    without shortening every step. ``alterable``: every row source is a ramp, also at 0 V, so
    ngspice's ``alter`` can give the loaded circuit another input."""

    stop_s: float
    step_s: float
    max_step_s: float | None = None
    edge_points: int = 1
    alterable: bool = False

    def __post_init__(self) -> None:
        check(self.stop_s > 0, "stop_s", self.stop_s, "a time > 0 s")
        check(isinstance(self.edge_points, int) and self.edge_points >= 1, "edge_points",
              self.edge_points, "an integer >= 1")
        check(0 < self.step_s <= self.stop_s, "step_s", self.step_s, f"in (0, {self.stop_s}] s")
        check(self.stop_s / self.step_s <= MAX_PRINT_POINTS, "stop_s / step_s",
              f"{self.stop_s / self.step_s:.3g}", f"at most {MAX_PRINT_POINTS:.0e} print points")
        if self.max_step_s is not None:
            check(self.max_step_s > 0, "max_step_s", self.max_step_s, "a time > 0 s")

    def line(self) -> str:
        text = f".tran {fmt(self.step_s)} {fmt(self.stop_s)}"
        return text if self.max_step_s is None else f"{text} 0 {fmt(self.max_step_s)}"


Analysis = Op | Transient


@dataclass(frozen=True, slots=True)
class RowDrive:
    """Thevenin equivalent of each row as one column sees it: source voltage and resistance.

    The default (:func:`isolated_drive`) is the row's own DAC behind its output resistance and
    the row wire up to the column; the fast solver supplies one that includes the IR drop caused
    by every other column's current.
    """

    v_th_v: np.ndarray
    r_th_ohm: np.ndarray


def isolated_drive(tile: Tile, j: int) -> RowDrive:
    spec = tile.spec
    r = spec.driver.r_out_ohm + (j + 1) * spec.wire.r_row_ohm
    return RowDrive(v_th_v=tile.v_in, r_th_ohm=np.full(spec.rows, r))


def build_array(tile: Tile, analysis: Analysis) -> str:
    """The whole tile as one netlist."""
    spec = tile.spec
    sized = tile.readout
    lines = _header(tile, "full array", analysis)
    lines += _models(tile, sized)
    lines += _edge_source(tile, analysis)
    lines.append("* --- row drivers (DACs) and row wires")
    for i in range(spec.rows):
        drive = f"d{i}"
        lines.append(_source(tile, i, float(tile.v_in[i]), drive, analysis))
        node = drive
        if spec.driver.r_out_ohm > 0:
            node = f"n{i}"
            lines.append(f"Rd{i} {drive} {node} {fmt(spec.driver.r_out_ohm)}")
        lines += _ladder(f"Rr{i}_", f"Cr{i}_", node, [f"r{i}_{j}" for j in range(spec.cols)],
                         spec.wire.r_row_ohm, spec.wire.c_row_f)
    lines += _rail_lines(tile)
    for j in range(spec.cols):
        lines += _column(tile, j, [_row_node(tile, i, j) for i in range(spec.rows)], sized)
    lines.append(".end")
    return "\n".join(lines) + "\n"


def build_column(tile: Tile, j: int, analysis: Analysis, drive: RowDrive | None = None) -> str:
    """Column ``j`` alone: its cells, column wire and readout, each row as a Thevenin source.

    Each row's wire capacitance is lumped at the cell node with the value that gives the same
    Elmore delay from the DAC to column ``j`` as the distributed row (driver resistance charging
    the whole row, each wire segment charging the wire beyond it).
    """
    spec = tile.spec
    check(0 <= j < spec.cols, "column", j, f"an integer in [0, {spec.cols - 1}]")
    drive = drive or isolated_drive(tile, j)
    sized = tile.readout
    lines = _header(tile, f"column {j}", analysis)
    lines += _models(tile, sized)
    lines += _edge_source(tile, analysis)
    lines.append("* --- rows as seen by this column: Thevenin source"
                 " + Elmore-equivalent capacitance")
    c_row = _elmore_row_capacitance(tile, j, drive.r_th_ohm)
    row_nodes = []
    for i in range(spec.rows):
        node = f"d{i}"
        lines.append(_source(tile, i, float(drive.v_th_v[i]), node, analysis))
        if drive.r_th_ohm[i] > 0:
            lines.append(f"Rt{i} {node} r{i}_{j} {fmt(drive.r_th_ohm[i])}")
            node = f"r{i}_{j}"
            if c_row[i] > 0:
                lines.append(f"Cr{i}_{j} {node} 0 {fmt(c_row[i])}")
        row_nodes.append(node)
    lines += _rail_lines(tile)
    lines += _column(tile, j, row_nodes, sized)
    lines.append(".end")
    return "\n".join(lines) + "\n"


def _elmore_row_capacitance(tile: Tile, j: int, r_th: np.ndarray) -> np.ndarray:
    spec = tile.spec
    r_out, r, c, n = spec.driver.r_out_ohm, spec.wire.r_row_ohm, spec.wire.c_row_f, spec.cols
    tau = r_out * n * c + r * c * ((j + 1) * n - (j + 1) * j / 2)
    return np.where(r_th > 0, tau / np.where(r_th > 0, r_th, 1.0), 0.0)


def _row_node(tile: Tile, i: int, j: int) -> str:
    if tile.spec.wire.r_row_ohm > 0:
        return f"r{i}_{j}"
    return f"n{i}" if tile.spec.driver.r_out_ohm > 0 else f"d{i}"


def _ladder(r_prefix: str, c_prefix: str, start: str, nodes: list[str], r: float,
            c: float) -> list[str]:
    """A wire: a segment of ``r`` then ``c`` to ground before each node; shorted if r = 0."""
    if r == 0:
        return [f"{c_prefix}0 {start} 0 {fmt(c * len(nodes))}"] if c > 0 else []
    out, prev = [], start
    for k, node in enumerate(nodes):
        out.append(f"{r_prefix}{k} {prev} {node} {fmt(r)}")
        if c > 0:
            out.append(f"{c_prefix}{k} {node} 0 {fmt(c)}")
        prev = node
    return out


def _column(tile: Tile, j: int, row_nodes: list[str], sized: SizedReadout) -> list[str]:
    spec = tile.spec
    bottom = readout.bottom_node(j)
    if spec.wire.r_col_ohm > 0:
        col_nodes = [f"c{i}_{j}" for i in range(spec.rows)]
        r, ends = fmt(spec.wire.r_col_ohm), [*col_nodes[1:], bottom]
        wire = [f"Rc{i}_{j} {top} {end} {r}"
                for i, (top, end) in enumerate(zip(col_nodes, ends, strict=True))]
        if spec.wire.c_col_f > 0:
            c = fmt(spec.wire.c_col_f)
            wire += [f"Cc{i}_{j} {node} 0 {c}" for i, node in enumerate(col_nodes)]
    else:
        col_nodes = [bottom] * spec.rows
        wire = ([f"Cc{j} {bottom} 0 {fmt(spec.wire.c_col_f * spec.rows)}"]
                if spec.wire.c_col_f > 0 else [])
    lines = [f"* --- column {j}: cells, wire, readout"]
    lines += _cells(tile, j, row_nodes, col_nodes)
    lines += wire
    lines += readout.readout_lines(sized, j)
    return lines


def _cells(tile: Tile, j: int, row_nodes: list[str], col_nodes: list[str]) -> list[str]:
    cell, g = tile.spec.cell, tile.g_s[:, j]
    ids = [f"{i}_{j}" for i in range(tile.spec.rows)]
    mids = col_nodes if cell.access is None else [f"a{k}" for k in ids]
    mem = cell.memristor
    if cell.kind == "linear":
        devices = [f"Rm{k} {r} {m} {fmt(1.0 / gk)}"
                   for k, r, m, gk in zip(ids, row_nodes, mids, g.tolist(), strict=True)]
    elif cell.state == "frozen":
        devices = mem.read_sources([f"Bm{k}" for k in ids], row_nodes, mids, g)
    else:
        devices = [f"Xm{k} {r} {m} {mem.subckt} {mem.instance_params(gk)}"
                   for k, r, m, gk in zip(ids, row_nodes, mids, g.tolist(), strict=True)]
    a = cell.access
    if a is None:
        return devices
    size = f"W={fmt(a.w_m)} L={fmt(a.l_m)}"
    return [f"{d}\nMt{k} {m} wl {c} 0 {a.name} {size}"
            for d, k, m, c in zip(devices, ids, mids, col_nodes, strict=True)]


def _source(tile: Tile, i: int, v: float, node: str, analysis: Analysis) -> str:
    d = tile.spec.driver
    if isinstance(analysis, Op) or (v == 0 and not analysis.alterable):
        return f"V{i} {node} 0 DC {fmt(v)}"
    if d.encoding == "pulse_width":
        width = float(tile.x_in[i]) * analysis.stop_s
        return (f"V{i} {node} 0 PWL(0 0 {fmt(d.rise_s)} {fmt(v)} {fmt(d.rise_s + width)} {fmt(v)}"
                f" {fmt(2 * d.rise_s + width)} 0)")
    return f"V{i} {node} 0 PWL(0 0 {fmt(d.rise_s)} {fmt(v)})"


def _rail_lines(tile: Tile) -> list[str]:
    """The rows' rail: one source ``Vdrail`` at the driver's ``rail_v`` and, per row, a
    linear current-controlled source drawing from it the current that row's DAC delivers, so
    the rail delivers the rows' energy at the rail. Linear elements read the circuit, not the
    inputs (an altered netlist stays right) and cost ngspice nothing measurable, where one
    nonlinear element over every row's current doubled a 256-row column's time. A row that
    sinks current (rare: the columns sit at 0 V) returns it at the rail here, where a buffer
    would burn it. It loads no circuit node."""
    d = tile.spec.driver
    return ["* --- the rows' rail: each row's current drawn from it",
            f"Vdrail drail 0 DC {fmt(d.rail_v)}",
            *(f"Fr{k} drail 0 V{k} -1" for k in range(tile.spec.rows))]


def edge_corners_s(tile: Tile, edge_points: int) -> list[float]:
    """The times ``Vedge`` has corners at (see :class:`Transient`): ``edge_points`` along the
    input edge, and, where the sample-and-hold opens within the run, its switching edge's
    start, middle and end, where ngspice then cuts its step: the held value is read at the
    step that crosses it."""
    if edge_points <= 1:
        return []
    rise = tile.spec.driver.rise_s
    corners = [rise * n / edge_points for n in range(1, edge_points + 1)]
    hold = readout.hold_time_s(tile.readout)
    if hold is not None:
        corners += [hold - readout.SWITCH_EDGE_S, hold, hold + readout.SWITCH_EDGE_S]
    return sorted(set(corners))


def _edge_source(tile: Tile, analysis: Analysis) -> list[str]:
    """The breakpoints along the input edge and the hold (see :func:`edge_corners_s`)."""
    if not isinstance(analysis, Transient):
        return []
    times = edge_corners_s(tile, analysis.edge_points)
    if not times:
        return []
    corners = " ".join(f"{fmt(t)} {fmt(n + 1)}" for n, t in enumerate(times))
    return [f"Vedge edge 0 PWL(0 0 {corners})"]


def _models(tile: Tile, sized: SizedReadout) -> list[str]:
    cell = tile.spec.cell
    lines: list[str] = readout.model_lines(sized) + readout.supply_lines(sized)
    if cell.kind == "memristor" and cell.state == "frozen":
        mem = cell.memristor
        lines += [f"* --- device model: {mem.name}, state frozen: each cell's read current",
                  "* I = i0 exp(-gap0/g0) sinh(v/v0) as k sinh(v/v0),",
                  f"* k = g v_read / sinh(v_read/v0), v_read = {fmt(mem.v_read_v)} V"]
    elif cell.kind == "memristor":
        lines += ["* --- device model", cell.memristor.subckt_text().rstrip()]
    if cell.access is not None:
        lines += ["* --- access transistor", cell.access.model_text().rstrip(),
                  f"Vwl wl 0 DC {fmt(cell.access.v_gate_v)}"]
    return lines


def _header(tile: Tile, what: str, analysis: Analysis) -> list[str]:
    spec = tile.spec
    lines = [f"* spicecim {spicecim.__version__} crossbar {spec.rows}x{spec.cols} {what}",
             *_tile_header(tile)]
    if isinstance(analysis, Transient):
        lines.append(analysis.line())
    else:
        lines.append(".op")
    return lines


_TILE_HEADERS: dict[str, list[str]] = {}


def _tile_header(tile: Tile) -> list[str]:
    """The header lines every netlist of a tile shares (made once: a sweep writes hundreds)."""
    key = tile.digest()
    if key not in _TILE_HEADERS:
        if len(_TILE_HEADERS) >= 16:  # a sweep moves from tile to tile: keep the recent ones
            _TILE_HEADERS.pop(next(iter(_TILE_HEADERS)))
        _TILE_HEADERS[key] = [
            f"* spec {tile.spec.digest()} data {key}",
            f"* parameters: {tile.spec.to_json()}",
            f"* inputs (0..1): {' '.join(fmt(round(float(x), 12)) for x in tile.x_in)}",
            f"* readout sized for this tile: {json.dumps(tile.readout.to_dict(), sort_keys=True)}",
        ]
    return _TILE_HEADERS[key]


def netlist_files(cols: int) -> Iterator[str]:
    yield "array.cir"
    yield from (f"col{j:04d}.cir" for j in range(cols))


_NETLIST_NAME = re.compile(r"^(array|col\d{4,})\.cir$")


def netlists_in(out_dir: Path) -> list[str]:
    """The names of the netlists :func:`write_netlists` would replace or remove in ``out_dir``
    (any ``array.cir`` and ``colNNNN.cir``), sorted; none if it is not a folder."""
    if not out_dir.is_dir():
        return []
    return sorted(p.name for p in out_dir.iterdir() if _NETLIST_NAME.match(p.name))


def holds_netlists_of(out_dir: Path, tile: Tile, analysis: Analysis) -> bool:
    """Whether ``out_dir`` holds nothing but this tile's netlists under ``analysis``, as
    :func:`write_netlists` wrote them: its ``array.cir`` starts with the header it would write
    now (spicecim version, tile and data digests, inputs, readout, analysis), so writing them
    again gives the same bytes (the netlists are deterministic) and replaces nothing."""
    names = set(netlists_in(out_dir))
    if "array.cir" not in names or names - set(netlist_files(tile.spec.cols)):
        return False
    header = "\n".join(_header(tile, "full array", analysis)) + "\n"
    try:
        with open(out_dir / "array.cir") as f:
            return f.read(len(header)) == header
    except (OSError, UnicodeDecodeError):
        return False


def write_netlists(tile: Tile, out_dir: Path, analysis: Analysis, *,
                   on_file: Callable[[Path], None] | None = None) -> list[Path]:
    """Write the full array and every column netlist under ``out_dir``, each atomically (built
    and written one at a time, ``on_file`` told of each), and remove any other netlist of an
    earlier tile there (``array.cir``, ``colNNNN.cir``), so the folder holds one tile's set."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(netlist_files(tile.spec.cols))
    stale = [out_dir / name for name in set(netlists_in(out_dir)) - set(names)]
    paths = []
    for j, name in enumerate(names):
        text = build_array(tile, analysis) if j == 0 else build_column(tile, j - 1, analysis)
        paths.append(files.write_text(out_dir / name, text, sync_dir=False))
        if on_file is not None:
            on_file(paths[-1])
    for path in stale:
        path.unlink(missing_ok=True)
    files.fsync_dir(out_dir)
    return paths
