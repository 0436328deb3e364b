"""ADC-free readout with an analog CAM, and non-linear functions as intervals.

A column of ``2^b`` one-cell rows, each storing one input interval, turns a data-line voltage into
a b-bit code: the matching row's code. The same structure evaluates a quantised function (ReLU,
sigmoid, softplus, exp...): a row per maximal input interval over which the quantised output
keeps one code. :func:`function_map` finds those intervals, :func:`program_function` programs the
cells (through the measured transfer curve, :class:`~spicecim.acam.search.Programmer`),
:func:`convert` reads inputs through a simulated array and :func:`converter_figures` gives the
evaluator a b-bit converter's latency, energy per conversion and quantisation edges.

Quantisation: outputs ``y`` in ``[y_min, y_max]`` (the function's range over the input range) map
to ``floor((y - y_min) / (y_max - y_min) * 2^b)``, clipped to ``2^b - 1``; for the identity this
is an ADC with ``2^b`` equal steps. Inputs ``x`` in ``[x_min, x_max]`` map linearly to data-line
voltages in ``[v_min, v_max]``; the first row has no lower bound and the last no upper bound, so
inputs beyond the range read as the end codes.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq

from spicecim.acam.netlist import AcamArray, AcamCell, SearchData, acam_cell
from spicecim.acam.search import Programmer, programmer, run_search
from spicecim.errors import SpecError, check
from spicecim.sim.ngspice import NgspiceSession

FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "exp": np.exp,
}
# 256 rows: an 8-bit code over the ~0.33 V window is a 1.3 mV step, already near what matching
# and device variation allow; more rows than that is no longer a sensible converter.
MAX_BITS = 8
MAX_INPUT = 700.0
"""The largest input magnitude of a function map: exp's largest finite float64 value is at 709.8,
and past +-700 every other shipped function is constant to double precision (sigmoid) or its
own input, so a wider range (``--x-max 1e300``) maps no function, only its rounding."""
# Samples per output code when looking for the function's crossings of the code thresholds.
SAMPLES_PER_CODE = 64
# Keeps the input range this far inside the window where every edge can be programmed, so the
# open-ended first and last rows still match at the ends of the range.
WINDOW_MARGIN_V = 5e-3

_FIGURES_MEMO: dict[tuple, ConverterFigures] = {}


@dataclass(frozen=True, slots=True)
class FunctionMap:
    """A quantised function as intervals: row ``k`` covers inputs ``[x_lo[k], x_hi[k]]`` and
    outputs ``code[k]``. Rows are ordered by input and cover ``[x_min, x_max]`` without gaps."""

    name: str
    bits: int
    x_min: float
    x_max: float
    y_min: float
    y_max: float
    x_lo: np.ndarray = field(repr=False)
    x_hi: np.ndarray = field(repr=False)
    code: np.ndarray = field(repr=False)

    @property
    def rows(self) -> int:
        return int(self.code.size)

    @property
    def edges(self) -> np.ndarray:
        """Inputs where the code changes (the rows' inner bounds)."""
        return self.x_lo[1:]

    def ideal_code(self, x: np.ndarray) -> np.ndarray:
        """The code each input gets from the intervals (end codes beyond the range)."""
        return self.code[np.searchsorted(self.edges, np.asarray(x, dtype=float), side="right")]

    def value(self, code: np.ndarray) -> np.ndarray:
        """The output a code stands for: the middle of its step."""
        step = (self.y_max - self.y_min) / (1 << self.bits)
        return self.y_min + (np.asarray(code) + 0.5) * step


def function_map(function: str | Callable[[np.ndarray], np.ndarray], bits: int, x_min: float,
                 x_max: float) -> FunctionMap:
    """Intervals of ``[x_min, x_max]`` on which ``function``, quantised to ``bits``, is constant."""
    if isinstance(function, str):
        check(function in FUNCTIONS, "function", function, f"one of {tuple(FUNCTIONS)}")
        name, f = function, FUNCTIONS[function]
    else:
        name, f = getattr(function, "__name__", "function"), function
    check(isinstance(bits, int) and 1 <= bits <= MAX_BITS, "bits", bits,
          f"an integer from 1 to {MAX_BITS}")
    check(bool(-MAX_INPUT <= x_min < x_max <= MAX_INPUT), "input range", (x_min, x_max),
          f"x_min < x_max within +-{MAX_INPUT:g}")
    levels = 1 << bits
    x = np.linspace(x_min, x_max, SAMPLES_PER_CODE * levels + 1)
    y = np.asarray(f(x), dtype=float)
    check(bool(np.all(np.isfinite(y))), f"{name}(x)", "non-finite", "finite values on the range")
    y_min, y_max = float(y.min()), float(y.max())
    check(y_max > y_min, f"{name}(x)", y_min, "a function that is not constant on the range")
    step = (y_max - y_min) / levels
    edges = []
    for k in range(1, levels):
        threshold = y_min + k * step
        above = y >= threshold  # a sample exactly on the threshold counts as above it
        for i in np.flatnonzero(above[:-1] != above[1:]):
            edges.append(brentq(lambda t, th=threshold: float(f(np.array(t))) - th,
                                x[i], x[i + 1], xtol=1e-14 * max(1.0, abs(x_max - x_min))))
    inner = np.unique(np.asarray(edges, dtype=float))
    bounds = np.concatenate([[x_min], inner[(inner > x_min) & (inner < x_max)], [x_max]])
    mid = 0.5 * (bounds[:-1] + bounds[1:])
    codes = np.clip(np.floor((np.asarray(f(mid), dtype=float) - y_min) / step), 0, levels - 1)
    keep = np.concatenate([[True], codes[1:] != codes[:-1]])  # merge runs of one code
    starts = bounds[:-1][keep]
    ends = np.append(starts[1:], x_max)
    return FunctionMap(name, bits, float(x_min), float(x_max), y_min, y_max, starts, ends,
                       codes[keep].astype(int))


@dataclass(frozen=True, slots=True)
class AcamProgram:
    """A function map programmed into a one-cell-per-row array: per row, its data-line interval
    (``-inf`` / ``inf`` at the open ends) and the two conductances that store it."""

    fmap: FunctionMap
    prog: Programmer
    v_min_v: float
    v_max_v: float
    v_lo_v: np.ndarray = field(repr=False)
    v_hi_v: np.ndarray = field(repr=False)
    g_lo_s: np.ndarray = field(repr=False)
    g_hi_s: np.ndarray = field(repr=False)

    @property
    def edges_v(self) -> np.ndarray:
        return self.v_lo_v[1:]

    def dl_of(self, x: np.ndarray) -> np.ndarray:
        f = self.fmap
        return self.v_min_v + (np.asarray(x, dtype=float) - f.x_min) / (f.x_max - f.x_min) * (
            self.v_max_v - self.v_min_v)

    def search_data(self, x: np.ndarray) -> SearchData:
        return SearchData(self.prog.array, self.g_lo_s[:, None], self.g_hi_s[:, None],
                          self.dl_of(np.atleast_1d(x))[:, None])

    def decode(self, match: np.ndarray) -> np.ndarray:
        """Codes from match vectors (inputs x rows): the first matching row's; -1 if none."""
        match = np.atleast_2d(match)
        return np.where(match.any(axis=1), self.fmap.code[np.argmax(match, axis=1)], -1)


def input_window(prog: Programmer, margin_v: float = WINDOW_MARGIN_V) -> tuple[float, float]:
    """The default data-line range: where every edge can be programmed, less a margin."""
    lo, hi = prog.window.common
    return lo + margin_v, hi - margin_v


def program_function(fmap: FunctionMap, cell: AcamCell | None = None, *,
                     v_range: tuple[float, float] | None = None,
                     session: NgspiceSession | None = None) -> AcamProgram:
    """Program ``fmap`` into an array of ``fmap.rows`` one-cell rows of ``cell``."""
    array = AcamArray(rows=fmap.rows, cells=1, cell=cell or acam_cell())
    prog = programmer(array, session=session)
    window = input_window(prog, 0.0)
    v_min, v_max = v_range or input_window(prog)
    check(window[0] <= v_min < v_max <= window[1], "v_range", (v_min, v_max),
          f"v_min < v_max inside the programmable window [{window[0]:.6g}, {window[1]:.6g}] V")
    v_edges = v_min + (fmap.edges - fmap.x_min) / (fmap.x_max - fmap.x_min) * (v_max - v_min)
    v_lo = np.concatenate([[-np.inf], v_edges])
    v_hi = np.concatenate([v_edges, [np.inf]])
    g_lo, g_hi = prog.conductances(v_lo, v_hi)
    return AcamProgram(fmap, prog, float(v_min), float(v_max), v_lo, v_hi, g_lo, g_hi)


def convert(program: AcamProgram, x: np.ndarray, *, session: NgspiceSession | None = None,
            executor: cf.Executor | None = None) -> np.ndarray:
    """Codes for inputs ``x`` read through the simulated array (ngspice; the netlists spread over
    ``executor`` when one is given)."""
    result = run_search(program.search_data(x), session=session, executor=executor)
    return program.decode(result.match)


@dataclass(frozen=True, slots=True)
class ConverterFigures:
    """A b-bit ACAM converter for the evaluator.

    ``latency_s``: precharge release to the sense amplifier's sample (the conversion's result is
    valid then); ``t_cross_s``: the slowest mismatching row's measured discharge to the sense
    threshold, which must lie inside it. ``energy_j``: mean energy per conversion over one input
    at each code's centre, all supplies plus the precharge that follows. ``edges_v``: the
    programmed code edges on the data line; inputs in ``[v_min_v, v_max_v]``.
    """

    bits: int
    v_min_v: float
    v_max_v: float
    edges_v: np.ndarray = field(repr=False)
    latency_s: float
    t_cross_s: float
    energy_j: float
    energy_divider_j: float
    energy_precharge_j: float

    def code(self, v: np.ndarray) -> np.ndarray:
        """The ideal code of data-line voltages under these edges."""
        return np.searchsorted(self.edges_v, np.asarray(v, dtype=float), side="right")


def converter(bits: int, cell: AcamCell | None = None, *,
              v_range: tuple[float, float] | None = None,
              session: NgspiceSession | None = None) -> AcamProgram:
    """A ``bits``-bit converter of data-line voltages (the identity function, x in volts)."""
    check(isinstance(bits, int) and 1 <= bits <= MAX_BITS, "bits", bits,
          f"an integer from 1 to {MAX_BITS}")
    cell = cell or acam_cell()
    v_min, v_max = v_range or input_window(
        programmer(AcamArray(1 << bits, 1, cell), session=session))
    return program_function(function_map("identity", bits, v_min, v_max), cell,
                            v_range=(v_min, v_max), session=session)


def converter_figures(bits: int, cell: AcamCell | None = None, *,
                      v_range: tuple[float, float] | None = None,
                      session: NgspiceSession | None = None) -> ConverterFigures:
    """Latency, energy per conversion and edges of a b-bit converter, from ngspice (memoised)."""
    cell = cell or acam_cell()
    key = (bits, cell.digest(), v_range)
    if key not in _FIGURES_MEMO:
        prog = converter(bits, cell, v_range=v_range, session=session)
        centres = 0.5 * (np.concatenate([[prog.v_min_v], prog.edges_v])
                         + np.concatenate([prog.edges_v, [prog.v_max_v]]))
        result = run_search(prog.search_data(centres), session=session)
        codes = prog.decode(result.match)
        if not np.array_equal(codes, np.arange(1 << bits)):
            raise SpecError(f"the {bits}-bit converter misreads its own code centres ({codes}): "
                            "expected a timing (t_eval_s) and range the cell can sense")
        mismatching = np.where(result.match, np.nan, result.t_cross_s)
        _FIGURES_MEMO[key] = ConverterFigures(
            bits=bits,
            v_min_v=prog.v_min_v,
            v_max_v=prog.v_max_v,
            edges_v=prog.edges_v,
            latency_s=cell.t_eval_s,
            t_cross_s=float(np.nanmax(mismatching)),
            energy_j=float(np.mean(result.energy_j)),
            energy_divider_j=float(np.mean(result.energy_divider_j)),
            energy_precharge_j=float(np.mean(result.energy_precharge_j)),
        )
    return _FIGURES_MEMO[key]
