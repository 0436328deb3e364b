"""Every user-facing option of ``generate``, ``simulate``, ``tables``, ``solve``, ``evaluate``,
``nerf``, ``plot`` and ``acam`` given a wrong value: one line on stderr, exit code 2, nothing
written beside the output and no existing file changed (an output that exists is refused
without ``--overwrite``). ``test_bad_values.py`` draws the values of each option's domain with
hypothesis; this module holds the named cases.

Each case names the option, the bad value, the arguments (``{d}`` is the case's folder, where
:func:`_inputs` has put the bad input files, and ``{run}`` a finished 4x4 run there) and a
fragment the message must hold. Cases whose environment matters (ngspice absent, a Dask
connection time-out) run the command in a subprocess with that environment. Run as a script,
this module prints every case and what spicecim said as a Markdown table.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from spicecim.cli import cli

ROWS = 4
TILE = ("--rows", str(ROWS), "--cols", str(ROWS))


@dataclass(frozen=True, slots=True)
class Case:
    """One wrong value of one option, and the fragment of the message it must give."""

    command: str
    option: str
    value: str
    args: tuple[str, ...]
    expect: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.command} {self.option} {self.value}"


# The bad values every command that builds a tile (generate, simulate, solve) must refuse.
TILE_CASES = (
    ("--rows", "0", ["--rows", "0"], "0 is not in the range x>=1"),
    ("--rows", "-3", ["--rows", "-3"], "-3 is not in the range x>=1"),
    ("--rows", "abc", ["--rows", "abc"], "'abc' is not a valid integer"),
    ("--cols", "1", ["--cols", "1"], "1 is not in the range x>=2"),
    ("--cols", "5 (odd, differential)", ["--cols", "5"], "cols=5 is invalid"),
    ("--cell", "foo", ["--cell", "foo"], "'foo' is not one of"),
    ("--memristor", "no_such_model", ["--memristor", "no_such_model"], "no_such_model"),
    ("--r-wire", "-1", ["--r-wire", "-1"], "-1.0 is not in the range 0.0<=x<=1000.0"),
    ("--r-wire", "1k", ["--r-wire", "1k"], "'1k' is not a valid float"),
    ("--c-wire", "-1e-15", ["--c-wire", "-1e-15"], "is not in the range 0.0<=x<=1e-12"),
    ("--r-driver", "-5", ["--r-driver", "-5"], "-5.0 is not in the range 0.0<=x<=1000000.0"),
    ("--v-read", "0", ["--v-read", "0"], "0.0 is not in the range 0.001<=x<=10.0"),
    ("--v-read", "5 (above the device's read range)", ["--v-read", "5"], "v_read_v=5.0"),
    ("--rise", "0", ["--rise", "0"], "0.0 is not in the range 1e-12<=x<=1e-06"),
    ("--dac-bits", "0", ["--dac-bits", "0"], "0 is not in the range 1<=x<=16"),
    ("--dac-bits", "17", ["--dac-bits", "17"], "17 is not in the range 1<=x<=16"),
    ("--encoding", "binary", ["--encoding", "binary"], "'binary' is not"),
    ("--front-end", "magic", ["--front-end", "magic"], "'magic' is not one of"),
    ("--r-sense", "0", ["--r-sense", "0"], "0.0 is not in the range 0.001<=x<=1000000000.0"),
    ("--c-sample", "-1", ["--c-sample", "-1"], "-1.0 is not in the range 1e-18<=x<=1e-09"),
    ("--r-f", "0", ["--r-f", "0"], "0.0 is not in the range 1.0<=x<=1000000000.0"),
    ("--gbw", "0", ["--gbw", "0"], "0.0 is not in the range 1000.0<=x<=10000000000000.0"),
    ("--adc-bits", "0", ["--adc-bits", "0"], "0 is not in the range 1<=x<=16"),
    ("--tile-weights", "missing file", ["--tile-weights", "{d}/missing.npy"], "does not exist"),
    ("--tile-weights", "wrong shape (3, 3)", ["--tile-weights", "{d}/shape33.npy"],
     "has shape (3, 3): expected (4, 2)"),
    ("--tile-weights", "corrupt .npy", ["--tile-weights", "{d}/corrupt.npy"],
     "not a readable .npy"),
    ("--tile-weights", "strings", ["--tile-weights", "{d}/strings42.npy"], "non-numeric"),
    ("--tile-weights", "NaN", ["--tile-weights", "{d}/nan42.npy"], "non-finite"),
    ("--weight-scheme", "unary", ["--weight-scheme", "unary"], "'unary' is not one of"),
    ("--weight-bits", "0", ["--weight-bits", "0"], "0 is not in the range 1<=x<=16"),
    ("--g-min", "0", ["--g-min", "0"], "0.0 is not in the range x>0"),
    ("--g-min", "2e-4 > --g-max 1e-4", ["--g-min", "2e-4", "--g-max", "1e-4"],
     "expected > g_min_s = 0.0002"),
    ("--g-max", "1 (beyond the device)", ["--g-max", "1"], "outside the"),
    ("--tile-inputs", "missing file", ["--tile-inputs", "{d}/missing.npy"], "does not exist"),
    ("--tile-inputs", "wrong shape (3,)", ["--tile-inputs", "{d}/shape3.npy"], "(3,)"),
    ("--tile-inputs", "corrupt .npy", ["--tile-inputs", "{d}/corrupt.npy"], "not a readable .npy"),
    ("--tile-inputs", "2.0 (above full scale)", ["--tile-inputs", "{d}/two4.npy"], "inputs"),
    ("--tile-inputs", "NaN", ["--tile-inputs", "{d}/nan4.npy"], "non-finite"),
    ("--seed", "-1", ["--seed", "-1"], "-1 is not in the range x>=0"),
    ("--seed", "x", ["--seed", "x"], "'x' is not a valid integer"),
    ("--r-wire", "inf", ["--r-wire", "inf"], "'--r-wire': inf is not a finite number"),
    ("--r-wire", "nan", ["--r-wire", "nan"], "'--r-wire': nan is not a finite number"),
    ("--r-wire", "-inf", ["--r-wire", "-inf"], "'--r-wire': -inf is not a finite number"),
    ("--c-wire", "inf", ["--c-wire", "inf"], "'--c-wire': inf is not a finite number"),
    ("--r-sense", "inf", ["--front-end", "passive", "--r-sense", "inf"],
     "'--r-sense': inf is not a finite number"),
    ("--v-read", "nan", ["--v-read", "nan"], "'--v-read': nan is not a finite number"),
    ("--g-max", "inf", ["--g-max", "inf"], "'--g-max': inf is not a finite number"),
    ("--rows", "1000000000 (beyond memory)", ["--rows", "1000000000"], "needs about"),
    ("--tile-weights", "empty .npy", ["--tile-weights", "{d}/empty.npy"], "is empty"),
    ("--tile-weights", "a zip named .npy", ["--tile-weights", "{d}/zip.npy"],
     "is a .npz archive, not one array"),
    ("--tile-weights", "complex", ["--tile-weights", "{d}/complex42.npy"],
     "holds complex numbers: expected real numbers"),
    ("--tile-weights", "pickled objects", ["--tile-weights", "{d}/object42.npy"],
     "not a readable .npy or .npz file"),
    ("--tile-inputs", "empty .npy", ["--tile-inputs", "{d}/empty.npy"], "is empty"),
    ("--tile-inputs", "complex", ["--tile-inputs", "{d}/complex4.npy"], "complex numbers"),
    # physically absurd: refused with the field's accepted range (spicecim.units.Param)
    ("--c-sample", "1e-300", ["--c-sample", "1e-300"], "1e-300 is not in the range 1e-18<="),
    ("--v-read", "1e-12", ["--v-read", "1e-12"], "1e-12 is not in the range 0.001<="),
    ("--r-driver", "1e300", ["--r-driver", "1e300"], "is not in the range 0.0<=x<=1000000.0"),
    ("--r-f", "1e300", ["--r-f", "1e300"], "is not in the range 1.0<=x<=1000000000.0"),
    ("--r-wire", "1e300", ["--r-wire", "1e300"], "is not in the range 0.0<=x<=1000.0"),
    ("--rise", "1e-3 (hours per column)", ["--rise", "1e-3"], "is not in the range 1e-12<="),
    ("--gbw", "1e-300", ["--gbw", "1e-300"], "is not in the range 1000.0<=x<=10000000000000.0"),
    ("--c-int", "1e300", ["--front-end", "integrator", "--c-int", "1e300"],
     "is not in the range 1e-16<=x<=1e-09"),
    ("--t-int", "1e-30", ["--front-end", "integrator", "--t-int", "1e-30"],
     "is not in the range 1e-12<=x<=0.001"),
)


def _tile_cases(command: str, out: list[str]) -> list[Case]:
    return [Case(command, option, value, (*TILE, *args, *out), expect)
            for option, value, args, expect in TILE_CASES]


GENERATE = [
    *_tile_cases("generate", ["--out", "{d}/net"]),
    Case("generate", "--stop", "0", (*TILE, "--stop", "0", "--out", "{d}/net"), "stop_s=0.0"),
    Case("generate", "--stop", "-1e-9", (*TILE, "--stop", "-1e-9", "--out", "{d}/net"),
         "stop_s=-1e-09"),
    Case("generate", "--stop", "abc", (*TILE, "--stop", "abc", "--out", "{d}/net"),
         "'abc' is not a valid float"),
    Case("generate", "--step", "0", (*TILE, "--step", "0", "--out", "{d}/net"), "step_s=0.0"),
    Case("generate", "--step", "1e-6 (> --stop)", (*TILE, "--step", "1e-6", "--out", "{d}/net"),
         "step_s=1e-06"),
    Case("generate", "--out", "an existing file", (*TILE, "--out", "{d}/afile"),
         "is a file"),
    Case("generate", "--out", "under a file", (*TILE, "--out", "{d}/afile/net"), "afile"),
    Case("generate", "--out", "another tile's netlists", (*TILE, "--out", "{d}/othernet"),
         "array.cir' exists: expected a new path, or --overwrite"),
    Case("generate", "--stop", "inf", (*TILE, "--stop", "inf", "--out", "{d}/net"),
         "'--stop': inf is not a finite number"),
    Case("generate", "--step", "nan", (*TILE, "--step", "nan", "--out", "{d}/net"),
         "'--step': nan is not a finite number"),
    Case("generate", "--rows", "100000 x --cols 100000 (beyond memory)",
         ("--rows", "100000", "--cols", "100000", "--out", "{d}/net"), "needs about"),
]

SIM_OUT = ["--out", "{d}/run.h5"]
SIMULATE = [
    *_tile_cases("simulate", SIM_OUT),
    Case("simulate", "--out", "missing", TILE, "Missing option '--out'"),
    Case("simulate", "--out", "a folder", (*TILE, "--out", "{d}"), "is a directory"),
    Case("simulate", "--out", "under a file", (*TILE, "--out", "{d}/afile/run.h5"), "afile"),
    Case("simulate", "--out", "corrupt HDF5", (*TILE, "--out", "{d}/corrupt.h5"),
         "is not a readable spicecim run"),
    Case("simulate", "--out", "foreign HDF5", (*TILE, "--out", "{d}/foreign.h5"),
         "is not a readable spicecim run"),
    Case("simulate", "--out", "a run of other parameters", (*TILE, "--out", "{run}",
                                                            "--drive", "isolated"),
         "holds a run with other parameters"),
    Case("simulate", "--encoding", "pulse_width", (*TILE, "--encoding", "pulse_width", *SIM_OUT),
         "'pulse_width' is not 'amplitude'"),
    Case("simulate", "--workers", "0", (*TILE, "--workers", "0", *SIM_OUT),
         "0 is not in the range x>=1"),
    Case("simulate", "--workers", "two", (*TILE, "--workers", "two", *SIM_OUT),
         "'two' is not a valid integer"),
    Case("simulate", "--drive", "magic", (*TILE, "--drive", "magic", *SIM_OUT),
         "'magic' is not one of"),
    Case("simulate", "--adc-share", "0", (*TILE, "--adc-share", "0", *SIM_OUT),
         "0 is not in the range x>=1"),
    Case("simulate", "--scheduler", "localhost:8786 (no scheme)",
         (*TILE, "--scheduler", "localhost:8786", *SIM_OUT), "expected tcp://HOST:PORT"),
    Case("simulate", "--scheduler", "tcp://host:99999", (*TILE, "--scheduler", "tcp://host:99999",
                                                        *SIM_OUT), "expected tcp://HOST:PORT"),
    Case("simulate", "--scheduler", "with --workers 2",
         (*TILE, "--scheduler", "tcp://127.0.0.1:8786", "--workers", "2", *SIM_OUT),
         "not several"),
    Case("simulate", "--scheduler", "tcp://127.0.0.1:9 (nothing listens)",
         (*TILE, "--scheduler", "tcp://127.0.0.1:9", *SIM_OUT),
         "cannot reach the Dask scheduler at tcp://127.0.0.1:9",
         env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}),
    Case("simulate", "SPICECIM_SCHEDULER", "not-an-address", (*TILE, *SIM_OUT),
         "scheduler='not-an-address' is invalid", env={"SPICECIM_SCHEDULER": "not-an-address"}),
    Case("simulate", "--dask-local", "0", (*TILE, "--dask-local", "0", *SIM_OUT),
         "0 is not in the range x>=1"),
    Case("simulate", "--dask-local", "2 with --workers 2",
         (*TILE, "--dask-local", "2", "--workers", "2", *SIM_OUT), "not several"),
    Case("simulate", "--mc", "0", (*TILE, "--mc", "0", *SIM_OUT), "0 is not in the range x>=1"),
    Case("simulate", "--mc", "-2", (*TILE, "--mc", "-2", *SIM_OUT), "-2 is not in the range x>=1"),
    Case("simulate", "--mc", "many", (*TILE, "--mc", "many", *SIM_OUT),
         "'many' is not a valid integer"),
    Case("simulate", "--mc", "2 on a run without --mc", (*TILE, "--mc", "2", "--out", "{run}"),
         "parameters.monte_carlo"),
    Case("simulate", "--scene", "without --model", (*TILE, "--scene", *SIM_OUT),
         "--scene is invalid without --model"),
    Case("simulate", "--tile-weights", "with --model",
         (*TILE, "--model", "mlp:4-2", "--tile-weights", "{d}/shape33.npy", *SIM_OUT),
         "--tile-weights is invalid with --model"),
    Case("simulate", "--mc", "with --model", (*TILE, "--model", "mlp:4-2", "--mc", "2", *SIM_OUT),
         "expected --variation"),
    Case("simulate", "--model", "resnet", (*TILE, "--model", "resnet", "--inputs-file",
                                           "{d}/shape3.npy", *SIM_OUT), "resnet"),
    Case("simulate", "--model", "without inputs", (*TILE, "--model", "mlp:4-2", *SIM_OUT),
         "expected --scene"),
    Case("simulate", "--inputs-file", "of the wrong width",
         (*TILE, "--model", "mlp:4-2", "--inputs-file", "{d}/shape33.npy", *SIM_OUT),
         "expected (samples >= 1, 4)"),
    Case("simulate", "--inputs-file", "NaN",
         (*TILE, "--model", "mlp:4-2", "--inputs-file", "{d}/nan44.npy", *SIM_OUT),
         "non-finite"),
    Case("simulate", "--inputs", "more than the file's rows",
         (*TILE, "--model", "mlp:4-2", "--inputs-file", "{d}/two4x4.npy", "--inputs", "9",
          *SIM_OUT), "1 to 4"),
    Case("simulate", "--scene", "with a non-NeRF model",
         (*TILE, "--model", "mlp:4-2", "--scene", *SIM_OUT), "invalid with --scene"),
    Case("simulate", "--out", "'' (empty)", (*TILE, "--out", ""), "is a directory"),
    Case("simulate", "--mc", "1000000000 (beyond memory)",
         (*TILE, "--mc", "1000000000", *SIM_OUT), "--mc 1000000000 of a 4x4 tile needs about"),
    Case("simulate", "--variation", "inf", (*TILE, "--model", "mlp:4-2", "--inputs-file",
                                            "{d}/two4x4.npy", "--variation", "inf", *SIM_OUT),
         "'--variation': inf is not a finite number"),
    Case("simulate", "--inputs-file", "empty .npz",
         (*TILE, "--model", "mlp:4-2", "--inputs-file", "{d}/empty.npz", *SIM_OUT), "is empty"),
    Case("simulate", "--inputs-file", "complex",
         (*TILE, "--model", "mlp:4-2", "--inputs-file", "{d}/complex44.npy", *SIM_OUT),
         "complex numbers"),
    Case("simulate", "--resolution", "100000x100000 (beyond memory)",
         (*TILE, "--model", "nerf", "--scene", "--resolution", "100000x100000", *SIM_OUT),
         "a 100000x100000 frame of 32 samples per ray needs about"),
    Case("simulate", "--cache-dir", "a file", (*TILE, "--model", "nerf", "--scene",
                                               "--cache-dir", "{d}/afile", *SIM_OUT),
         "is a file"),
    Case("simulate", "NGSPICE_LIBRARY_PATH", "a folder (ngspice absent)", (*TILE, *SIM_OUT),
         "is not a file: expected the path of libngspice.so",
         env={"NGSPICE_LIBRARY_PATH": "{d}"}),
]

TABLES = [
    Case("tables", "PATH", "missing file", ("{d}/missing.h5",), "does not exist"),
    Case("tables", "PATH", "corrupt HDF5", ("{d}/corrupt.h5",),
         "is not a spicecim file: not HDF5"),
    Case("tables", "PATH", "foreign HDF5", ("{d}/foreign.h5",),
         "is not a spicecim file: an HDF5 file without spicecim's attributes"),
    Case("tables", "PATH", "a folder", ("{d}",), "is a directory"),
    Case("tables", "PATH", "none", (), "Missing argument 'PATH'"),
    Case("tables", "PATH", "only a schema attribute", ("{d}/schema_only.h5",),
         "is not a spicecim file: it has a 'schema_version' attribute but no run"),
    Case("tables", "PATH", "a dataset without units", ("{d}/nounits.h5",),
         "dataset /tiles/tile0/columns/latency_s lacks its 'units' attribute"),
    Case("tables", "PATH", "a .npy", ("{d}/shape3.npy",), "is not a spicecim file: not HDF5"),
    Case("tables", "PATH", "a FIFO (never opened)", ("{d}/fifo",), "is a pipe (FIFO)"),
    Case("tables", "PATH", "a run with flipped bits", ("{d}/flipped.h5",),
         "flipped.h5 is damaged ("),
    Case("tables", "PATH", "a device", ("/dev/null",), "is a device, not a regular file"),
]

SOLVE_OUT = ["--out", "{d}/solve.h5"]
SOLVE = [
    *_tile_cases("solve", SOLVE_OUT),
    Case("solve", "--out", "missing", TILE, "Missing option '--out'"),
    Case("solve", "--out", "a folder", (*TILE, "--out", "{d}"), "is a directory"),
    Case("solve", "--out", "under a file", (*TILE, "--out", "{d}/afile/solve.h5"), "afile"),
    Case("solve", "--conductances", "missing file", (*TILE, "--conductances", "{d}/missing.npy",
                                                     *SOLVE_OUT), "does not exist"),
    Case("solve", "--conductances", "wrong shape (3, 3)",
         (*TILE, "--conductances", "{d}/shape33.npy", *SOLVE_OUT), "shape"),
    Case("solve", "--conductances", "corrupt .npy",
         (*TILE, "--conductances", "{d}/corrupt.npy", *SOLVE_OUT), "not a readable .npy"),
    Case("solve", "--conductances", "strings",
         (*TILE, "--conductances", "{d}/strings44.npy", *SOLVE_OUT), "expected real numbers"),
    Case("solve", "--conductances", "negative",
         (*TILE, "--conductances", "{d}/negative44.npy", *SOLVE_OUT), "conductances"),
    Case("solve", "--tile-inputs", "batch of wrong width (2, 3)",
         (*TILE, "--tile-inputs", "{d}/shape23.npy", *SOLVE_OUT), "inputs.shape=(2, 3)"),
    Case("solve", "--out", "an existing file", (*TILE, "--out", "{d}/afile"),
         "exists: expected a new path, or --overwrite"),
    Case("solve", "--conductances", "empty .npy",
         (*TILE, "--conductances", "{d}/empty.npy", *SOLVE_OUT), "is empty"),
    Case("solve", "--conductances", "complex",
         (*TILE, "--conductances", "{d}/complex44.npy", *SOLVE_OUT), "complex numbers"),
    Case("solve", "--conductances", "a zip named .npy",
         (*TILE, "--conductances", "{d}/zip.npy", *SOLVE_OUT), "is a .npz archive"),
]

EVAL_BASE = ("{run}", "--no-accuracy", "--no-baseline")
EVAL_DATA = ("{run}", "--model", "mlp:8-3", "--no-baseline", "--data")
EVALUATE = [
    Case("evaluate", "RUN", "missing", (), "Missing argument 'RUN...'"),
    Case("evaluate", "RUN", "missing file", ("{d}/missing.h5",), "does not exist"),
    Case("evaluate", "RUN", "corrupt HDF5", ("{d}/corrupt.h5",), "is not a readable spicecim run"),
    Case("evaluate", "RUN", "foreign HDF5", ("{d}/foreign.h5",), "is not a readable spicecim run"),
    Case("evaluate", "--model", "resnet", (*EVAL_BASE, "--model", "resnet"),
         "'resnet' is not one of"),
    Case("evaluate", "--weights", "missing file", (*EVAL_BASE, "--weights", "{d}/missing.npz"),
         "does not exist"),
    Case("evaluate", "--weights", "corrupt .npz", (*EVAL_BASE, "--weights", "{d}/corrupt.npz"),
         "not a readable .npy or .npz file"),
    Case("evaluate", "--weights", "an .npz of other keys", (*EVAL_BASE, "--weights",
                                                            "{d}/other.npz"),
         "state dict has layers"),
    Case("evaluate", "--schedule", "fast", (*EVAL_BASE, "--schedule", "fast"),
         "'fast' is not one of"),
    Case("evaluate", "--tile", "0x4", (*EVAL_BASE, "--tile", "0x4"), "tile='0x4' is invalid"),
    Case("evaluate", "--tile", "big", (*EVAL_BASE, "--tile", "big"), "tile='big' is invalid"),
    Case("evaluate", "--adc-share", "0", (*EVAL_BASE, "--adc-share", "0"),
         "0 is not in the range x>=1"),
    Case("evaluate", "--simulate-dir", "a file", (*EVAL_BASE, "--simulate-dir", "{d}/afile"),
         "is a file"),
    Case("evaluate", "--workers", "0", (*EVAL_BASE, "--workers", "0"), "0 is not in the range"),
    Case("evaluate", "--samples-per-ray", "0", (*EVAL_BASE, "--samples-per-ray", "0"),
         "0 is not in the range 1<=x<=4096"),
    Case("evaluate", "--resolution", "800x0", (*EVAL_BASE, "--resolution", "800x0"),
         "resolution='800x0' is invalid"),
    Case("evaluate", "--resolution", "hd", (*EVAL_BASE, "--resolution", "hd"),
         "resolution='hd' is invalid"),
    Case("evaluate", "--replicas", "0", (*EVAL_BASE, "--replicas", "0"),
         "0 is not in the range x>=1"),
    Case("evaluate", "--adder-latency", "-1", (*EVAL_BASE, "--adder-latency", "-1"),
         "-1.0 is not in the range 0<=x<=1e-06"),
    Case("evaluate", "--adder-energy", "-1", (*EVAL_BASE, "--adder-energy", "-1"),
         "-1.0 is not in the range 0<=x<=1e-09"),
    Case("evaluate", "--points", "0", (*EVAL_BASE, "--points", "0"), "0 is not in the range"),
    Case("evaluate", "--calibration-points", "0", (*EVAL_BASE, "--calibration-points", "0"),
         "0 is not in the range x>=1"),
    Case("evaluate", "--adc-bits", "0", (*EVAL_BASE, "--adc-bits", "0"),
         "0 is not in the range 1<=x<=16"),
    Case("evaluate", "--dac-bits", "17", (*EVAL_BASE, "--dac-bits", "17"),
         "17 is not in the range 1<=x<=16"),
    Case("evaluate", "--weight-bits", "0", (*EVAL_BASE, "--weight-bits", "0"),
         "0 is not in the range 1<=x<=16"),
    Case("evaluate", "--variation", "-1", (*EVAL_BASE, "--variation", "-1"),
         "-1.0 is not in the range 0.0<=x<=20.0"),
    Case("evaluate", "--read-noise", "-0.1", (*EVAL_BASE, "--read-noise", "-0.1"),
         "-0.1 is not in the range 0.0<=x<=1.0"),
    Case("evaluate", "--sweep", "speed=1:2", (*EVAL_BASE, "--sweep", "speed=1:2"),
         "sweep='speed=1:2' is invalid"),
    Case("evaluate", "--sweep", "adc_bits=8:2", (*EVAL_BASE, "--sweep", "adc_bits=8:2"),
         "sweep='adc_bits=8:2' is invalid"),
    Case("evaluate", "--baseline-batch", "1", (*EVAL_BASE, "--baseline-batch", "1"),
         "1 is not in the range x>=2"),
    Case("evaluate", "--gpu-baseline", "missing file", (*EVAL_BASE, "--gpu-baseline",
                                                        "{d}/missing.json"), "does not exist"),
    Case("evaluate", "--gpu-baseline", "corrupt JSON", (*EVAL_BASE, "--gpu-baseline",
                                                        "{d}/corrupt.json"),
         "not a readable JSON file"),
    Case("evaluate", "--seed", "x", (*EVAL_BASE, "--seed", "x"), "'x' is not a valid integer"),
    Case("evaluate", "--seed", "-1", (*EVAL_BASE, "--seed", "-1"), "-1 is not in the range x>=0"),
    Case("evaluate", "--converter", "flash", (*EVAL_BASE, "--converter", "flash"),
         "'flash' is not one of"),
    Case("evaluate", "--out", "an existing file", (*EVAL_BASE, "--out", "{d}/afile"),
         "exists: expected a new path, or --overwrite"),
    Case("evaluate", "--out", "a folder", (*EVAL_BASE, "--out", "{d}"), "is a directory"),
    Case("evaluate", "--out", "under a file", (*EVAL_BASE, "--out", "{d}/afile/report.h5"),
         "afile"),
    Case("evaluate", "--read-noise", "inf", (*EVAL_BASE, "--read-noise", "inf"),
         "'--read-noise': inf is not a finite number"),
    Case("evaluate", "--variation", "nan", (*EVAL_BASE, "--variation", "nan"),
         "'--variation': nan is not a finite number"),
    Case("evaluate", "--adder-latency", "inf", (*EVAL_BASE, "--adder-latency", "inf"),
         "'--adder-latency': inf is not a finite number"),
    Case("evaluate", "--adder-energy", "nan", (*EVAL_BASE, "--adder-energy", "nan"),
         "'--adder-energy': nan is not a finite number"),
    Case("evaluate", "--points", "1000000000 (beyond memory)",
         ("{run}", "--no-baseline", "--points", "1000000000"), "--points 1000000000 on model"),
    Case("evaluate", "--calibration-points", "1000000000 (beyond memory)",
         ("{run}", "--no-baseline", "--calibration-points", "1000000000"), "needs about"),
    Case("evaluate", "--baseline-batch", "1000000000 (beyond memory)",
         ("{run}", "--no-accuracy", "--baseline-batch", "1000000000"),
         "--baseline-batch 1000000000 on model"),
    Case("evaluate", "--model", "mlp:1000000-1000000 (beyond memory)",
         (*EVAL_BASE, "--model", "mlp:1000000-1000000"), "weights) needs about"),
    Case("evaluate", "--weights", "a .npy", (*EVAL_BASE, "--weights", "{d}/shape3.npy"),
         "is a .npy array, not a .npz archive"),
    Case("evaluate", "--weights", "empty .npz", (*EVAL_BASE, "--weights", "{d}/empty.npz"),
         "is empty"),
    Case("evaluate", "RUN", "a dataset without units", ("{d}/nounits.h5", "--no-accuracy",
                                                         "--no-baseline"),
         "lacks its 'units' attribute"),
    Case("evaluate", "RUN", "a run with flipped bits", ("{d}/flipped.h5", "--no-baseline"),
         "flipped.h5 is damaged ("),
    Case("evaluate", "RUN", "a FIFO (never opened)", ("{d}/fifo", "--no-accuracy"),
         "is a pipe (FIFO)"),
    Case("evaluate", "--out", "the run itself, --overwrite",
         (*EVAL_BASE, "--out", "{run}", "--overwrite"), "is the input RUN"),
    Case("evaluate", "--out", "a hard link to the run, --overwrite",
         (*EVAL_BASE, "--out", "{d}/runlink.h5", "--overwrite"), "is the input RUN"),
    Case("evaluate", "--out", "the --data file, --overwrite",
         (*EVAL_DATA, "{d}/blobs.npz", "--out", "{d}/blobs.npz", "--overwrite"),
         "is the input --data"),
    Case("evaluate", "--weights", "a FIFO", (*EVAL_BASE, "--weights", "{d}/fifo"),
         "is a pipe (FIFO)"),
    Case("evaluate", "--gpu-baseline", "a folder", (*EVAL_BASE, "--gpu-baseline", "{d}"),
         "is a directory"),
    Case("evaluate", "--data", "missing file", (*EVAL_DATA, "{d}/missing.npz"),
         "does not exist"),
    Case("evaluate", "--data", "a folder", (*EVAL_DATA, "{d}/oldrenders"), "is a directory"),
    Case("evaluate", "--data", "a FIFO", (*EVAL_DATA, "{d}/fifo"), "is a pipe (FIFO)"),
    Case("evaluate", "--data", "corrupt .npz", (*EVAL_DATA, "{d}/corrupt.npz"),
         "not a readable .npy or .npz"),
    Case("evaluate", "--data", "a .npy", (*EVAL_DATA, "{d}/shape3.npy"), "is a .npy array"),
    Case("evaluate", "--data", "other arrays", (*EVAL_DATA, "{d}/other.npz"),
         "holds other: expected arrays ['x'] (or 'inputs')"),
    Case("evaluate", "--data", "inputs of the wrong width", (*EVAL_DATA, "{d}/wide.npz"),
         "has shape (6, 9): expected (N, 8)"),
    Case("evaluate", "--data", "labels beyond the classes", (*EVAL_DATA, "{d}/labels9.npz"),
         "expected one integer class id per row, from 0 to 2"),
    Case("evaluate", "--data", "fractional labels", (*EVAL_DATA, "{d}/labelsfrac.npz"),
         "expected one integer class id per row"),
    Case("evaluate", "--data", "labels and targets", (*EVAL_DATA, "{d}/both.npz"),
         "holds both 'labels' and 'targets'"),
    Case("evaluate", "--data", "rows that disagree", (*EVAL_DATA, "{d}/ragged.npz"),
         "expected one row count"),
    Case("evaluate", "--data", "NaN inputs", (*EVAL_DATA, "{d}/nandata.npz"), "non-finite"),
    Case("evaluate", "--data", "one row", (*EVAL_DATA, "{d}/onerow.npz"),
         "has 1 row: expected at least 2"),
    Case("evaluate", "--data", "with --points", (*EVAL_DATA, "{d}/blobs.npz", "--points", "9"),
         "--points is invalid with --data"),
    Case("evaluate", "--data", "with --calibration-points",
         (*EVAL_DATA, "{d}/blobs.npz", "--calibration-points", "9"),
         "--calibration-points is invalid with --data"),
    Case("evaluate", "--calibration", "without --data",
         (*EVAL_BASE, "--calibration", "{d}/blobs.npz"), "--calibration is invalid without"),
    Case("evaluate", "--calibration", "the --data file",
         (*EVAL_DATA, "{d}/blobs.npz", "--calibration", "{d}/blobs.npz"),
         "is the --data file"),
    Case("evaluate", "--calibration", "other arrays",
         (*EVAL_DATA, "{d}/blobs.npz", "--calibration", "{d}/other.npz"),
         "--calibration"),
    Case("evaluate", "--calibration-fraction", "0",
         (*EVAL_DATA, "{d}/blobs.npz", "--calibration-fraction", "0"), "0<x<1"),
    Case("evaluate", "--calibration-fraction", "1",
         (*EVAL_DATA, "{d}/blobs.npz", "--calibration-fraction", "1"), "0<x<1"),
    Case("evaluate", "--calibration-fraction", "nan",
         (*EVAL_DATA, "{d}/blobs.npz", "--calibration-fraction", "nan"), "not a finite number"),
    Case("evaluate", "--calibration-fraction", "with --calibration",
         (*EVAL_DATA, "{d}/blobs.npz", "--calibration", "{d}/blobs2.npz",
          "--calibration-fraction", "0.5"), "--calibration-fraction is invalid with"),
    Case("evaluate", "--calibration-fraction", "without --data",
         (*EVAL_BASE, "--calibration-fraction", "0.5"), "is invalid without --data"),
]

NERF_BASE = ("{run}", "--out", "{d}/renders", "--cache-dir", "{d}/cache")
NERF = [
    Case("nerf", "--resolution", "100000x100000 (beyond memory)",
         (*NERF_BASE, "--resolution", "100000x100000"), "a 100000x100000 frame"),
    Case("nerf", "--resolution", "0x64", (*NERF_BASE, "--resolution", "0x64"),
         "resolution='0x64' is invalid"),
    Case("nerf", "--seed", "-1", (*NERF_BASE, "--seed", "-1"), "-1 is not in the range x>=0"),
    Case("nerf", "--read-noise", "inf", (*NERF_BASE, "--read-noise", "inf"),
         "'--read-noise': inf is not a finite number"),
    Case("nerf", "--variation", "nan", (*NERF_BASE, "--variation", "nan"),
         "'--variation': nan is not a finite number"),
    Case("nerf", "--out", "a folder holding its PNGs",
         ("{run}", "--out", "{d}/oldrenders", "--cache-dir", "{d}/cache"),
         "scene.png' exists: expected a new path, or --overwrite"),
    Case("nerf", "--out", "a file", ("{run}", "--out", "{d}/afile"), "is a file"),
    Case("nerf", "--cache-dir", "a file", ("{run}", "--out", "{d}/renders",
                                           "--cache-dir", "{d}/afile"), "is a file"),
    Case("nerf", "RUN", "a dataset without units",
         ("{d}/nounits.h5", "--out", "{d}/renders", "--cache-dir", "{d}/cache"),
         "lacks its 'units' attribute"),
    Case("nerf", "RUN", "a run with flipped bits",
         ("{d}/flipped.h5", "--out", "{d}/renders", "--cache-dir", "{d}/cache"),
         "flipped.h5 is damaged ("),
    Case("nerf", "RUN", "a FIFO (never opened)",
         ("{d}/fifo", "--out", "{d}/renders", "--cache-dir", "{d}/cache"), "is a pipe (FIFO)"),
]

PLOT = [
    Case("plot", "PATH", "a dataset without units", ("{d}/nounits.h5", "--out", "{d}/plots"),
         "lacks its 'units' attribute"),
    Case("plot", "PATH", "a run with flipped bits", ("{d}/flipped.h5", "--out", "{d}/plots"),
         "flipped.h5 is damaged ("),
    Case("plot", "PATH", "a FIFO (never opened)", ("{d}/fifo", "--out", "{d}/plots"),
         "is a pipe (FIFO)"),
    Case("plot", "--out", "a file", ("{run}", "--out", "{d}/afile"), "is a file"),
    Case("plot", "--dpi", "0", ("{run}", "--out", "{d}/plots", "--dpi", "0"),
         "0 is not in the range 50<=x<=600"),
]

ACAM = [
    Case("acam", "--out", "an existing file", ("simulate", "--out", "{d}/afile"),
         "exists: expected a new path, or --overwrite"),
    Case("acam", "--cells", "0", ("simulate", "--cells", "0", "--out", "{d}/acam.h5"),
         "0 is not in the range x>=1"),
    Case("acam", "--t-eval", "inf", ("simulate", "--t-eval", "inf", "--out", "{d}/acam.h5"),
         "--t-eval 'inf' is invalid"),
    Case("acam", "--t-eval", "nan", ("transfer", "--t-eval", "nan"),
         "'--t-eval': nan is not a finite number"),
    Case("acam", "--check", "0.6:inf", ("transfer", "--check", "0.6:inf"), "LOW:HIGH"),
    Case("acam", "--x-min", "nan", ("function", "--x-min", "nan"),
         "'--x-min': nan is not a finite number"),
    Case("acam", "--bits", "9", ("function", "--bits", "9"), "9 is not in the range 1<=x<=8"),
]

# On/off options take no value; each command's must refuse one.
FLAGS = {
    "generate": (("--access", "--overwrite", "--json"), (*TILE, "--out", "{d}/net")),
    "simulate": (("--access", "--waveforms", "--overwrite", "--progress", "--json"),
                 (*TILE, *SIM_OUT)),
    "tables": (("--json",), ("{run}",)),
    "solve": (("--access", "--overwrite", "--json"), (*TILE, *SOLVE_OUT)),
    "evaluate": (("--simulate-missing", "--accuracy", "--ir-drop", "--baseline", "--json"),
                 EVAL_BASE),
}
FLAG_CASES = [Case(command, flag, "=yes", (*args, f"{flag}=yes"),
                   f"Option '{flag}' does not take a value")
              for command, (flags, args) in FLAGS.items() for flag in flags]

CASES = [*GENERATE, *SIMULATE, *TABLES, *SOLVE, *EVALUATE, *NERF, *PLOT, *ACAM, *FLAG_CASES]


def _inputs(d: Path, run: Path) -> Path:
    """The bad input files of every case, in ``d``; returns where the run's copy lies."""
    for name, array in {"shape33": np.zeros((3, 3)), "shape3": np.zeros(3),
                        "shape23": np.zeros((2, 3)), "strings42": np.full((4, 2), "a"),
                        "strings44": np.full((4, 4), "a"), "nan42": np.full((4, 2), np.nan),
                        "nan4": np.full(4, np.nan), "two4": np.full(4, 2.0),
                        "negative44": np.full((4, 4), -1e-5), "two4x4": np.full((4, 4), 2.0),
                        "nan44": np.full((4, 4), np.nan), "complex42": np.zeros((4, 2), complex),
                        "complex44": np.ones((4, 4), complex), "complex4": np.zeros(4, complex)
                        }.items():
        np.save(d / f"{name}.npy", array)
    np.save(d / "object42.npy", np.full((4, 2), None, dtype=object), allow_pickle=True)
    for name in ("corrupt.npy", "corrupt.npz", "corrupt.h5", "corrupt.json", "afile"):
        (d / name).write_text("not what it claims to be {")
    for name in ("empty.npy", "empty.npz"):
        (d / name).write_bytes(b"")
    with open(d / "zip.npy", "wb") as f:  # an archive under a .npy name
        np.savez(f, a=np.zeros((4, 2)))
    np.savez(d / "other.npz", other=np.zeros(3))
    with h5py.File(d / "foreign.h5", "w") as f:
        f["x"] = np.arange(3)
    with h5py.File(d / "schema_only.h5", "w") as f:
        f.attrs["schema_version"] = 2
    shutil.copy(run, d / "nounits.h5")
    with h5py.File(d / "nounits.h5", "a") as f:
        del f["/tiles/tile0/columns/latency_s"].attrs["units"]
    for folder, names in (("othernet", ("array.cir", "col0000.cir", "col0007.cir")),
                          ("oldrenders", ("scene.png",))):
        (d / folder).mkdir()
        for name in names:
            (d / folder / name).write_text("another tile's or run's file")
    x = np.zeros((6, 8))
    for name, arrays in {"blobs": {"x": x, "labels": np.arange(6) % 3},
                         "blobs2": {"inputs": x}, "wide": {"x": np.zeros((6, 9))},
                         "labels9": {"x": x, "labels": np.full(6, 9)},
                         "labelsfrac": {"x": x, "labels": np.full(6, 0.5)},
                         "both": {"x": x, "labels": np.zeros(6), "targets": np.zeros((6, 3))},
                         "ragged": {"x": x, "labels": np.zeros(5)},
                         "nandata": {"x": np.full((6, 8), np.nan)},
                         "onerow": {"x": np.zeros((1, 8))}}.items():
        np.savez(d / f"{name}.npz", **arrays)
    os.mkfifo(d / "fifo")  # read, it would block for ever: refused from its stat
    copy = d / "finished.h5"
    shutil.copy(run, copy)
    os.link(copy, d / "runlink.h5")
    damaged = bytearray(run.read_bytes())
    damaged[2000::97] = bytes(b ^ 0xFF for b in damaged[2000::97])  # HDF5 keeps no checksums
    (d / "flipped.h5").write_bytes(damaged)
    return copy


def _listing(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(d.rglob("*"))}


def run_case(case: Case, d: Path, run: Path) -> tuple[int, str, str]:
    """Run ``case`` with its files in ``d`` and ``run`` as ``{run}``: exit code, stdout, stderr."""
    args = [case.command, *(a.format(d=d, run=run) for a in case.args)]
    if not case.env:
        result = CliRunner().invoke(cli, args)
        return result.exit_code, result.stdout, result.stderr
    env = {**os.environ, **{k: v.format(d=d) for k, v in case.env.items()}}
    proc = subprocess.run([sys.executable, "-c", "from spicecim.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.ngspice
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_value_is_one_line_exit_two_and_writes_nothing(case: Case, tmp_path: Path,
                                                            finished_run: Path) -> None:
    run = _inputs(tmp_path, finished_run)
    before = _listing(tmp_path)
    code, stdout, stderr = run_case(case, tmp_path, run)
    assert code == 2, (stdout, stderr)
    assert stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith("Error: "), stderr
    assert case.expect in stderr, stderr
    assert _listing(tmp_path) == before  # nothing new, nothing half-written, no input changed


def markdown_table() -> str:
    """Every case as it runs now, as a Markdown table (``python tests/test_bad_input.py``)."""
    lines = ["| command | option | bad value | exit | spicecim said (stderr) |",
             "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run.h5"
        made = CliRunner().invoke(cli, ["simulate", *TILE, "--workers", "1", "--out", str(run)])
        assert made.exit_code == 0, made.output
        for k, case in enumerate(CASES):
            d = Path(tmp) / f"case{k}"
            d.mkdir()
            code, _, stderr = run_case(case, d, _inputs(d, run))
            said = stderr.strip().replace(str(d), "DIR").replace("|", "\\|")
            lines.append(f"| {case.command} | `{case.option}` | {case.value} | {code} | `{said}` |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
