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

``/acam/search`` replaces tiles and layers in an ACAM search file (:data:`ACAM_SEARCH`).
Every dataset carries a ``units`` attribute: an SI unit, ``1`` for counts and ratios, ``text``
for strings, ``json`` for the configuration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from spicecim.errors import ResultFileError, SpecError, check
from spicecim.netlist.crossbar import SOURCE_GROUPS

SCHEMA_VERSION = 2

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
ATTR_ENGINE = "engine"
"""The simulator that made a run's columns (spicecim.sim.sweep.ENGINES)."""
ATTR_ENGINE_CHECK = "engine_check"
"""On the batched engine: JSON of the spot check against ngspice (spicecim.sim.check)."""
ATTR_DECOMPOSITION_CHECK = "decomposition_check"
"""On the array drive: JSON of the checked columns' coupled decomposition against the full
array, as information (spicecim.sim.check.SpotCheck.decomposition_json)."""
ATTR_COMPLETE = "complete"
ATTR_UNITS = "units"
ATTR_LAYER_TILES = "tiles"
ROOT_ATTRS = (ATTR_SCHEMA, ATTR_SPICECIM, ATTR_NGSPICE, ATTR_CREATED, ATTR_COMMAND, ATTR_COMPLETE,
              ATTR_ENGINE)

CONFIG = "/config"
# The /config layout: every key a run's configuration holds (spicecim.store.runs reads them).
CONFIG_SPEC = "spec"
CONFIG_MAPPING = "mapping"
CONFIG_SIMULATION = "simulation"
CONFIG_PARAMETERS = "parameters"
CONFIG_READOUT = "readout"
CONFIG_DATA = "data_digest"
CONFIG_UNITS = "json"
PARAMETER_MODEL = "model"
"""The ``/config`` parameter a model co-simulation records itself under (its provenance:
:func:`spicecim.cost.cosim.Plan.provenance`); a run without it holds generic tiles."""
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


ENERGY_PARTS = (*SOURCE_GROUPS, "sh", "adc")
"""A column's energy by what spent it: each source group of the netlist (row DACs into the
array, front-end supplies, word line), the sample-and-hold's clock, one ADC conversion."""


def energy_field(part: str) -> str:
    """The column table's name for one of :data:`ENERGY_PARTS`."""
    return f"energy_{part}_j"


def power_field(group: str) -> str:
    """The column table's name for a source group's settled power."""
    return f"power_{group}_w"


_NAN = float("nan")


def _value(kind: str, units: str, fill: object) -> Any:
    """A record field stored as a table column of numpy ``kind`` in ``units``; its default,
    ``fill``, the value the column holds before it is written."""
    return field(default=fill, metadata={"kind": kind, "units": units})


def _parts(name: Callable[[str], str], parts: tuple[str, ...], units: str) -> Any:
    """A record field holding one figure per part (part -> value), stored as one column per
    part named ``name(part)``."""
    return field(default_factory=dict, metadata={"kind": "f8", "units": units, "name": name,
                                                 "parts": parts})


@dataclass(frozen=True, slots=True)
class ColumnRecord:
    """One row of a tile's column table: how the column ran and what it measured. The table's
    datasets are this record's fields (:data:`COLUMN_FIELDS`); ``energy_j`` and ``power_w``
    one dataset per part (:func:`energy_field`, :func:`power_field`); a field left at its
    default is not measured (NaN)."""

    column: int = _value("i8", "1", -1)
    status: str = _value("str", "text", PENDING)
    retries: int = _value("i8", "1", 0)
    extensions: int = _value("i8", "1", 0)
    refined: int = _value("i8", "1", 0)
    latency_s: float = _value("f8", "s", _NAN)
    settle_s: float = _value("f8", "s", _NAN)
    threshold_s: float = _value("f8", "s", _NAN)
    v_final_v: float = _value("f8", "V", _NAN)
    snr_db: float = _value("f8", "dB", _NAN)
    window_s: float = _value("f8", "s", _NAN)
    energy_j: Mapping[str, float] = _parts(energy_field, ENERGY_PARTS, "J")
    power_w: Mapping[str, float] = _parts(power_field, SOURCE_GROUPS, "W")
    tau_row_s: float = _value("f8", "s", _NAN)
    tau_column_s: float = _value("f8", "s", _NAN)
    tau_frontend_s: float = _value("f8", "s", _NAN)
    tau_sample_hold_s: float = _value("f8", "s", _NAN)
    stop_s: float = _value("f8", "s", _NAN)
    max_step_s: float = _value("f8", "s", _NAN)
    cpu_s: float = _value("f8", "s", _NAN)
    netlist_sha: str = _value("str", "text", "")
    ngspice_options: str = _value("str", "text", "")
    message: str = _value("str", "text", "")

    def __post_init__(self) -> None:
        for f in fields(self):
            if "parts" in f.metadata:
                parts = sorted(getattr(self, f.name))
                check(set(parts) <= set(f.metadata["parts"]), f.name, parts,
                      f"some of {f.metadata['parts']}")

    def row(self) -> dict[str, object]:
        """The record as the table's row: dataset name -> value (:data:`COLUMN_FIELDS`)."""
        row: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if "parts" in f.metadata:
                row.update({f.metadata["name"](p): value.get(p, _NAN) for p in f.metadata["parts"]})
            else:
                row[f.name] = value
        return row


def _columns(record: type) -> tuple[Field, ...]:
    out: list[Field] = []
    for f in fields(record):
        kind, units = f.metadata["kind"], f.metadata["units"]
        if "parts" in f.metadata:
            out += [Field(f.metadata["name"](p), kind, units, _NAN) for p in f.metadata["parts"]]
        else:
            out.append(Field(f.name, kind, units, f.default))
    return tuple(out)


COLUMN_FIELDS = _columns(ColumnRecord)
"""The column table's datasets, in order: :class:`ColumnRecord`'s fields."""

LAYER_ENERGY_PARTS = ("dac", "rowbias", "array", "wordline", "frontend", "sh", "adc", "adcref")
"""A layer's energy by part (:class:`spicecim.measure.LayerSchedule`)."""

LAYER_FIELDS = (
    Field("schedule", "str", "text", ""),
    Field("policy", "str", "text", ""),
    Field("adc_share", "i8", "1", 0),
    Field("rounds", "i8", "1", 0),
    Field("conversions", "i8", "1", 0),
    Field("latency_s", "f8", "s", float("nan")),
    Field("t_sample_s", "f8", "s", float("nan")),
    Field("rows_on_s", "f8", "s", float("nan")),
    *(Field(energy_field(part), "f8", "J", float("nan")) for part in LAYER_ENERGY_PARTS),
    Field("energy_j", "f8", "J", float("nan")),
)

WAVEFORM_FIELDS = (
    Field("time_s", "f8", "s", None),
    Field("v_out_v", "f8", "V", None),
    Field("v_in_v", "f8", "V", None),
    *(Field(f"p_{g}_w", "f8", "W", None) for g in SOURCE_GROUPS),
)

_ABSENT: dict[str, object] = {"float": _NAN, "int": 0, "str": "", "bool": False}
"""What a tile attribute reads as when its run did not store it (a run of an earlier spicecim),
by the field's type: NaN, 0, '' or False."""
_TYPES: dict[str, type] = {"float": float, "int": int, "str": str, "bool": bool}


def _attr(units: str) -> Any:
    return field(metadata={"units": units})


@dataclass(frozen=True, slots=True)
class TileAttrs:
    """A tile's attributes: the measurement definitions and readout sizing its table was made
    with (:data:`TILE_ATTRS`, their units in each field's metadata). Each value is held as its
    field's Python type (a number stored by numpy or JSON converted on construction)."""

    spec_digest: str = _attr("text")
    data_digest: str = _attr("text")
    drive: str = _attr("text")
    threshold_fraction: float = _attr("1")
    front_end: str = _attr("text")
    i_fs_a: float = _attr("A")
    adc_range_a: float = _attr("A")  # the column current the ADC's range is sized for
    gain_ohm: float = _attr("ohm")
    c_s_f: float = _attr("F")
    adc_full_scale_v: float = _attr("V")
    adc_lsb_v: float = _attr("V")
    adc_bits: int = _attr("1")
    adc_t_conv_s: float = _attr("s")
    adc_e_conv_j: float = _attr("J")
    noise_v: float = _attr("V")
    noise_ok: bool = _attr("1")
    noise_warning: str = _attr("text")
    dac_e_conv_j: float = _attr("J")
    sh_e_clock_j: float = _attr("J")
    noise_ktc_v: float = _attr("V")  # the sampling capacitor's own kT/C (noise_v: the front end's)
    # the sized amplifier (spicecim.devices.readout.AMP_FIGURES)
    amp_i_q_a: float = _attr("A")
    amp_i_out_a: float = _attr("A")
    amp_gbw_hz: float = _attr("Hz")
    amp_a0: float = _attr("1")
    amp_gain_error_lsb: float = _attr("1")
    amp_r_out_ohm: float = _attr("ohm")
    amp_slew_v_per_s: float = _attr("V/s")
    amp_phase_margin_deg: float = _attr("deg")
    amp_settle_s: float = _attr("s")  # a full-scale step to half an LSB, closed form
    amp_settle_window_s: float = _attr("s")  # the time the schedule gives it
    snr_db: float = _attr("dB")
    enob: float = _attr("1")
    adc_area_m2: float = _attr("m^2")  # one ADC's (0: unknown)
    array_area_m2: float = _attr("m^2")  # the tile's cells
    ops: int = _attr("1")  # operations per activation: 2 per multiply-accumulate of a signed output
    precision: str = _attr("text")
    # the periphery (spicecim.measure.PERIPHERY_ATTRS)
    row_buffer_i_q_a: float = _attr("A")
    row_bias_w: float = _attr("W")
    wordline_e_j: float = _attr("J")
    adc_ref_e_conv_j: float = _attr("J")

    def __post_init__(self) -> None:
        for f in fields(self):
            value, kind = getattr(self, f.name), _TYPES[str(f.type)]
            # a number is never text, and text never a number; a count is whole
            ok = (isinstance(value, str) if kind is str
                  else not isinstance(value, str | bytes) and _converts(value, kind))
            check(ok, f.name, value, f"a {kind.__name__}")
            object.__setattr__(self, f.name, kind(value))

    def to_dict(self) -> dict[str, object]:
        """The attributes as stored: name -> value, in :data:`TILE_ATTRS` order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, attrs: Mapping[str, object], where: str = "") -> TileAttrs:
        """The record of a tile's stored attributes ``attrs``: one that a run of an earlier
        spicecim did not store reads as not stored (NaN, 0, '' or False by its type; the
        names it stored that this spicecim does not know are left out). ``where`` names the
        tile in the error of a value of the wrong type."""
        values = {f.name: attrs.get(f.name, _ABSENT[str(f.type)]) for f in fields(cls)}
        try:
            return cls(**values)  # type: ignore[arg-type]
        except SpecError as exc:
            raise ResultFileError(f"{where}: tile attribute {exc}") from None

    def require(self, where: str, *names: str) -> None:
        """Refuse (one line naming ``where``) a record whose figures ``names`` its run did not
        store (NaN)."""
        missing = [n for n in names if math.isnan(getattr(self, n))]
        if missing:
            raise ResultFileError(f"{where}: tile attributes {missing} are missing: expected "
                                  "a run written by this spicecim")


def _converts(value: object, kind: type) -> bool:
    """Whether ``value`` (a Python or numpy scalar) is a ``kind`` without losing anything."""
    try:
        converted = kind(value)
    except (TypeError, ValueError):
        return False
    return bool(converted == value) or (kind is float and math.isnan(converted))


TILE_ATTRS = tuple((f.name, str(f.metadata["units"])) for f in fields(TileAttrs))
"""Every tile attribute and its unit: :class:`TileAttrs`'s fields."""
TILE_ATTR_NAMES = tuple(name for name, _ in TILE_ATTRS)


# An ACAM search file ('spicecim acam simulate'): the root attributes, /config and the units
# of a run, and this group instead of tiles and layers.
ACAM_SEARCH = "/acam/search"
ACAM_SEARCH_FIELDS = (  # one row per search case
    Field("case", "str", "text", ""),
    Field("latency_s", "f8", "s", float("nan")),
    Field("energy_j", "f8", "J", float("nan")),
    Field("energy_divider_j", "f8", "J", float("nan")),
    Field("energy_inverter_j", "f8", "J", float("nan")),
    Field("energy_precharge_j", "f8", "J", float("nan")),
)
ACAM_SEARCH_ARRAYS = (  # per case and row (or cell): the raw figures behind the table
    Field("t_cross_s", "f8", "s", None),
    Field("v_ml_v", "f8", "V", None),
    Field("dl_v", "f8", "V", None),
    Field("g_lo_s", "f8", "S", None),
    Field("g_hi_s", "f8", "S", None),
)

# The other files spicecim writes in HDF5, told apart by these root attributes (not runs: no
# schema version): an evaluation report ('spicecim evaluate --out', spicecim.report.report)
# and a nodal solve ('spicecim solve').
ATTR_FORMAT = "format"
REPORT_FORMAT = "spicecim-evaluate-report-v1"
ATTR_SPEC = "spec"
ATTR_SPEC_HASH = "spec_hash"
SOLVE_FIELDS = (
    Field("column_current_a", "f8", "A", None),
    Field("output_v", "f8", "V", None),
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


def run_config(*, spec: dict, mapping: dict | None, simulation: dict, parameters: dict,
               readout: dict, data_digest: str) -> dict:
    """A run's ``/config``: the tile's specification, the weight mapping its conductances came
    from (None: given as conductances), how it was simulated, the caller's own parameters
    (seed, Monte Carlo, model provenance), the readout as sized and the data's digest."""
    return {CONFIG_SPEC: spec, CONFIG_MAPPING: mapping, CONFIG_SIMULATION: simulation,
            CONFIG_PARAMETERS: parameters, CONFIG_READOUT: readout, CONFIG_DATA: data_digest}
