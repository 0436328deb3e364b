"""``spicecim evaluate``: a model on simulated tiles: latency, energy, accuracy, baselines."""

from __future__ import annotations

import json
import math
import re
import shlex
import sys
from pathlib import Path

import click
import numpy as np

from spicecim.errors import SpecError
from spicecim.evaluate import accuracy as acc
from spicecim.evaluate import baseline as base
from spicecim.evaluate import schedule as sched
from spicecim.evaluate.mapping import TileGeometry, map_model
from spicecim.evaluate.presets import (
    NERF_PRESETS,
    check_preset,
    init_mlp,
    load_weights,
    sample_inputs,
)
from spicecim.evaluate.report import Report, render, to_dict, write_h5
from spicecim.evaluate.variation import DEFAULT_VARIATION_MODEL, VARIATION_MODELS

_SIZE = re.compile(r"^(\d+)x(\d+)$")
_MAX_SWEEP_VALUES = 200


class ModelName(click.ParamType):
    """A preset name: one of the NeRF presets or ``mlp:IN-H1-...-OUT``."""

    name = "model"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        try:
            return check_preset(str(value))
        except SpecError:
            self.fail(f"{value!r} is not one of {', '.join(map(repr, NERF_PRESETS))} or "
                      "mlp:IN-H1-...-OUT (e.g. mlp:784-256-10)", param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(NERF_PRESETS) + "|mlp:IN-H1-...-OUT]"


MODEL = ModelName()


def parse_size(text: str, what: str) -> tuple[int, int]:
    """'800x600' -> (800, 600); both positive."""
    match = _SIZE.match(text.strip())
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise SpecError(f"{what}={text!r} is invalid: expected AxB with positive integers, "
                        "e.g. 800x800")
    return int(match[1]), int(match[2])


def parse_sweep(text: str) -> tuple[str, list[float]]:
    """'adc_bits=2:10' (inclusive, step 1), 'variation=0:2:0.5' or 'adc_bits=4,6,8'."""
    name, sep, values = text.partition("=")
    name = name.strip()
    accepted = (f"NAME=START:STOP[:STEP] or NAME=V1,V2,... with NAME one of "
                f"{', '.join(acc.SWEEP_AXES)}")
    if not sep or name not in acc.SWEEP_AXES:
        raise SpecError(f"sweep={text!r} is invalid: expected {accepted}")
    try:
        if ":" in values:
            parts = [float(p) for p in values.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError(values)
            start, stop, step = (*parts, 1.0) if len(parts) == 2 else parts
            if step <= 0 or stop < start or (stop - start) / step >= _MAX_SWEEP_VALUES:
                raise ValueError(values)
            count = math.floor((stop - start) / step + 1e-9) + 1
            numbers = [start + i * step for i in range(count)]
        else:
            numbers = [float(p) for p in values.split(",")]
    except ValueError:
        raise SpecError(f"sweep={text!r} is invalid: expected {accepted} "
                        "(START <= STOP, STEP > 0)") from None
    if not all(math.isfinite(v) for v in numbers):
        raise SpecError(f"sweep={text!r} is invalid: expected finite numbers")
    return name, numbers


@click.command()
@click.option("--model", type=MODEL, default="nerf-4x256", show_default=True,
              help="A preset; with --weights FILE.onnx the file's graph instead.")
@click.option("--tables", "tables_paths", multiple=True, required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Run file(s) from 'spicecim simulate'; the first sets the tile configuration.")
@click.option("--weights", "weights_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Weights: spicecim .npz, .npz of state-dict keys, PyTorch .pt/.pth, or an "
                   "ONNX MLP (.onnx: graph and weights) [default: seeded initialisation].")
@click.option("--schedule", type=click.Choice(tuple(sched.SCHEDULE_NAMES)),
              help="Show one schedule [default: all three].")
@click.option("--tile", help="Tile ROWSxCOLS [default: the tables' tile].")
@click.option("--rows-per-read", type=click.IntRange(min=1),
              help="Rows activated per read (row parallelism) [default: all].")
@click.option("--slices", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Devices per weight of different significance (bit slicing).")
@click.option("--copies", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Rows per input (devices per weight summed in the column).")
@click.option("--ir-aware/--no-ir-aware", default=False, show_default=True,
              help="IR-drop-aware programming (conductances pre-distorted on the fast solver).")
@click.option("--variation-model", type=click.Choice(VARIATION_MODELS),
              default=DEFAULT_VARIATION_MODEL, show_default=True,
              help="Programming-error model (wan2022: NeuRRAM via aihwkit; milo2021).")
@click.option("--adc-share", type=click.IntRange(min=1),
              help="Columns per ADC in the ADC-shared schedule [default: the tables'].")
@click.option("--simulate-missing", is_flag=True,
              help="Simulate a tile configuration the tables lack (else: reported missing).")
@click.option("--simulate-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where on-demand runs are kept and found [default: the first table's folder].")
@click.option("--workers", type=click.IntRange(min=1),
              help="Worker processes for --simulate-missing.")
@click.option("--samples-per-ray", type=click.IntRange(min=1), default=192, show_default=True,
              help="Samples per ray (64 coarse + 128 fine).")
@click.option("--resolution", default="800x800", show_default=True, help="Frame WIDTHxHEIGHT.")
@click.option("--replicas", type=click.IntRange(min=1), default=1, show_default=True,
              help="Copies of the model's arrays working on different samples.")
@click.option("--adder-latency", type=click.FloatRange(min=0), default=sched.DEFAULT_ADD_LATENCY_S,
              show_default=True, help="Digital adder time per level (s; assumption).")
@click.option("--adder-energy", type=click.FloatRange(min=0), default=sched.DEFAULT_ADD_ENERGY_J,
              show_default=True, help="Energy per digital addition (J; Horowitz ISSCC 2014).")
@click.option("--accuracy/--no-accuracy", default=True, show_default=True)
@click.option("--points", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Sample points of the accuracy evaluation.")
@click.option("--calibration-points", type=click.IntRange(min=1), default=256, show_default=True,
              help="Points that set each layer's DAC input scale, ADC range and column "
                   "calibration.")
@click.option("--adc-bits", type=click.IntRange(1, 16), help="[default: the tables' ADC]")
@click.option("--readout", type=click.Choice(("adc", "acam")), default="adc", show_default=True,
              help="Column converter: the tables' ADC, or an ACAM (6T2M) converter of "
                   "--adc-bits bits simulated in ngspice (its sense time, energy per conversion "
                   "and code edges replace the ADC's).")
@click.option("--dac-bits", type=click.IntRange(1, 16), help="[default: the tables' DAC]")
@click.option("--weight-bits", type=click.IntRange(1, 16),
              help="Conductance levels 2^bits [default: the tables'].")
@click.option("--variation", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Scale of the programming variation sigma_G of --variation-model.")
@click.option("--read-noise", type=click.FloatRange(min=0), default=acc.DEFAULT_READ_NOISE,
              show_default=True, help="Relative read-noise sigma per device per read.")
@click.option("--ir-drop/--no-ir-drop", default=True, show_default=True,
              help="Wire, driver and sense resistances in the accuracy pass.")
@click.option("--adc-range", type=click.Choice(acc.ADC_RANGES), default="calibrated",
              show_default=True,
              help="ADC full scale: per tile from the calibration batch's largest column "
                   "current, or the worst case rows x G_max x V (the latency tables' LSB).")
@click.option("--calibrate/--no-calibrate", default=True, show_default=True,
              help="Per-column least-squares gain and offset on the calibration batch, "
                   "applied after the ADC (corrects IR drop's systematic loss).")
@click.option("--sweep", "sweeps", multiple=True,
              help="Accuracy sweep, e.g. adc_bits=2:10 or variation=0:2:0.5 (repeat for a grid).")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Time the digital model on this machine.")
@click.option("--baseline-batch", type=click.IntRange(min=2), default=1 << 16, show_default=True,
              help="The large batch of the CPU baseline (batch 1 is always timed).")
@click.option("--gpu-baseline", type=click.Path(dir_okay=False, path_type=Path),
              help="GPU figures from benchmarks/gpu_baseline.py (JSON).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of weights, points, variation and noise.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the report to this HDF5 file.")
def evaluate(model: str, tables_paths: tuple[Path, ...], weights_path: Path | None,
             schedule: str | None, tile: str | None, rows_per_read: int | None, slices: int,
             copies: int, ir_aware: bool, variation_model: str, adc_share: int | None,
             simulate_missing: bool, simulate_dir: Path | None, workers: int | None,
             samples_per_ray: int, resolution: str, replicas: int, adder_latency: float,
             adder_energy: float, accuracy: bool, points: int, calibration_points: int,
             adc_bits: int | None, readout: str, dac_bits: int | None, weight_bits: int | None,
             variation: float, read_noise: float, ir_drop: bool, adc_range: str,
             calibrate: bool, sweeps: tuple[str, ...],
             baseline: bool, baseline_batch: int, gpu_baseline: Path | None, seed: int,
             as_json: bool, out: Path | None) -> None:
    """Map a model onto simulated tiles; print latency, energy, accuracy and baselines."""
    if out:  # an unwritable --out fails now, not after the evaluation
        out.parent.mkdir(parents=True, exist_ok=True)
    width, height = parse_size(resolution, "resolution")
    axes = dict(parse_sweep(s) for s in sweeps)
    geometry_size = parse_size(tile, "tile") if tile else None
    command_line = shlex.join(["spicecim", *sys.argv[1:]])
    if weights_path is not None and weights_path.suffix == ".onnx":
        from spicecim.evaluate.onnx_import import load_onnx

        mlp, model = load_onnx(weights_path), f"onnx:{weights_path.name}"
    elif weights_path is not None:
        mlp = load_weights(model, weights_path)
    else:
        mlp = init_mlp(model, np.random.default_rng(seed))
    gpu = base.load_gpu_baseline(gpu_baseline, model) if gpu_baseline else []

    tables = [t for path in tables_paths for t in sched.read_tables(path)]
    if not tables:
        raise SpecError(f"{tables_paths[0]} holds no tile table: expected a run written by "
                        "'spicecim simulate'")
    spec, weights = tables[0].spec, tables[0].weights
    if geometry_size:
        spec = sched.with_geometry(spec, *geometry_size)
    geometry = TileGeometry(spec.rows, spec.cols, weights.scheme, slices, copies, rows_per_read)
    k = adc_share or tables[0].adc_share
    folder = simulate_dir or tables_paths[0].parent
    on_demand = sched.on_demand_path(folder, spec, weights)
    if on_demand.exists():
        tables += sched.read_tables(on_demand)
    table = sched.find_table(tables, spec, weights)
    missing = ""
    if table is None and simulate_missing:
        table = sched.simulate_table(spec, weights, folder, seed=seed, adc_share=k,
                                     workers=workers, command_line=command_line)
    elif table is None:
        missing = (f"no table of {spec.rows}x{spec.cols} tiles with the tables' device, wire, "
                   f"driver, readout and weight settings in {', '.join(map(str, tables_paths))}: "
                   f"rerun with --simulate-missing (writes {on_demand})")

    readout_text, acam_edges = "ADC (tables)", None
    if readout == "acam":
        if "adc_bits" in axes:
            raise SpecError("--sweep adc_bits=... is invalid with --readout acam: expected one "
                            "converter per run (set its bits with --adc-bits)")
        from spicecim.acam.converter import MAX_BITS, converter_figures

        bits = adc_bits or spec.readout.adc.bits
        if bits > MAX_BITS:
            raise SpecError(f"adc_bits={bits} is invalid with --readout acam: expected at most "
                            f"{MAX_BITS} bits (set --adc-bits)")
        fig = converter_figures(bits)
        acam_edges = tuple(float(e) for e in
                           (fig.edges_v - fig.v_min_v) / (fig.v_max_v - fig.v_min_v))
        readout_text = (f"ACAM 6T2M, {bits} bits, {fig.latency_s * 1e12:.4g} ps, "
                        f"{fig.energy_j * 1e12:.4g} pJ per conversion from ngspice")
        if table is not None:
            table = sched.with_converter(table, bits, fig.latency_s, fig.energy_j,
                                         "ACAM 6T2M (ngspice)")
    mapping = map_model(mlp, geometry)
    workload = sched.Workload(samples_per_ray, width, height, replicas)
    cost = sched.model_cost(mapping, table, workload, k,
                            sched.DigitalAdder(adder_latency, adder_energy), readout_text)

    result, sweep = None, []
    if accuracy or axes:
        settings = acc.Nonideality.of(
            spec, weights, variation=variation, read_noise=read_noise, ir_drop=ir_drop,
            seed=seed, adc_range=adc_range, calibrate=calibrate, acam_edges=acam_edges,
            ir_aware=ir_aware, variation_model=variation_model,
            **{k: v for k, v in (("adc_bits", adc_bits), ("dac_bits", dac_bits),
                                 ("weight_bits", weight_bits)) if v is not None})
        sample = sample_inputs(mlp, points, np.random.default_rng([seed, 2]))
        calibration = sample_inputs(mlp, calibration_points, np.random.default_rng([seed, 3]))
        if accuracy:
            result = acc.evaluate_accuracy(mlp, mapping, spec, weights, settings, sample,
                                           calibration)
        if axes:
            sweep = acc.sweep_accuracy(mlp, mapping, spec, weights, settings, axes, sample,
                                       calibration)

    baselines = (base.cpu_baselines(mlp, [1, baseline_batch], seed) if baseline else []) + gpu

    notes = []
    if weights_path is None:
        notes.append(f"weights: seeded initialisation (seed {seed}); accuracy figures describe "
                     "an untrained network")
    if table is not None and table.failed:
        notes.append(f"{table.source}: columns {list(table.failed)} did not end ok; figures "
                     "of layers using them are missing")
    if table is not None and readout == "acam":
        notes.append(f"latency and energy: the tables' column figures with the ACAM "
                     f"converter's sense time and energy per conversion ({table.adc.bits} bit) "
                     "in place of the ADC's; accuracy quantises with its code edges")
    elif table is not None:
        notes.append(f"latency and energy: the tables' ADC ({table.adc.bits} bit, "
                     f"{sched.SCHEDULE_LABELS['fully_parallel']} = max column latency + "
                     "t_conv); --adc-bits and --sweep change the accuracy only")
    if baselines:
        notes.append("digital energy is not measured: the comparison is time only")
    report = Report(
        model=model, weights=str(weights_path) if weights_path else f"seeded init, seed {seed}",
        cost=cost, table=None if table is None else table.source, missing=missing,
        schedules=(sched.SCHEDULE_NAMES[schedule],) if schedule else tuple(
            sched.SCHEDULE_NAMES.values()),
        accuracy=result, sweep=tuple(sweep), sweep_axes=tuple(axes), baselines=tuple(baselines),
        notes=tuple(notes))
    click.echo(json.dumps(to_dict(report)) if as_json else render(report))
    if out:
        write_h5(report, out, command_line)
