"""``spicecim solve``: DC column currents of one tile from the fast nodal solver, to HDF5."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
import h5py
import numpy as np

from spicecim.cli.options import build_tile, check_output, pop_tile_options, tile_options
from spicecim.cli.paths import check_input_files, check_not_input
from spicecim.errors import SpiceCimError
from spicecim.netlist.spec import sized_readout
from spicecim.solve import solve_batch
from spicecim.store import files, npy, schema


class BadInput(click.ClickException):
    """A refused input: one line on stderr and click's usage-error exit code, also when the
    command runs on its own (a ``click.UsageError`` would add the usage text)."""

    exit_code = 2


@click.command("solve")
@tile_options
@click.option("--conductances", "conductances_file",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Programmed conductances .npy, (rows, cols) in S, used instead of "
                   "--tile-weights.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="HDF5 file for the column currents and output voltages.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def solve_cmd(conductances_file: Path | None, out_file: Path, overwrite: bool, as_json: bool,
              **kwargs: Any) -> None:
    """Column currents and ADC voltages with wire and driver IR drop, without SPICE.

    --tile-inputs may hold one vector (rows,) or a batch (batch, rows), values in [0, 1].
    """
    try:
        inputs = [("--conductances", conductances_file),
                  ("--tile-weights", kwargs["weights_file"]),
                  ("--tile-inputs", kwargs["inputs_file"])]
        check_not_input([out_file], inputs)
        check_input_files(inputs)  # a FIFO, a device or a folder refused without reading it
        check_output(out_file, overwrite)
        summary = _run(pop_tile_options(kwargs), conductances_file, out_file)
    except SpiceCimError as exc:
        raise BadInput(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"solved {summary['batch']} input(s) on a {summary['rows']}x{summary['cols']} "
                   f"{summary['cell']} tile in {summary['seconds']:.3f} s -> {out_file}")


def _run(opts: dict[str, Any], conductances_file: Path | None, out_file: Path) -> dict[str, Any]:
    inputs_file, opts["inputs_file"] = opts["inputs_file"], None
    tile = build_tile(opts)  # the spec, mapped weights and seeded random inputs
    # solve_batch checks shapes, values and (per input, for nonlinear cells) the device range.
    spec = tile.spec
    g = tile.g_s if conductances_file is None else npy.load_npy(conductances_file, "conductances")
    x = tile.x_in if inputs_file is None else npy.load_npy(inputs_file, "inputs")
    start = time.perf_counter()
    current = solve_batch(spec, g, x)
    elapsed = time.perf_counter() - start
    gain = sized_readout(spec, g).gain_ohm
    _write(out_file, current, current * gain, spec.to_dict(), spec.digest())
    return {
        "rows": spec.rows,
        "cols": spec.cols,
        "cell": spec.cell.kind + ("-1t1r" if spec.cell.access is not None else ""),
        "batch": 1 if x.ndim == 1 else len(x),
        "out": str(out_file),
        "spec_hash": spec.digest(),
        "max_column_current_a": float(np.max(current, initial=0.0)),
        "seconds": round(elapsed, 6),
    }


def _write(path: Path, current_a: np.ndarray, output_v: np.ndarray, spec: dict, digest: str
           ) -> None:
    """Write atomically (:mod:`spicecim.store.files`): never a half-written file."""
    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            f.attrs[schema.ATTR_SPEC] = json.dumps(spec, sort_keys=True)
            f.attrs[schema.ATTR_SPEC_HASH] = digest
            for field, data in zip(schema.SOLVE_FIELDS, (current_a, output_v), strict=True):
                f.create_dataset(field.name, data=data).attrs[schema.ATTR_UNITS] = field.units

    files.atomic_write(path, write)
