"""What the render benchmarks share: their frame and repeat options (``bench_render.py``,
``bench_forward.py``), run as scripts from any folder (this folder is on their path)."""

from __future__ import annotations

import argparse

from spicecim.nerf.frame import Frame


def frame_parser(doc: str) -> argparse.ArgumentParser:
    """The options every render benchmark takes, its docstring's first line as description."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--resolution", default="32x32", help="the frame, WIDTHxHEIGHT")
    parser.add_argument("--samples-per-ray", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="renders timed, the best kept")
    parser.add_argument("--seeds", type=int, default=4, help="read-noise seeds for the PSNR")
    return parser


def frame_of(args: argparse.Namespace) -> Frame:
    """The frame of ``--resolution`` and ``--samples-per-ray``."""
    width, height = (int(v) for v in args.resolution.split("x"))
    return Frame(width, height, args.samples_per_ray)
