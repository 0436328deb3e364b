"""Sizes bounded by the machine: a command estimates the memory (and, writing netlists, the
disk) its options ask for before it builds anything, and refuses with one line that names the
estimate, what is available and what to change. Without it, ``--rows 1000000000`` or
``--points 1000000000`` would end in a ``MemoryError`` or the kernel's OOM killer minutes later.

The per-unit figures are measured (tracemalloc peaks of this package's own code paths) and
rounded up, and meant as a floor: a run they let through may still need more; one they refuse
would not fit.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spicecim.errors import SpecError

if TYPE_CHECKING:
    from spicecim.models.mlp import Mlp

TILE_BYTES_PER_CELL = 1024
"""Building a tile and its full-array netlist: 0.91 kB per cell measured (512x512 and 2048x64,
the netlist text's lines at their peak); every command that builds a tile does at least this."""
NETLIST_BYTES_PER_CELL = 512
"""On disk, ``array.cir`` (about 210 B per cell) and the column netlists (about 255 B per row
each)."""
REPLICA_BYTES_PER_CELL = 32
"""A Monte Carlo replica's conductances and their draw (float64, two arrays at once)."""
REPLICA_BYTES_PER_COLUMN = 1024
"""A replica's column records and schedules, held until its layers are combined."""
ACCURACY_BYTES_PER_VALUE = 64
"""The accuracy pass per point per layer width (about 30 B measured on MLPs of 64 and 128
wide, 2000-8000 points: every layer's inputs, noisy outputs and the float reference)."""
BASELINE_BYTES_PER_VALUE = 16
"""The digital baseline's batch per layer width (about 7 B measured: float32 activations)."""
WEIGHT_BYTES = 64
"""A model weight: float32 as loaded, float64 programmed conductances of two devices, and the
noisy copies of a pass."""
FRAME_BYTES_PER_SAMPLE = 32
"""A NeRF frame's samples inside the scene (points and directions, float32) kept for
calibration."""
FRAME_BYTES_PER_PIXEL = 256
"""A frame's rays and its images (scene, float, crossbar, difference)."""


PROCESS_BYTES = 100_000_000
"""A worker process: 103 MB peak RSS measured with the simulator and ngspice's library loaded."""
ACAM_CELL_CPU_S = 1e-3
"""ngspice's time per ACAM cell of a search netlist: 16 rows x 64 cells, three searches (3,072
cells), simulate in about 3 s on an idle core (``spicecim acam simulate``, import and transfer
sweep excluded); 5 to 16 ms under load. A floor, like the sizes above."""

ACAM_CELL_BYTES = 1024
"""An ACAM cell of a search netlist: 652 B per cell at the text's peak measured (tracemalloc,
a 32x64 array, one search), rounded up; ngspice's own copy of the circuit not counted:
a floor."""


FIT_STEP_CPU_S = 1e-2
"""An Adam step of the built-in scene's NeRF fit (nerf-4x256, JAX on the CPU): 12 ms measured
under load (250 steps against 50, the compilation cancelled out), rounded down."""


SWEEP_POINT_CPU_S = 1e-2
"""A point of ``evaluate --sweep``: the accuracy pass again at its settings; 13 to 16 ms measured
under load (mlp:8-3, 100 points, sweeps of 100 and 200 points against none), rounded down: a
floor, larger models take longer."""
DESIGN_POINT_CPU_S = 30.0
"""A design point of ``nerf --sweep``: the model programmed on its tiles and the frame rendered
through them; 52 to 108 s measured under load (the nerf preset on 64x64 tiles, a 32x32 frame of
32 samples per ray, the smallest a sweep shows anything on), rounded down: a floor, its tables'
simulation not counted."""


def check_design_grid(points: int, width_px: int, height_px: int, yes: bool) -> float:
    """The time a design sweep of ``points`` points (the product of its axes' value counts)
    is estimated to take; refused if their frames' images cannot all be held, and over the
    co-simulation's limit unless ``yes``. Checked before the points are built: a grid of
    10^12 points would never finish being listed."""
    check_memory(points * width_px * height_px * FRAME_BYTES_PER_PIXEL,
                 f"a design sweep of {points} points on a {width_px}x{height_px} frame (each "
                 "point's images kept)", "fewer --sweep values or a smaller --resolution")
    return check_grid_time(points, DESIGN_POINT_CPU_S, "a design sweep", "rendering", yes)


def check_grid_time(points: int, point_s: float, what: str, work: str, yes: bool) -> float:
    """The time a sweep (``what``) of ``points`` points of ``point_s`` each is estimated to
    take; refused over the co-simulation's limit unless ``yes``."""
    from spicecim.cost.duration import DURATION_LIMIT_S

    seconds = points * point_s
    if seconds > DURATION_LIMIT_S and not yes:
        raise SpecError(f"{what} of {points} points is estimated at {seconds / 60:.0f} min of "
                        f"{work} (at least {point_s:g} s per point), over the "
                        f"{DURATION_LIMIT_S / 60:.0f} min limit: expected at most "
                        f"{int(DURATION_LIMIT_S / point_s)} points (fewer --sweep values), or "
                        "--yes to run it")
    return seconds


def check_fit_steps(steps: int, yes: bool, option: str = "--fit-steps") -> float:
    """The time a scene fit of ``steps`` Adam steps is estimated to take (when not cached);
    refused over the co-simulation's limit unless ``yes``. A fine-tuning step (``option``
    ``--finetune-steps``) runs the same MLP's pass and its crossbar model: the fit's step is its
    floor."""
    from spicecim.cost.duration import DURATION_LIMIT_S

    seconds = steps * FIT_STEP_CPU_S
    if seconds > DURATION_LIMIT_S and not yes:
        raise SpecError(f"{option} {steps} is estimated at {seconds / 60:.0f} min of fitting, "
                        f"over the {DURATION_LIMIT_S / 60:.0f} min limit: expected at most "
                        f"{int(DURATION_LIMIT_S / FIT_STEP_CPU_S)} steps, or --yes to run it")
    return seconds


def check_count(value: int, most: int, option: str, why: str) -> None:
    """Refuse ``option`` ``value`` above ``most`` (``why``: what bounds it)."""
    if value > most:
        raise SpecError(f"{option} {value} is invalid: expected 1 to {most} ({why})")


def check_adc_share(value: int, cols: int, what: str) -> None:
    """Refuse an ADC share above both the tile's ``cols`` (``what``: how the tile is named)
    and the default (``RunOptions.adc_share``), which is accepted on any tile: a share over a
    tile's columns is one ADC for them all, and a command line stored in a run names it."""
    from spicecim.sim.driver import RunOptions

    default = RunOptions().adc_share
    check_count(value, max(cols, default), "--adc-share",
                f"columns per ADC, at most the {what}'s {cols} columns or the default {default}")


def check_acam_search(rows: int, cells: int, searches: int, tries: int, yes: bool) -> float:
    """The time ``spicecim acam simulate`` is estimated to take (``searches`` input vectors of a
    ``rows`` x ``cells`` array, at up to ``tries`` sense times); refused over the co-simulation's
    limit unless ``yes``, and refused if one search's netlist cannot be held."""
    from spicecim.cost.duration import DURATION_LIMIT_S

    check_memory(rows * cells * ACAM_CELL_BYTES, f"a {rows}x{cells} ACAM array's search netlist",
                 "fewer --rows or --cells")
    seconds = rows * cells * searches * tries * ACAM_CELL_CPU_S
    if seconds > DURATION_LIMIT_S and not yes:
        raise SpecError(f"the searches of a {rows}x{cells} ACAM array are estimated at "
                        f"{'up to ' if tries > 1 else ''}{seconds / 60:.0f} min in ngspice, over "
                        f"the {DURATION_LIMIT_S / 60:.0f} min limit: expected fewer --rows or "
                        "--cells, or --yes to run it")
    return seconds


def available_memory_bytes() -> int:
    """The memory a new allocation can get now: ``MemAvailable`` (Linux), else the free
    physical pages."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def size_text(n_bytes: float) -> str:
    """``2.5 GB``-style text (decimal prefixes)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n_bytes < 1000 or unit == "PB":
            return f"{n_bytes:.3g} {unit}"
        n_bytes /= 1000
    raise AssertionError("unreachable")


def check_memory(need_bytes: float, what: str, fix: str) -> None:
    """Refuse ``what`` if it needs more memory than is available now."""
    available = available_memory_bytes()
    if need_bytes > available:
        raise SpecError(f"{what} needs about {size_text(need_bytes)} of memory, more than the "
                        f"{size_text(available)} available: expected {fix}")


def check_processes(count: int, option: str) -> None:
    """``count`` worker processes (``option``) must fit in memory before the first starts."""
    check_memory(count * PROCESS_BYTES, f"{option} {count} (worker processes)",
                 f"a smaller {option}")


def check_tile(rows: int, cols: int, fix: str = "fewer --rows or --cols") -> None:
    """A tile of ``rows`` x ``cols`` cells must fit in memory to be built at all (``fix``:
    the options that size it)."""
    check_memory(rows * cols * TILE_BYTES_PER_CELL, f"a {rows}x{cols} tile", fix)


def check_netlist_disk(out_dir: Path, rows: int, cols: int) -> None:
    """The netlists of a ``rows`` x ``cols`` tile must fit on the disk of ``out_dir``."""
    folder = out_dir.absolute()
    while not folder.exists():
        folder = folder.parent
    need = rows * cols * NETLIST_BYTES_PER_CELL
    free = shutil.disk_usage(folder).free
    if need > free:
        raise SpecError(f"the netlists of a {rows}x{cols} tile need about {size_text(need)} of "
                        f"disk, more than the {size_text(free)} free under {str(folder)!r}: "
                        "expected fewer --rows or --cols, or another --out")


def check_replicas(replicas: int, rows: int, cols: int) -> None:
    """``replicas`` Monte Carlo replicas of a ``rows`` x ``cols`` tile must fit in memory."""
    need = replicas * (rows * cols * REPLICA_BYTES_PER_CELL + cols * REPLICA_BYTES_PER_COLUMN)
    check_memory(need, f"--mc {replicas} of a {rows}x{cols} tile", "fewer --mc replicas")


def check_model(model: str | Mlp, batches: Mapping[str, tuple[Any, int]]) -> None:
    """``model``'s weights (a preset's, or a loaded model's; float64, a few copies:
    programmed, noisy, reference) and each batch ``{option: (points, bytes per point and unit
    of layer width)}`` must fit in memory; the width is every input's and every layer's
    output width added up."""
    from spicecim.models.presets import preset_graph

    if isinstance(model, str):
        inputs, layers = preset_graph(model)
        graph = [(sources, width) for _, sources, width, _ in layers]
        widths = dict(inputs) | {name: width for name, _, width, _ in layers}
    else:
        graph = [(d.sources, d.fan_out) for d in model.layers]
        widths = model.widths()
        model = "given"
    weights = sum(sum(widths[s] for s in sources) * width for sources, width in graph)
    check_memory(weights * WEIGHT_BYTES, f"model {model!r} ({weights} weights)",
                 "a smaller model")
    total = sum(widths.values())
    for option, (points, per_value) in batches.items():
        check_memory(int(points) * total * per_value,
                     f"{option} {points} on model {model!r} (total layer width {total})",
                     f"a smaller {option}")


def check_frame_image(width_px: int, height_px: int) -> None:
    """A frame a command costs without rendering it (``evaluate --resolution``) must still be
    one whose rays and images fit in memory: a frame no machine here could render is a typo."""
    check_memory(width_px * height_px * FRAME_BYTES_PER_PIXEL,
                 f"a {width_px}x{height_px} frame (its rays and images)", "a smaller --resolution")


def check_frame(width_px: int, height_px: int, samples_per_ray: int) -> None:
    """A NeRF frame of this size must fit in memory to be rendered."""
    pixels = width_px * height_px
    need = pixels * (FRAME_BYTES_PER_PIXEL + samples_per_ray * FRAME_BYTES_PER_SAMPLE)
    check_memory(need, f"a {width_px}x{height_px} frame of {samples_per_ray} samples per ray",
                 "a smaller --resolution or --samples-per-ray")
