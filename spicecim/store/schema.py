"""The HDF5 layout of a run: every group, dataset and attribute name, unit and the schema
version live here and nowhere else (STYLE rule 6).

::

    /                          attrs: schema_version, spicecim_version, ngspice_version,
                                      created_utc, command_line, complete
    /config                    JSON of every parameter (units "json")
    /tiles/<tile>/             attrs: TILE_ATTRS
    /tiles/<tile>/columns/<f>  one dataset per COLUMN_FIELDS entry, one row per column
    /tiles/<tile>/waveforms/col<NNNNN>/<f>   WAVEFORM_FIELDS, gzip-compressed (optional)
    /layers/<layer>/<f>        one dataset per LAYER_FIELDS entry, one row per schedule;
                               attrs: tiles (the tiles the layer is made of)

Every dataset carries a ``units`` attribute: an SI unit, ``1`` for counts and ratios, ``text``
for strings, ``json`` for the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from spicecim.netlist.crossbar import SOURCE_GROUPS

SCHEMA_VERSION = 1

# Files beside a run's output ``<out>`` (spicecim.store.hdf5 says what each holds when).
JOURNAL_SUFFIX = ".journal"
LOCK_SUFFIX = ".lock"
TEMP_SUFFIX = ".tmp"
PARTIAL_SUFFIX = ".partial"
"""The unfinished HDF5 file earlier versions wrote in place: salvaged into the journal."""
DAMAGED_SUFFIX = ".damaged"

ATTR_SCHEMA = "schema_version"
ATTR_SPICECIM = "spicecim_version"
ATTR_NGSPICE = "ngspice_version"
ATTR_CREATED = "created_utc"
ATTR_COMMAND = "command_line"
ATTR_COMPLETE = "complete"
ATTR_UNITS = "units"
ATTR_LAYER_TILES = "tiles"
ROOT_ATTRS = (ATTR_SCHEMA, ATTR_SPICECIM, ATTR_NGSPICE, ATTR_CREATED, ATTR_COMMAND, ATTR_COMPLETE)

CONFIG = "/config"
CONFIG_UNITS = "json"
TILES = "/tiles"
LAYERS = "/layers"

PENDING = "pending"
"""Status of a column not simulated yet (the others come from the simulator)."""


@dataclass(frozen=True, slots=True)
class Field:
    """One column of a table: its dataset name, numpy kind (``f8``, ``i8`` or ``str``), unit
    and the value it holds before it is written."""

    name: str
    kind: str
    units: str
    fill: object


def _energy_fields() -> tuple[Field, ...]:
    return tuple(Field(f"energy_{g}_j", "f8", "J", float("nan")) for g in (*SOURCE_GROUPS, "adc"))


COLUMN_FIELDS = (
    Field("column", "i8", "1", -1),
    Field("status", "str", "text", PENDING),
    Field("retries", "i8", "1", 0),
    Field("extensions", "i8", "1", 0),
    Field("latency_s", "f8", "s", float("nan")),
    Field("settle_s", "f8", "s", float("nan")),
    Field("threshold_s", "f8", "s", float("nan")),
    Field("v_final_v", "f8", "V", float("nan")),
    Field("window_s", "f8", "s", float("nan")),
    *_energy_fields(),
    Field("stop_s", "f8", "s", float("nan")),
    Field("max_step_s", "f8", "s", float("nan")),
    Field("cpu_s", "f8", "s", float("nan")),
    Field("netlist_sha", "str", "text", ""),
    Field("ngspice_options", "str", "text", ""),
    Field("message", "str", "text", ""),
)

LAYER_FIELDS = (
    Field("schedule", "str", "text", ""),
    Field("adc_share", "i8", "1", 0),
    Field("rounds", "i8", "1", 0),
    Field("conversions", "i8", "1", 0),
    Field("latency_s", "f8", "s", float("nan")),
    Field("energy_array_j", "f8", "J", float("nan")),
    Field("energy_adc_j", "f8", "J", float("nan")),
    Field("energy_j", "f8", "J", float("nan")),
)

WAVEFORM_FIELDS = (
    Field("time_s", "f8", "s", None),
    Field("v_out_v", "f8", "V", None),
    Field("v_in_v", "f8", "V", None),
    *(Field(f"p_{g}_w", "f8", "W", None) for g in SOURCE_GROUPS),
)

# Tile attributes: (name, unit) - the measurement definitions a table was made with.
TILE_ATTRS = (
    ("spec_digest", "text"),
    ("data_digest", "text"),
    ("drive", "text"),
    ("threshold_fraction", "1"),
    ("adc_full_scale_v", "V"),
    ("adc_lsb_v", "V"),
    ("adc_bits", "1"),
    ("adc_t_conv_s", "s"),
    ("adc_e_conv_j", "J"),
)


def tile_group(tile: str) -> str:
    return f"{TILES}/{tile}"


def columns_group(tile: str) -> str:
    return f"{TILES}/{tile}/columns"


def waveforms_group(tile: str) -> str:
    return f"{TILES}/{tile}/waveforms"


def waveform_group(tile: str, column: int) -> str:
    return f"{waveforms_group(tile)}/col{column:05d}"


def layer_group(layer: str) -> str:
    return f"{LAYERS}/{layer}"
