"""Time a spicecim MLP on a CUDA GPU with PyTorch and write the JSON that
``spicecim evaluate --gpu-baseline FILE.json`` reads.

Configurations: PyTorch eager, ``torch.compile`` and ``torch.compile(mode="reduce-overhead")``
(CUDA graphs: what a latency-bound batch-1 caller would use), in fp32 and fp16, at batch 1 and
2^16 .. 2^20. Each figure is the best of repeated synchronised calls after warm-up (compilation
and graph capture happen in the warm-up). The file format is documented in
``spicecim/evaluate/baseline.py``.

Run from the repository root on the GPU machine (spicecim installed, or PYTHONPATH=.):

    python benchmarks/gpu_baseline.py --model nerf-4x256 --out gpu-nerf-4x256.json

Without PyTorch or without a CUDA device it stops with one line and exit code 2.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

BATCHES = (1, 1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20)
MODES = ("eager", "compile", "compile-cudagraphs")
DTYPES = ("fp32", "fp16")


def _fail(message: str) -> None:
    print(f"gpu_baseline: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nerf-4x256", help="spicecim preset")
    parser.add_argument("--weights", type=Path, help="weights file (default: seeded init)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)),
                        help="comma-separated batch sizes")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--min-time", type=float, default=0.5,
                        help="seconds of timed calls per configuration (at least 3 calls)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    try:
        import torch
    except ImportError:
        _fail("PyTorch is not installed (pip install torch): no GPU baseline measured")
    if not torch.cuda.is_available():
        _fail("no CUDA device is visible to PyTorch: run this on a machine with an NVIDIA GPU")

    import numpy as np

    from spicecim.errors import SpiceCimError
    from spicecim.evaluate.baseline import gpu_baseline_json, measure_torch
    from spicecim.evaluate.model import init_mlp, load_weights

    try:
        batches = [int(b) for b in args.batches.split(",")]
        mlp = (load_weights(args.model, args.weights) if args.weights
               else init_mlp(args.model, np.random.default_rng(args.seed)))
        results = []
        for mode in args.modes.split(","):
            for dtype in args.dtypes.split(","):
                for batch in batches:
                    b = measure_torch(mlp, batch, np.random.default_rng([args.seed, batch]),
                                      device="cuda", mode=mode, dtype=dtype,
                                      min_time_s=args.min_time)
                    print(f"{mode:<20}{dtype:<6}{batch:>9}  {b.seconds_per_call:.4g} s/call  "
                          f"{b.per_sample_s:.4g} s/sample  {b.throughput_per_s:.4g} samples/s",
                          flush=True)
                    results.append(b)
                torch.compiler.reset()  # each mode/dtype compiles afresh
    except (SpiceCimError, ValueError) as exc:
        _fail(str(exc))
    except torch.cuda.OutOfMemoryError as exc:
        _fail(f"out of GPU memory ({exc}): lower --batches")
    doc = gpu_baseline_json(
        args.model, results, torch_version=torch.__version__,
        cuda_version=str(torch.version.cuda),
        created_utc=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
