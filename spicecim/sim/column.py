"""One column activation as a transient, and the full array as the reference it is checked
against.

- :func:`simulate_column`: one column activation as a transient whose time step and stop time
  come from the circuit's time constants (:func:`time_scales`), extended until the readout has
  settled, retried with relaxed tolerances when ngspice fails, and reduced to the few waveforms
  measurement needs (:class:`ColumnRun`). :mod:`spicecim.sim.sweep` runs many in parallel.

Sign convention: ngspice reports a voltage source's branch current positive into its ``+``
terminal, so the power a source ``V n+ n-`` delivers is ``(v(n-) - v(n+)) * i(V)``.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from spicecim.errors import NetlistError, SimulationError, check
from spicecim.netlist.crossbar import (
    OUTPUT_NODE,
    SOURCE_GROUPS,
    SOURCE_PATTERNS,
    RowDrive,
    Transient,
    build_array,
    build_column,
    isolated_drive,
)
from spicecim.netlist.spec import Tile
from spicecim.sim.ngspice import NgspiceSession, message
from spicecim.sim.scales import (
    REFINED_STEP,
    SimOptions,
    TimeScales,
    overshoots,
    time_scales,
    transient_window,
)

STATUSES = ("ok", "failed", "unsettled")

# Each later attempt trades accuracy for robustness (recorded with the result): more Newton
# iterations for the operating point and per time step, then tolerances 10x looser. Never looser
# than that: with vntol above the readout's LSB, ngspice "converges" on noise.
RELAXED_ATTEMPTS: tuple[dict[str, object], ...] = (
    {"itl1": 500, "itl4": 100},
    {"itl1": 1000, "itl4": 500, "loosen": 10.0},
)


@dataclass(frozen=True, slots=True)
class ColumnRun:
    """One column activation as ngspice ran it, reduced to what measurement needs.

    ``v_in_v`` is the largest row drive's source node (the input edge); ``power_w`` maps each of
    :data:`SOURCE_GROUPS` to the power its sources deliver (the row DACs' at their own voltage);
    ``scales`` the time constants the run was sized by; ``refined``: repeated at a finer step
    (:func:`overshoots`); ``parse_s`` and ``run_s`` split ``cpu_s`` between writing and loading
    (or altering) the circuit and ngspice's transient. A failed column has empty waveforms and
    ngspice's message.
    """

    column: int
    status: str
    retries: int
    extensions: int
    ngspice_options: str
    message: str
    netlist_sha: str
    stop_s: float
    max_step_s: float
    cpu_s: float
    time_s: np.ndarray = field(repr=False)
    v_out_v: np.ndarray = field(repr=False)
    v_in_v: np.ndarray = field(repr=False)
    power_w: dict[str, np.ndarray] = field(repr=False)
    scales: TimeScales | None = None
    refined: bool = False
    parse_s: float = 0.0
    run_s: float = 0.0

    def __post_init__(self) -> None:
        check(self.status in STATUSES, "status", self.status, f"one of {STATUSES}")
        check(set(self.power_w) == set(SOURCE_GROUPS), "power_w", sorted(self.power_w),
              f"the groups {SOURCE_GROUPS}")


@dataclass(frozen=True, slots=True)
class _Source:
    group: str
    plus: str
    minus: str
    current: str  # the vector of the current through the source from + to -
    # v(+) - v(-) as PWL points (times, values) when the netlist fixes it (a DC or PWL voltage
    # source): then its nodes need not be saved, and saving fewer vectors makes ngspice faster
    # (a 256-row column: ~1 ms of its ~20 ms per 256 vectors).
    waveform: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    # The source's own voltage over the netlist's: a column netlist drives each row with a
    # Thevenin source that includes the other columns' IR drop, but the energy is the DAC's,
    # its own voltage times the row current this column draws.
    scale: float = 1.0

    def voltage(self, vectors: dict[str, np.ndarray]) -> np.ndarray:
        """v(+) - v(-) at the time points of ``vectors``."""
        if self.waveform is None:
            zero = np.zeros_like(vectors["time"])
            return vectors.get(self.plus, zero) - vectors.get(self.minus, zero)
        return np.interp(vectors["time"], *self.waveform)

    def power(self, vectors: dict[str, np.ndarray]) -> np.ndarray:
        """The power the source delivers (ngspice's branch current flows from + to -)."""
        return -self.scale * self.voltage(vectors) * vectors[self.current]


_V_LINE = re.compile(r"^(v\S*)\s+(\S+)\s+(\S+)\s+(.*)$", re.IGNORECASE)
_GROUP_OF = tuple((group, re.compile(pattern)) for group, pattern in SOURCE_PATTERNS)
_NO_GROUP = "none"
_PWL = re.compile(r"^pwl\s*\(([^()]*)\)$")


def _sources(netlist: str, dac_v: Mapping[int, float] | None = None) -> list[_Source]:
    """Every voltage source of the top level that can deliver energy. ``dac_v`` maps a row to
    its DAC's amplitude where the netlist drives the row with another (a Thevenin source)."""
    sources, depth = [], 0
    for line in netlist.lower().splitlines():
        head = line[:1]
        if head == ".":
            depth += line.startswith(".subckt") - line.startswith(".ends")
        # the first letter, before any regular expression: a column has ~1000 other elements
        if depth or head != "v" or not (v := _V_LINE.match(line)):
            continue
        name = v.group(1)
        group = next((g or _NO_GROUP for g, pattern in _GROUP_OF if pattern.fullmatch(name)), None)
        if group is None:
            raise NetlistError(f"source {name!r} belongs to no energy group {SOURCE_GROUPS}")
        if group == _NO_GROUP:
            continue
        waveform = _waveform(v.group(4))
        if waveform is not None and not any(waveform[1]):
            continue  # a 0 V source delivers no energy
        scale = 1.0
        if group == "drivers" and dac_v is not None and waveform is not None:
            scale = dac_v[int(name[1:])] / max(waveform[1], key=abs)
        sources.append(_Source(group, v.group(2), v.group(3), f"{name}#branch", waveform,
                               scale))
    return sources


def _waveform(value: str) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """A source value's PWL points ``(times, values)`` for ``[dc] V`` and ``pwl(t v ...)`` in
    plain numbers; None for any other form (suffixed numbers, pulse, sin...)."""
    text = value.strip()
    try:
        if pwl := _PWL.match(text):
            numbers = [float(w) for w in pwl.group(1).replace(",", " ").split()]
            if numbers and len(numbers) % 2 == 0:
                return tuple(numbers[0::2]), tuple(numbers[1::2])
            return None
        words = [w for w in text.split() if w != "dc"]
        return ((0.0,), (float(words[0]),)) if len(words) == 1 else None
    except ValueError:
        return None


def column_netlist(tile: Tile, j: int, drive: RowDrive, options: SimOptions, *,
                   unconvergeable: bool = False, step_scale: float = 1.0,
                   alterable: bool = False) -> tuple[str, float, float]:
    """Column ``j``'s netlist with its transient (stop, maximum step) from its time scales."""
    stop, step = transient_window(tile, j, drive, options, step_scale)
    analysis = Transient(stop_s=stop, step_s=step, max_step_s=step,
                         edge_points=options.edge_points, alterable=alterable)
    text = build_column(tile, j, analysis, drive)
    if unconvergeable:  # the test hook of spicecim.sim.sweep.UNCONVERGEABLE_ENV
        out = OUTPUT_NODE.format(j=j)
        bad = f"Bunconvergeable 0 {out} I = 1e6*(abs(v({out}))+1e-3)*(abs(v({out}))+1e-3)"
        text = text.replace("\n.end\n", f"\n{bad}\n.end\n")
    return text, stop, step


def _options_line(options: SimOptions, relaxed: dict[str, object]) -> str:
    # noinit: the initial solution is otherwise printed node by node through a Python callback.
    relaxed = dict(relaxed)
    loosen = float(relaxed.pop("loosen", 1.0))  # type: ignore[arg-type]
    vntol = options.settle_tol_v if options.vntol_v is None else options.vntol_v
    values = {"method": options.method, "reltol": options.reltol * loosen, "vntol": vntol * loosen,
              "abstol": options.abstol_a * loosen, "pivtol": options.pivtol, **relaxed}
    return " ".join(["noinit", *(f"{k}={v}" for k, v in values.items())])


def _save_lines(vectors: Sequence[str]) -> list[str]:
    return [".save " + " ".join(vectors[k:k + 16]) for k in range(0, len(vectors), 16)]


def simulate_column(tile: Tile, j: int, drive: RowDrive, options: SimOptions,
                    session: NgspiceSession | None = None, *, unconvergeable: bool = False
                    ) -> ColumnRun:
    """Column ``j``'s activation: run, extend until settled, retry relaxed, reduce; run once
    more at a tenth of the step when the readout settles through an overshoot
    (:func:`overshoots`; ``refined`` says so)."""
    start = time.process_time()
    session = session or NgspiceSession()
    out = OUTPUT_NODE.format(j=j)
    v_in = f"d{int(np.argmax(np.abs(drive.v_th_v)))}"
    dac_v = {i: float(v) for i, v in enumerate(tile.v_in)}
    scales = time_scales(tile, drive, j)
    refined = False
    run_s = 0.0
    for step_scale in (1.0, REFINED_STEP):
        base, stop, step = column_netlist(tile, j, drive, options, unconvergeable=unconvergeable,
                                          step_scale=step_scale)
        r = _transient(session, base, [out], v_in, stop, step, scales.tail_s, options, dac_v)
        run_s += r.run_s
        if r.failure or refined or not overshoots(r.vectors["time"], r.vectors[out],
                                                  options.band_v):
            break
        refined = True
    sha = hashlib.sha256(base.encode()).hexdigest()[:16]
    cpu = time.process_time() - start
    timing = {"parse_s": cpu - run_s, "run_s": run_s}
    if r.failure:
        empty = np.zeros(0)
        return ColumnRun(j, "failed", r.retries, 0, r.options, r.failure, sha, stop, step, cpu,
                         empty, empty, empty, {g: empty for g in SOURCE_GROUPS}, scales, refined,
                         **timing)
    t = r.vectors["time"]
    return ColumnRun(j, r.status, r.retries, r.extensions, r.options, r.message, sha, float(t[-1]),
                     step, cpu, t, r.vectors[out], r.vectors[v_in], r.power_w, scales, refined,
                     **timing)


def simulate_column_inputs(tiles: Sequence[Tile], j: int, drives: Sequence[RowDrive],
                           options: SimOptions, session: NgspiceSession | None = None, *,
                           unconvergeable: bool = False) -> list[ColumnRun]:
    """Column ``j`` under each of several inputs on the same conductances (``tiles[k]`` with
    its row drive ``drives[k]``): the column is written and loaded once, with every row source
    at 0 V, and for each input ngspice's ``alter`` sets the row sources before the transient
    is run. What an input's run is (its figures, ``netlist_sha``: the loaded circuit and that
    input's alterations) does not depend on the other inputs or their order, so a resumed run
    repeats it exactly. The time step and stop time come from the conductances and the rows'
    resistances, which the inputs share. An input whose run fails or settles through an
    overshoot is run the full way (:func:`simulate_column`: its own netlist, relaxed retries,
    a finer step)."""
    check(len(tiles) == len(drives) >= 1, "inputs", len(tiles),
          f"one or more, one drive each ({len(drives)} drives)")
    session = session or NgspiceSession()
    first = tiles[0]
    rows = first.spec.rows
    zero = RowDrive(v_th_v=np.zeros(rows), r_th_ohm=drives[0].r_th_ohm)
    blank = Tile(first.spec, first.g_s, np.zeros(rows), first.mapping)
    scales = time_scales(blank, zero, j)
    start = time.process_time()
    base, stop, step = column_netlist(blank, j, zero, options, unconvergeable=unconvergeable,
                                      alterable=True)
    out = OUTPUT_NODE.format(j=j)
    others = [s for s in _sources(base) if s.group != "drivers"]
    currents = sorted({s.current for s in others} | {f"v{i}#branch" for i in range(rows)})
    wanted = ["time", out, *currents]
    saves = [f"v({out})"] + [f"i({c.split('#')[0]})" for c in currents]
    tran = f"tran {step!r} {{stop!r}} 0 {step!r}" + (" uic" if options.skip_op else "")
    opts = _options_line(options, {})
    text = base.replace("\n.end\n", f"\n.options {opts}\n" + "\n".join(_save_lines(saves))
                        + "\n.end\n")
    rise = first.spec.driver.rise_s
    results: list[ColumnRun] = []
    loaded = False
    with session._lock:
        try:
            for k, (tile, drive) in enumerate(zip(tiles, drives, strict=True)):
                if k > 0:
                    start = time.process_time()
                if loaded:
                    session.command("destroy all")
                else:
                    session.reset()
                    session.load(text)
                    loaded = True
                alters = [f"alter @v{i}[pwl] = [ 0 0 {rise!r} {v!r} ]"
                          for i, v in enumerate(drive.v_th_v.tolist())]
                for command in alters:
                    session.command(command)
                ran = time.process_time()
                try:
                    vectors, extensions, end = _run_until_settled(session, tran, stop, wanted,
                                                                  [out], scales.tail_s, options)
                except SimulationError:
                    vectors = None
                run_s = time.process_time() - ran
                if vectors is None or overshoots(vectors["time"], vectors[out], options.band_v):
                    session.reset()
                    loaded = False
                    results.append(simulate_column(tile, j, drive, options, session,
                                                   unconvergeable=unconvergeable))
                    continue
                if vectors["time"][0] > 0:  # uic: no t = 0 point stored
                    vectors = {n: np.insert(v, 0, 0.0) for n, v in vectors.items()}
                sources = [*_driver_sources(tile, drive), *others]
                power = {g: np.zeros_like(vectors["time"]) for g in SOURCE_GROUPS}
                for s in sources:
                    power[s.group] = power[s.group] + s.power(vectors)
                peak = float(np.max(np.abs(drive.v_th_v), initial=0.0))
                v_in = np.interp(vectors["time"], (0.0, rise), (0.0, peak))
                sha = hashlib.sha256("\n".join([base, *alters]).encode()).hexdigest()[:16]
                cpu = time.process_time() - start
                message = "" if end is None else (
                    f"readout still moving at {end:.4g} s after {extensions} extensions")
                results.append(ColumnRun(
                    j, "ok" if end is None else "unsettled", 0, extensions,
                    f"{opts} | {tran.format(stop=float(vectors['time'][-1]))} | altered",
                    message, sha, float(vectors["time"][-1]), step, cpu, vectors["time"],
                    vectors[out], v_in, power, scales, False, parse_s=cpu - run_s, run_s=run_s))
        finally:
            session.reset()
    return results


def _driver_sources(tile: Tile, drive: RowDrive) -> list[_Source]:
    """The row sources of a column netlist as they are under ``drive`` (their ramps), each
    delivering its DAC's energy (see :class:`_Source`)."""
    rise = tile.spec.driver.rise_s
    out = []
    for i, (v_th, v_dac) in enumerate(zip(drive.v_th_v.tolist(), tile.v_in.tolist(),
                                          strict=True)):
        if v_th != 0:
            out.append(_Source("drivers", f"d{i}", "0", f"v{i}#branch",
                               ((0.0, rise), (0.0, v_th)), v_dac / v_th))
    return out


@dataclass(frozen=True, slots=True)
class ArrayRun:
    """The whole tile as one transient (the reference the column-by-column runs are checked
    against): ``v_out_v`` holds one row per column; ``power_w`` is the whole array's."""

    status: str
    message: str
    time_s: np.ndarray = field(repr=False)
    v_in_v: np.ndarray = field(repr=False)
    v_out_v: np.ndarray = field(repr=False)
    power_w: dict[str, np.ndarray] = field(repr=False)


def simulate_array(tile: Tile, options: SimOptions, *, stop_s: float, max_step_s: float,
                   session: NgspiceSession | None = None) -> ArrayRun:
    """The full array (:func:`build_array`) with the same options as the columns."""
    base = build_array(tile, Transient(stop_s=stop_s, step_s=max_step_s, max_step_s=max_step_s,
                                       edge_points=options.edge_points))
    outs = [OUTPUT_NODE.format(j=j) for j in range(tile.spec.cols)]
    v_in = f"d{int(np.argmax(np.abs(tile.v_in)))}"
    tail = time_scales(tile, isolated_drive(tile, tile.spec.cols - 1)).tail_s
    r = _transient(session or NgspiceSession(), base, outs, v_in, stop_s, max_step_s, tail,
                   options)
    if r.failure:
        raise SimulationError(f"full-array transient failed: {r.failure}")
    return ArrayRun(r.status, r.message, r.vectors["time"], r.vectors[v_in],
                    np.array([r.vectors[o] for o in outs]), r.power_w)


@dataclass(frozen=True, slots=True)
class _Result:
    vectors: dict[str, np.ndarray]
    power_w: dict[str, np.ndarray]
    status: str
    retries: int
    extensions: int
    options: str
    message: str
    failure: str
    run_s: float = 0.0


def _transient(session: NgspiceSession, base: str, outs: list[str], v_in: str, stop: float,
               step: float, tail: float, options: SimOptions,
               dac_v: Mapping[int, float] | None = None) -> _Result:
    """Run ``base``'s circuit until every node of ``outs`` has settled, retrying relaxed."""
    sources = _sources(base, dac_v)
    nodes = {*outs, v_in} | {n for s in sources if s.waveform is None for n in (s.plus, s.minus)}
    nodes.discard("0")
    currents = sorted({s.current for s in sources})
    wanted = ["time", *sorted(nodes), *currents]
    saves = [f"v({n})" for n in sorted(nodes)] + [f"i({c.split('#')[0]})" for c in currents]
    tran = f"tran {step!r} {{stop!r}} 0 {step!r}" + (" uic" if options.skip_op else "")
    failure, opts, run_s = "", "", 0.0
    with session._lock:
        for retries, relaxed in enumerate(({}, *RELAXED_ATTEMPTS)):
            opts = _options_line(options, relaxed)
            extra = "\n".join([f".options {opts}", *_save_lines(saves)])
            text = base.replace("\n.end\n", f"\n{extra}\n.end\n")
            try:
                session.reset()
                session.load(text)
                ran = time.process_time()
                try:
                    vectors, extensions, end = _run_until_settled(session, tran, stop, wanted,
                                                                  outs, tail, options)
                finally:
                    run_s += time.process_time() - ran
            except SimulationError as exc:
                failure = str(exc)
                continue
            finally:
                session.reset()
            if vectors["time"][0] > 0:
                # With uic ngspice stores no t = 0 point; there every node and source is at 0.
                vectors = {k: np.insert(v, 0, 0.0) for k, v in vectors.items()}
            power = {g: np.zeros_like(vectors["time"]) for g in SOURCE_GROUPS}
            for s in sources:
                power[s.group] = power[s.group] + s.power(vectors)
            settled = end is None
            message = "" if settled else (
                f"readout still moving at {end:.4g} s after {extensions} extensions")
            return _Result(vectors, power, "ok" if settled else "unsettled", retries, extensions,
                           f"{opts} | {tran.format(stop=float(vectors['time'][-1]))}", message, "",
                           run_s)
    return _Result({}, {}, "failed", len(RELAXED_ATTEMPTS), 0, opts, "", failure, run_s)


def _run_until_settled(session: NgspiceSession, tran: str, stop: float, wanted: list[str],
                       outs: list[str], tail: float, options: SimOptions
                       ) -> tuple[dict[str, np.ndarray], int, float | None]:
    """The vectors, the extensions made, and None when settled (else the time reached)."""
    for extensions in range(options.max_extensions + 1):
        # Success is a transient plot that reaches the stop time; ngspice's words (warnings that
        # mention "failed" precede many recoveries) only explain a failure.
        output = session.command(tran.format(stop=stop))
        if not session.plot().startswith("tran") or "aborted" in output:
            raise SimulationError(f"ngspice failed: {message(output)}", output=output)
        vectors = session.vectors(wanted)
        t = vectors["time"]
        if t[-1] < stop * (1 - 1e-9):
            reached = f"ngspice stopped at {t[-1]:.4g} s of {stop:.4g} s"
            raise SimulationError(f"{reached}: {message(output)}", output=output)
        drift = max(abs(vectors[o][-1] - np.interp(t[-1] - tail, t, vectors[o])) for o in outs)
        if drift <= options.settle_tol_v:
            return vectors, extensions, None
        if extensions < options.max_extensions:
            session.command("destroy all")
            stop *= 2.0
    return vectors, options.max_extensions, float(t[-1])
