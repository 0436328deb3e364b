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

from dataclasses import dataclass

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


COLUMN_FIELDS = (
    Field("column", "i8", "1", -1),
    Field("status", "str", "text", PENDING),
    Field("retries", "i8", "1", 0),
    Field("extensions", "i8", "1", 0),
    Field("refined", "i8", "1", 0),
    Field("latency_s", "f8", "s", float("nan")),
    Field("settle_s", "f8", "s", float("nan")),
    Field("threshold_s", "f8", "s", float("nan")),
    Field("v_final_v", "f8", "V", float("nan")),
    Field("snr_db", "f8", "dB", float("nan")),
    Field("window_s", "f8", "s", float("nan")),
    *(Field(energy_field(part), "f8", "J", float("nan")) for part in ENERGY_PARTS),
    *(Field(power_field(g), "f8", "W", float("nan")) for g in SOURCE_GROUPS),
    Field("tau_row_s", "f8", "s", float("nan")),
    Field("tau_column_s", "f8", "s", float("nan")),
    Field("tau_frontend_s", "f8", "s", float("nan")),
    Field("tau_sample_hold_s", "f8", "s", float("nan")),
    Field("stop_s", "f8", "s", float("nan")),
    Field("max_step_s", "f8", "s", float("nan")),
    Field("cpu_s", "f8", "s", float("nan")),
    Field("netlist_sha", "str", "text", ""),
    Field("ngspice_options", "str", "text", ""),
    Field("message", "str", "text", ""),
)

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

# Tile attributes: (name, unit) - the measurement definitions and readout sizing a table was
# made with.
TILE_ATTRS = (
    ("spec_digest", "text"),
    ("data_digest", "text"),
    ("drive", "text"),
    ("threshold_fraction", "1"),
    ("front_end", "text"),
    ("i_fs_a", "A"),
    ("adc_range_a", "A"),  # the column current the ADC's range is sized for
    ("gain_ohm", "ohm"),
    ("c_s_f", "F"),
    ("adc_full_scale_v", "V"),
    ("adc_lsb_v", "V"),
    ("adc_bits", "1"),
    ("adc_t_conv_s", "s"),
    ("adc_e_conv_j", "J"),
    ("noise_v", "V"),
    ("noise_ok", "1"),
    ("noise_warning", "text"),
    ("dac_e_conv_j", "J"),
    ("sh_e_clock_j", "J"),
    ("noise_ktc_v", "V"),  # the sampling capacitor's own kT/C (noise_v: the whole front end's)
    ("amp_i_q_a", "A"),  # the sized amplifier (spicecim.devices.readout.AMP_FIGURES)
    ("amp_i_out_a", "A"),
    ("amp_gbw_hz", "Hz"),
    ("amp_a0", "1"),
    ("amp_gain_error_lsb", "1"),
    ("amp_r_out_ohm", "ohm"),
    ("amp_slew_v_per_s", "V/s"),
    ("amp_phase_margin_deg", "deg"),
    ("snr_db", "dB"),
    ("enob", "1"),
    ("adc_area_m2", "m^2"),  # one ADC's (0: unknown)
    ("array_area_m2", "m^2"),  # the tile's cells
    ("ops", "1"),  # operations per activation: 2 per multiply-accumulate of a signed output
    ("precision", "text"),
    ("row_buffer_i_q_a", "A"),  # the periphery (spicecim.measure.PERIPHERY_ATTRS)
    ("row_bias_w", "W"),
    ("wordline_e_j", "J"),
    ("adc_ref_e_conv_j", "J"),
)
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
