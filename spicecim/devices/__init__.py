"""Compact device models: the SPICE subcircuits in ``device_models/`` described to Python.

- :mod:`~spicecim.devices.memristor`: the filament-gap RRAM model;
- :mod:`~spicecim.devices.transistor`: the 1T1R access transistor;
- :mod:`~spicecim.devices.amplifier`: the column amplifier, its sizing, loop and noise;
- :mod:`~spicecim.devices.readout`: the column readout (front end, sample-and-hold, ADC);
- :mod:`~spicecim.devices.library`: where the model files are and how they are read.
"""

from spicecim.devices.amplifier import OpAmp, opamp
from spicecim.devices.library import available_models, models_root
from spicecim.devices.memristor import MemristorParams, memristor
from spicecim.devices.readout import (
    FRONT_ENDS,
    AdcModel,
    Readout,
    SampleHold,
    SizedReadout,
    switch_from,
)
from spicecim.devices.transistor import AccessTransistor, access_transistor

__all__ = [
    "FRONT_ENDS",
    "AccessTransistor",
    "AdcModel",
    "MemristorParams",
    "OpAmp",
    "Readout",
    "SampleHold",
    "SizedReadout",
    "access_transistor",
    "available_models",
    "memristor",
    "models_root",
    "opamp",
    "switch_from",
]
