"""The physical range of every tile option in SI units: a value outside it is refused when the
command line is read, with the range in the message, instead of being simulated into a
result no circuit could give (``--c-sample 1e-300`` printed a kT/C noise of 6e+145 uV rms;
``--v-read 1e-12`` a median latency of 0 fs; ``--r-driver 1e300`` a Newton failure after the
run's journal was written; ``--r-f 1e300`` an ``OverflowError``).

The bounds are wide on purpose: each lies decades beyond any circuit of the kind modelled
(the defaults and the parts cited in docs/sources.md sit well inside), so they refuse only
what is absurd, never a design a researcher might want to try.
"""

from __future__ import annotations

Range = tuple[float, float]
"""The lowest and the highest value accepted, both included."""


R_WIRE: Range = (0.0, 1e3)
"""Ohm per cell: 1.9 by default (22 nm pitch Cu); 1 kOhm is a cell's segment of a wire
hundreds of times more resistive than any interconnect metal."""
C_WIRE: Range = (0.0, 1e-12)
"""F per cell: 32 aF by default; 1 pF is a millimetre of wire beside each cell."""
R_DRIVER: Range = (0.0, 1e6)
"""Ohm: 1 by default; above 1 MOhm a DAC could not drive one row of devices of a few uS
(the column solver's Newton steps no longer converge far beyond)."""
V_READ: Range = (1e-3, 10.0)
"""V: 0.1 by default; below 1 mV a device's read current is under the noise of any readout
(and latencies round to 0 fs); the device's own read range caps it further."""
RISE: Range = (1e-12, 1e-6)
"""s: 100 ps by default; a DAC edge under 1 ps is beyond any CMOS driver, and one over 1 us
makes every column's transient a million default steps long (hours per tile)."""
R_F: Range = (1.0, 1e9)
"""Ohm, TIA feedback: sized to the tile by default (kOhm to MOhm); beyond 1 GOhm its kT/C and
leakage swamp any column current."""
C_INT: Range = (1e-16, 1e-9)
"""F, integrator: 1 pF by default; 0.1 fF is below a MOM capacitor's parasitics, 1 nF an
off-chip part."""
T_INT: Range = (1e-12, 1e-3)
"""s, integration window: sized to the tile by default (ns); 1 ms is a million conversions'
worth of an ADC."""
R_SENSE: Range = (1e-3, 1e9)
"""Ohm, passive sense resistor: sized to the tile by default."""
C_SAMPLE: Range = (1e-18, 1e-9)
"""F, sampling capacitor: 4x the kT/C bound by default (tens of fF); 1 aF is below any
capacitor one can draw (its kT/C noise is 64 mV rms), 1 nF an off-chip part."""
GBW: Range = (1e3, 1e13)
"""Hz, amplifier gain-bandwidth: 200 MHz by default; 10 THz is beyond any transistor's f_T."""
