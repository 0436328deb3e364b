"""The periphery around the array that the column netlist does not simulate, each part from a
cited design and charged at the rail it draws from (docs/sources.md, "Periphery").

- **Row DAC** (:func:`dac_e_conv_j`): the energy of one conversion doubles with each bit: MNSIM
  2.0's DAC table (from ISAAC) gives 3.9 uW at 1 bit and 1 GS/s, 7.8 at 2, 15.6 at 3, 31.2 at 4,
  124.8 at 6 and 499.2 uW at 8 bits, exactly ``3.9 uW 2^(bits - 1)``.
- **Row buffer** (:func:`row_buffer`): the DAC's output stage is a unity-gain buffer on the
  two-stage op-amp of :mod:`~spicecim.devices.amplifier`, sized by the same procedure for the
  load it drives: its class-A output stage biased at the row's full-scale current (every cell
  of the row at its conductance, the input at full scale, into the columns' virtual grounds),
  its Miller capacitor for the DAC's noise budget (half an LSB of the DAC), its bandwidth for
  the phase margin against the row wire's capacitance. Its supply current besides the signal
  is the quiescent ``i_tail + i_out`` (a current-sink load takes ``i_out`` whatever the row
  draws, the signal current comes on top and is the simulated ``rowrail`` energy), drawn from
  the rows' rail over the whole time the rows are on.
- **Word line** (:func:`wordline_e_j`): a 1T1R row's word line is charged to the access
  transistors' gate voltage once per read: ``C V^2`` from its driver's supply, with ``C`` the
  wire along the row plus every access transistor's gate.
- **ADC reference**: :attr:`~spicecim.devices.readout.AdcModel.ref_e_conv_j`.
"""

from __future__ import annotations

from spicecim.devices.amplifier import AmpLoad, OpAmp, design, opamp
from spicecim.devices.transistor import AccessTransistor
from spicecim.errors import check

DAC_E_CONV_1BIT_J = 3.9e-6 / 1e9
"""One 1-bit DAC conversion: 3.9 uW at 1 GS/s (MNSIM 2.0, Hardware_Model/DAC.py, "Data
reference: ISAAC"); the table doubles it with every bit up to 499.2 uW at 8 bits."""


def dac_e_conv_j(bits: int) -> float:
    """One conversion of a ``bits``-bit row DAC: ``3.9 fJ 2^(bits - 1)`` (module docstring)."""
    check(isinstance(bits, int) and 1 <= bits <= 16, "dac_bits", bits, "an integer from 1 to 16")
    return DAC_E_CONV_1BIT_J * 2.0 ** (bits - 1)


def row_buffer(i_row_fs_a: float, c_row_f: float, v_full_v: float, dac_bits: int,
               r_out_ohm: float, amp: OpAmp | None = None) -> OpAmp:
    """The unity-gain row buffer sized for its load (module docstring): ``i_row_fs_a`` the
    largest current a row sources, ``c_row_f`` the row wire's capacitance, ``v_full_v`` and
    ``dac_bits`` the DAC's full scale and bits, ``r_out_ohm`` its output resistance."""
    check(i_row_fs_a > 0, "row full-scale current", i_row_fs_a, "a current > 0 A")
    check(c_row_f > 0, "row capacitance", c_row_f, "a capacitance > 0 F")
    load = AmpLoad(i_fs_a=i_row_fs_a, r_f_ohm=0.0, c_f_f=0.0, g_in_s=i_row_fs_a / v_full_v,
                   c_in_f=0.0, r_switch_ohm=r_out_ohm, c_s_f=c_row_f,
                   half_lsb_v=0.5 * v_full_v / (1 << dac_bits), bits=dac_bits)
    return design(amp or opamp(), load)


def wordline_e_j(cols: int, c_wire_per_cell_f: float, access: AccessTransistor | None) -> float:
    """One row's word line charged to the gate voltage: ``cols (c_wire + c_gate) v_gate^2``
    (0 for a 0T1R array: no access transistors, no word line)."""
    if access is None:
        return 0.0
    return cols * (c_wire_per_cell_f + access.c_gate_f) * access.v_gate_v**2
