"""Compact device models: the SPICE subcircuits in ``device_models/`` described to Python.

- :mod:`~spicecim.devices.memristor`: the filament-gap RRAM model;
- :mod:`~spicecim.devices.transistor`: the 1T1R access transistor;
- :mod:`~spicecim.devices.readout`: the column readout and its ADC;
- :mod:`~spicecim.devices.library`: where the model files are and how they are read.
"""

from spicecim.devices.library import available_models, models_root
from spicecim.devices.memristor import MemristorParams, memristor
from spicecim.devices.readout import READOUT_STYLES, AdcModel, Readout
from spicecim.devices.transistor import AccessTransistor, access_transistor

__all__ = [
    "READOUT_STYLES",
    "AccessTransistor",
    "AdcModel",
    "MemristorParams",
    "Readout",
    "access_transistor",
    "available_models",
    "memristor",
    "models_root",
]
