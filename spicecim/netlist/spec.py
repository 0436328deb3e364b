"""The crossbar specification: one frozen description shared by the netlist writer, the fast
solver and the evaluator, so the SPICE circuit and the nodal model can never drift apart.

Geometry: row drivers sit at column 0's side of every row wire; column readouts sit below the
last row. Each cell adds one wire segment (R in series, C to ground) on its row and its column.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from spicecim import devices
from spicecim.devices.periphery import dac_e_conv_j
from spicecim.devices.readout import SizedReadout
from spicecim.devices.readout import size as size_readout
from spicecim.errors import SpecError, check
from spicecim.units import param

if TYPE_CHECKING:
    from spicecim.netlist.weights import WeightMapping

CELL_KINDS = ("linear", "memristor")
CELL_STATES = ("frozen", "dynamic")
FROZEN_MAX_V = 0.5
"""The highest drive for frozen memristor cells: there the hfox_stanford_v1 read conductance
moves by about 1e-3 per microsecond (the dynamic model in ngspice; 2e-5 at 0.2 V, see
tests/devices/test_memristor.py), so by about 1e-6 over a column read of a nanosecond."""
UNCOMPLIED_MAX_V = 1.0
"""The highest drive for dynamic memristor cells without an access transistor (no compliance):
+1.0 V for 2 us moves the hfox_stanford_v1 gap by 0.6 % (the .lib's measured line), while
+1.4 V for 1 us SETs it fully at 61 mA and 477 K. Above it, a crossbar is a SET path with no
compliance: use 1T1R cells (the access transistor limits the current)."""
ENCODINGS = ("amplitude", "pulse_width")
WEIGHT_SCHEMES = ("differential", "reference")


_R_WIRE = param("--r-wire", "Row and column wire resistance per cell", unit="ohm",
                accepted=(0.0, 1e3), source="NeuroSim V1.4, Cu at 22 nm")
_C_WIRE = param("--c-wire", "Row and column wire capacitance per cell", unit="F",
                accepted=(0.0, 1e-12), source="NeuroSim V1.4, 0.2 fF/um")


@dataclass(frozen=True, slots=True)
class WireParams:
    """Row and column wire per cell segment."""

    # one option sets both wires (the command line has one --r-wire, see DEFAULT_WIRE); 1 kOhm
    # is a cell's segment of a wire hundreds of times more resistive than any interconnect
    # metal, 1 pF a millimetre of wire beside each cell
    r_row_ohm: float = field(metadata=_R_WIRE)
    c_row_f: float = field(metadata=_C_WIRE)
    r_col_ohm: float = field(metadata=_R_WIRE)
    c_col_f: float = field(metadata=_C_WIRE)

    def __post_init__(self) -> None:
        for name in ("r_row_ohm", "r_col_ohm"):
            check(getattr(self, name) >= 0, name, getattr(self, name), "a resistance >= 0 ohm")
        for name in ("c_row_f", "c_col_f"):
            check(getattr(self, name) >= 0, name, getattr(self, name), "a capacitance >= 0 F")


@dataclass(frozen=True, slots=True)
class DriverParams:
    """The DAC driving one row: a voltage source behind an output resistance, its buffer
    drawing the row's current from the rail ``v_rail_v`` (:attr:`rail_v`; the ``rowrail``
    energy group). A row whose input is 0 has its DAC gated off: no conversion counted.
    ``e_conv_j`` None: one conversion's energy scales with ``dac_bits``
    (:func:`spicecim.devices.periphery.dac_e_conv_j`)."""

    # below 1 mV a device's read current is under the noise of any readout (and latencies
    # round to 0 fs); the device's own read range caps it further
    v_full_v: float = field(metadata=param(
        "--v-read", "Full-scale input voltage", unit="V", accepted=(1e-3, 10.0),
        source="NeuRRAM's read bias (Wan et al., Nature 2022)"))
    # above 1 MOhm a DAC could not drive one row of devices of a few uS (the column solver's
    # Newton steps no longer converge far beyond)
    r_out_ohm: float = field(metadata=param(
        "--r-driver", "DAC output resistance", unit="ohm", accepted=(0.0, 1e6)))
    # an edge under 1 ps is beyond any CMOS driver, one over 1 us makes every column's
    # transient a million default steps long (hours per tile)
    rise_s: float = field(metadata=param("--rise", "Input rise time", unit="s",
                                         accepted=(1e-12, 1e-6)))
    dac_bits: int = field(metadata=param("--dac-bits", "DAC resolution", unit="bits",
                                         accepted=(1, 16)))
    encoding: str = field(default="amplitude", metadata=param(
        "--encoding", "How an input sets its row's drive: the DAC's amplitude, or (netlists "
        "and the solver only) the length of a full-scale pulse", choices=ENCODINGS))
    e_conv_j: float | None = None
    v_rail_v: float = 0.5

    def __post_init__(self) -> None:
        check(math.isfinite(self.v_rail_v) and self.v_rail_v > 0, "v_rail_v", self.v_rail_v,
              "a finite rail > 0 V")
        check(self.e_conv_j is None or (math.isfinite(self.e_conv_j) and self.e_conv_j >= 0),
              "dac e_conv_j", self.e_conv_j,
              "None (scaled with dac_bits) or a finite energy >= 0 J")
        check(self.v_full_v > 0, "v_full_v", self.v_full_v, "a full-scale voltage > 0 V")
        check(self.r_out_ohm >= 0, "r_out_ohm", self.r_out_ohm, "a resistance >= 0 ohm")
        check(self.rise_s > 0, "rise_s", self.rise_s, "a rise time > 0 s")
        check(1 <= self.dac_bits <= 16, "dac_bits", self.dac_bits, "an integer from 1 to 16")
        check(self.encoding in ENCODINGS, "encoding", self.encoding, f"one of {ENCODINGS}")

    @property
    def conversion_energy_j(self) -> float:
        """One DAC conversion: ``e_conv_j``, or the cited figure at ``dac_bits``."""
        if self.e_conv_j is None:
            return dac_e_conv_j(self.dac_bits)
        return self.e_conv_j

    @property
    def rail_v(self) -> float:
        """The rail the buffers draw from: ``v_rail_v``, raised to the full scale where that is
        higher (a buffer cannot drive above its rail)."""
        return max(self.v_rail_v, self.v_full_v)


@dataclass(frozen=True, slots=True)
class CellParams:
    """One crossbar cell: a linear resistor (reference case) or the memristor model, 0T1R or 1T1R.

    ``state`` says how a memristor cell enters the netlist. ``frozen`` (the default): its read
    I-V alone, ``I = i0 exp(-gap0/g0) sinh(v/v0)`` with the gap held at its programmed value,
    as one B element per cell (:meth:`~spicecim.devices.MemristorParams.read_sources`). A read
    drives a cell with at most the DAC full scale (0.1 V by default), where the gap drifts by
    under 1e-8 of itself over a read (tests/devices/test_memristor.py: < 2e-5 over a whole
    microsecond at 0.2 V), far below any ADC LSB; ngspice then solves one nonlinear source per
    cell instead of the subcircuit's six and its state node, about ten times faster. ``dynamic``:
    the full subcircuit (gap dynamics, Joule heating), for drives that may switch the device and for
    checking the frozen form (tests/sim/test_read_model.py). The fast solver needs no choice: it
    uses the same read I-V (:meth:`~spicecim.devices.MemristorParams.current`).
    """

    kind: str = field(metadata=param(
        "--cell", "Cell: a linear resistor (the reference case) or the memristor model",
        choices=CELL_KINDS))
    memristor: devices.MemristorParams = field(metadata=param(
        "--memristor", "Memristor model in device_models/memristor/", dest="memristor_name"))
    access: devices.AccessTransistor | None = field(default=None, metadata=param(
        "--access/--no-access", "1T1R cells", source="NeuRRAM's cores are 1T1R"))
    state: str = field(default="frozen", metadata=param(
        "--memristor-state", "frozen: each cell's read I-V at its programmed state (reads); "
        "dynamic: the full model, whose state moves (switching drives)", choices=CELL_STATES))

    def __post_init__(self) -> None:
        check(self.kind in CELL_KINDS, "cell", self.kind, f"one of {CELL_KINDS}")
        check(self.state in CELL_STATES, "state", self.state, f"one of {CELL_STATES}")


@dataclass(frozen=True, slots=True)
class CrossbarSpec:
    """Everything about a tile's circuit except its data (conductances and inputs)."""

    rows: int = field(metadata=param("--rows", "Rows (inputs) of the tile", accepted=(1, None),
                                     source="NeuRRAM's 256x256 cores"))
    cols: int = field(metadata=param("--cols", "Physical columns of the tile",
                                     accepted=(2, None), source="NeuRRAM's 256x256 cores"))
    cell: CellParams
    wire: WireParams
    driver: DriverParams
    readout: devices.Readout
    _json: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check(isinstance(self.rows, int) and self.rows >= 1, "rows", self.rows, "an integer >= 1")
        check(isinstance(self.cols, int) and self.cols >= 1, "cols", self.cols, "an integer >= 1")
        if self.cell.kind == "memristor" and self.cell.state == "frozen":
            check(self.driver.v_full_v <= FROZEN_MAX_V, "v_full_v", self.driver.v_full_v,
                  f"<= {FROZEN_MAX_V} V for frozen memristor cells (use state 'dynamic' above)")
        if self.cell.kind == "memristor" and self.cell.access is None:
            check(self.driver.v_full_v <= UNCOMPLIED_MAX_V, "v_full_v", self.driver.v_full_v,
                  f"<= {UNCOMPLIED_MAX_V} V for memristor cells without an access transistor "
                  "(a higher drive SETs them with no compliance: use 1T1R cells)")

    def to_dict(self) -> dict:
        out = asdict(self)
        for name in _CACHED:
            out.pop(name, None)
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> CrossbarSpec:
        """The specification whose :meth:`to_dict` is ``d`` (as a run's ``/config`` holds it)."""
        cell = d["cell"]
        access = cell.get("access")
        return cls(
            rows=d["rows"], cols=d["cols"],
            cell=CellParams(kind=cell["kind"],
                            memristor=devices.MemristorParams(**cell["memristor"]),
                            access=None if access is None else devices.AccessTransistor(**access),
                            state=cell["state"]),
            wire=WireParams(**d["wire"]),
            driver=DriverParams(**d["driver"]),
            readout=devices.Readout.from_dict(d["readout"]),
        )

    def to_json(self) -> str:
        """:meth:`to_dict` as sorted JSON (computed once: a netlist header carries it)."""
        if self._json is None:
            object.__setattr__(self, "_json", json.dumps(self.to_dict(), sort_keys=True))
        assert self._json is not None
        return self._json

    def digest(self) -> str:
        return _digest(self.to_json().encode())


@dataclass(frozen=True, slots=True)
class Tile:
    """A specification plus its data: programmed conductances and one input vector, and the
    :class:`~spicecim.netlist.weights.WeightMapping` the conductances came from (when they came
    from weights): a run records it, so the evaluator can read the weights back."""

    spec: CrossbarSpec
    g_s: np.ndarray = field(repr=False)
    x_in: np.ndarray = field(repr=False)
    mapping: WeightMapping | None = field(default=None, compare=False)
    _digest: str | None = field(default=None, init=False, repr=False, compare=False)
    _readout: SizedReadout | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        g = np.asarray(self.g_s, dtype=float)
        x = np.asarray(self.x_in, dtype=float)
        shape = (self.spec.rows, self.spec.cols)
        check(g.shape == shape, "conductances.shape", g.shape, f"{shape} (rows, cols)")
        check(x.shape == (self.spec.rows,), "inputs.shape", x.shape, f"({self.spec.rows},)")
        check(bool(np.all(np.isfinite(g))), "conductances", "non-finite", "finite values")
        check(bool(np.all(np.isfinite(x))), "inputs", "non-finite", "finite values")
        mem = self.spec.cell.memristor
        lo, hi = mem.g_off_s * (1 - 1e-9), mem.g_on_s * (1 + 1e-9)
        if self.spec.cell.kind == "memristor" and (g.min() < lo or g.max() > hi):
            raise SpecError(
                f"conductances {g.min():.4g}..{g.max():.4g} S are outside the {mem.name} range "
                f"[{mem.g_off_s:.4g}, {mem.g_on_s:.4g}] S"
            )
        check(bool(np.all(g > 0)), "conductances", float(g.min()), "values > 0 S")
        check(bool(np.all((x >= 0) & (x <= 1))), "inputs", _range(x), "values in [0, 1]")
        g.setflags(write=False)
        x.setflags(write=False)
        object.__setattr__(self, "g_s", g)
        object.__setattr__(self, "x_in", x)

    @property
    def v_in(self) -> np.ndarray:
        """Row drive amplitudes after DAC quantisation (amplitude encoding) or the full-scale
        level (pulse-width encoding, where the input sets the pulse length instead)."""
        d = self.spec.driver
        if d.encoding == "pulse_width":
            return np.where(self.x_in > 0, d.v_full_v, 0.0)
        return quantise_unit(self.x_in, d.dac_bits) * d.v_full_v

    @property
    def readout(self) -> SizedReadout:
        """The spec's readout sized for this tile's conductances (:func:`sized_readout`;
        computed once, as every column's netlist and measurement need it)."""
        if self._readout is None:
            object.__setattr__(self, "_readout", sized_readout(self.spec, self.g_s))
        assert self._readout is not None
        return self._readout

    def digest(self) -> str:
        if self._digest is None:
            h = hashlib.sha256(self.spec.digest().encode())
            h.update(np.ascontiguousarray(self.g_s).tobytes())
            h.update(np.ascontiguousarray(self.x_in).tobytes())
            object.__setattr__(self, "_digest", h.hexdigest()[:16])
        assert self._digest is not None
        return self._digest


def sized_readout(spec: CrossbarSpec, g_s: np.ndarray) -> SizedReadout:
    """``spec``'s readout sized for conductances ``g_s``: for the largest column current they
    can draw, every input at full scale and no IR drop
    (:func:`~spicecim.devices.readout.size`)."""
    d = spec.driver
    i_fs = float(np.max(np.asarray(g_s, dtype=float).sum(axis=0))) * d.v_full_v
    return size_readout(spec.readout, i_fs, d.v_full_v, d.rise_s,
                        c_column_f=spec.rows * spec.wire.c_col_f)


def quantise_unit(x: np.ndarray, bits: int) -> np.ndarray:
    """Round values in [0, 1] to the nearest of 2^bits evenly spaced levels."""
    levels = (1 << bits) - 1
    return np.round(np.asarray(x, dtype=float) * levels) / levels


_CACHED = ("_json", "_digest", "_readout")
"""Fields that hold what a frozen object computes once from its others (not part of it)."""


def _range(x: np.ndarray) -> str:
    return f"{float(np.min(x)):.4g}..{float(np.max(x)):.4g}"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


# --- Defaults. Each cites where its numbers come from; docs/sources.md quotes the sources.
#
# The default tile is NeuRRAM's (Wan et al., "A compute-in-memory chip based on resistive
# random-access memory", Nature 608, 504-512, 2022; docs/sources.md section 8): 256x256 1T1R
# RRAM cores read at 0.1 V across the cell, conductances 1-40 uS. Its wires are NeuroSim's at
# the 22 nm node, the node of the ADC and DAC figures below.

# Wires: Cu at the 22 nm node, width 40 nm, aspect ratio 1.9, rho = 2.97e-8 ohm m with a
# 2.5 nm barrier -> 11.6 ohm/um (NeuroSim V1.4 Param.cpp interconnect model and table). A 1T1R
# cell is 4F x 12F with F = 40 nm (NeuroSim, heightInFeatureSize1T1R = 4,
# widthInFeatureSize1T1R = 12); along its 4F side, which NeuroSim's Param.cpp names the row,
# that is 1.86 ohm per cell. Both wires take it: the command line has one --r-wire (along the
# 12F side it would be 5.57 ohm, docs/sources.md section 3). Capacitance ~0.2 fF/um (NeuroSim
# SubArray.cpp capCol = lengthCol * 0.2e-15/1e-6; Weste & Harris, "CMOS VLSI Design", 4th ed.,
# sec. 6.2), 32 aF per cell.
CELL_PITCH_M = 4 * 40e-9
WIRE_R_OHM_PER_M = 11.6e6
WIRE_C_F_PER_M = 0.2e-9
DEFAULT_WIRE = WireParams(
    r_row_ohm=WIRE_R_OHM_PER_M * CELL_PITCH_M,
    c_row_f=WIRE_C_F_PER_M * CELL_PITCH_M,
    r_col_ohm=WIRE_R_OHM_PER_M * CELL_PITCH_M,
    c_col_f=WIRE_C_F_PER_M * CELL_PITCH_M,
)
# Inputs: amplitude 0..V_read with V_read = 0.1 V: NeuRRAM's read bias across a cell (its
# write-verify read drives vread = 1.0 V against vref = 0.9 V, and its MVM inputs are
# VREF +- 0.1 V; weierwan/Neurram_48core python/wupdate_control.py, matmul.py), also the read
# voltage of the Stanford RRAM models. 8-bit DACs as in the 8-bit DAC/ADC study of seed 004
# (Synaptogen Conformer, 8-bit DAC/ADC). Output resistance and edge are design choices, not
# device figures: 1 ohm for a strong row buffer (so the driver, not the array, never sets the
# result), and a 100 ps edge, well inside one period of the 1.28 GS/s ADC below. The DAC's own
# energy scales with its bits, 0.5 pJ per 8-bit conversion: MNSIM-2.0's DAC table (0.4992 mW
# at 8 bits and 1 GS/s, halved per bit less; "Data reference: ISAAC";
# MNSIM/Hardware_Model/DAC.py; spicecim.devices.periphery). The row buffers draw from +0.5 V, the
# positive half of the readout amplifiers' 1.0 V split supply: the rows sit 0..0.1 V above the
# virtual ground at mid-supply, so their buffers source from the rail above it (a design
# choice consistent with device_models/readout/opamp_2s.lib's supply).
DEFAULT_DRIVER = DriverParams(v_full_v=0.1, r_out_ohm=1.0, rise_s=100e-12, dac_bits=8)
# ADC: the silicon it comes from, not a scaled figure: the 8-bit SAR of Kull et al., ISSCC 2013
# (32 nm SOI), 3.1 mW at 1.2 GS/s, 2.58 pJ per conversion (ISAAC's 1.56 pJ, 16 mW for 8 ADCs at
# 1.28 GS/s, is a derived figure 1.65x below it); its area 1200 um^2, ISAAC's 9600 um^2 for 8 of
# them (Shafiee et al., ISCA 2016; docs/sources.md section 4): one per column of a 256x256 tile
# takes about 60 times the array's area.
DEFAULT_ADC = devices.AdcModel(bits=8, t_conv_s=1 / 1.2e9, e_conv_j=3.1e-3 / 1.2e9,
                               area_m2=9600e-12 / 8)
CELL_AREA_M2 = (4 * 40e-9) * (12 * 40e-9)
"""A 1T1R cell, 4F x 12F at F = 40 nm (NeuroSim's 1T1R cell, as the wires above)."""
# Readout: a TIA, as the current-mode readouts of most silicon-verified nvCIM macros (Hung et al.,
# ISSCC 2022, introduction; the 22 nm macro of Hung et al., Nat. Electron. 2021, reads through a
# current-to-voltage stage): the two-stage op-amp of device_models/readout/opamp_2s.lib, sized
# for the tile it reads (its output stage for the full-scale column current, its Miller capacitor
# for the noise budget, its bandwidth for 60 degrees of phase margin in that load:
# spicecim.devices.amplifier), its feedback resistor sized so the tile's worst-case column
# current reaches the amplifier's output swing. Sample-and-hold: the access transistor's NMOS
# (PTM 45 nm) as the switch, the capacitor sized at 4x the kT/C bound for the ADC's bits at that
# full scale (docs/sources.md).
DEFAULT_READOUT = devices.Readout(
    front_end="tia",
    opamp=devices.opamp(),
    sample_hold=devices.switch_from(devices.access_transistor()),
    adc=DEFAULT_ADC,
)
# Cells: 1T1R (NeuRRAM's cores are 1T1R) with the HfOx RRAM model whose range covers NeuRRAM's:
# hfox_stanford_asu reads 0.30 uS to 100 uS at 0.1 V (Chen & Yu, TED 2015).
DEFAULT_MEMRISTOR = "hfox_stanford_asu"
DEFAULT_ACCESS = True
# Weights: programmed between 1 and 40 uS, NeuRRAM's write-verify targets (g_min = 1e-6,
# g_max = 4e-5, tolerance 1e-6 S; weierwan/Neurram_48core mnist_cnn/mnist_chip_inference.ipynb;
# aihwkit's NeuRRAM noise model is referenced to the same 40 uS), 4 bits (16 levels) per device.
DEFAULT_G_MIN_S = 1e-6
DEFAULT_G_MAX_S = 40e-6
DEFAULT_WEIGHT_BITS = 4


def default_spec(rows: int = 256, cols: int = 256, *, cell: str = "memristor",
                 memristor: str = DEFAULT_MEMRISTOR, access: bool = DEFAULT_ACCESS,
                 state: str = "frozen") -> CrossbarSpec:
    """The everyday tile: NeuRRAM's 256x256 1T1R HfOx array with cited wire, DAC and ADC
    figures."""
    return CrossbarSpec(
        rows=rows,
        cols=cols,
        cell=CellParams(
            kind=cell,
            memristor=devices.memristor(memristor),
            access=devices.access_transistor() if access else None,
            state=state,
        ),
        wire=DEFAULT_WIRE,
        driver=DEFAULT_DRIVER,
        readout=DEFAULT_READOUT,
    )
