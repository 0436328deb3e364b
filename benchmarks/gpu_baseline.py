"""Time a spicecim MLP on a GPU with JAX (``jax.jit``) and, where installed, PyTorch, and write
the JSON that ``spicecim evaluate --gpu-baseline FILE.json`` reads.

Configurations: JAX ``jax.jit`` (XLA) on JAX's GPU; PyTorch eager, ``torch.compile`` and
``torch.compile(mode="reduce-overhead")`` (CUDA graphs: what a latency-bound batch-1 caller
would use) on CUDA; each in fp32 and fp16, at batch 1 and 2^16 .. 2^20. Each figure is the best
of repeated synchronised calls after warm-up (compilation and graph capture happen in the
warm-up). The file format is documented in ``spicecim/models/baseline.py``.

Run from the repository root on the GPU machine (spicecim installed, or PYTHONPATH=.; JAX with
its CUDA plugin, ``pip install "jax[cuda12]"``, and/or PyTorch with CUDA):

    python benchmarks/gpu_baseline.py --model nerf-4x256 --out gpu-nerf-4x256.json

It prints the device and the frameworks it ran. Without a GPU visible to JAX or PyTorch it stops
with one line and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
from pathlib import Path

BATCHES = (1, 1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20)
TORCH_MODES = ("eager", "compile", "compile-cudagraphs")
DTYPES = ("fp32", "fp16")


def _fail(message: str) -> None:
    print(f"gpu_baseline: {message}", file=sys.stderr)
    sys.exit(2)


def _jax_gpu():  # noqa: ANN202 - a jax Device or None
    import jax

    gpus = [d for d in jax.devices() if d.platform != "cpu"]
    return gpus[0] if gpus else None


def _torch_cuda():  # noqa: ANN202 - the torch module or None
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def _line(b) -> str:  # noqa: ANN001 - a Baseline
    return (f"{b.framework:<14}{b.mode:<20}{b.dtype:<6}{b.batch:>9}  {b.seconds_per_call:.4g} "
            f"s/call  {b.per_sample_s:.4g} s/sample  {b.throughput_per_s:.4g} samples/s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nerf-4x256", help="spicecim preset")
    parser.add_argument("--weights", type=Path, help="weights file (default: seeded init)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)),
                        help="comma-separated batch sizes")
    parser.add_argument("--frameworks", default="jax,torch",
                        help="comma-separated: jax, torch (those without a GPU are skipped)")
    parser.add_argument("--modes", default=",".join(TORCH_MODES), help="PyTorch modes")
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--min-time", type=float, default=0.5,
                        help="seconds of timed calls per configuration (at least 3 calls)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    frameworks = args.frameworks.split(",")

    jax_gpu = _jax_gpu() if "jax" in frameworks else None
    torch = _torch_cuda() if "torch" in frameworks else None
    if jax_gpu is None and torch is None:
        _fail("no GPU: JAX sees only the CPU and PyTorch is not installed or sees no CUDA "
              "device; run this on a GPU machine with jax[cuda12] or torch")

    import jax
    import numpy as np

    from spicecim.errors import SpiceCimError
    from spicecim.models.baseline import gpu_baseline_json, measure_jax, measure_torch
    from spicecim.models.presets import init_mlp, load_weights

    device = (str(jax_gpu.device_kind) if jax_gpu is not None
              else torch.cuda.get_device_name(0))
    ran = [f"JAX {jax.__version__} ({jax_gpu.platform})"] if jax_gpu is not None else []
    ran += [f"PyTorch {torch.__version__} (CUDA {torch.version.cuda})"] if torch else []
    print(f"device: {device}; frameworks: {', '.join(ran)}", flush=True)
    results = []
    try:
        batches = [int(b) for b in args.batches.split(",")]
        mlp = (load_weights(args.model, args.weights) if args.weights
               else init_mlp(args.model, np.random.default_rng(args.seed)))
        for dtype in args.dtypes.split(",") if jax_gpu is not None else ():
            for batch in batches:
                b = measure_jax(mlp, batch, np.random.default_rng([args.seed, batch]),
                                dtype=dtype, device=jax_gpu, min_time_s=args.min_time)
                print(_line(b), flush=True)
                results.append(b)
        for mode in args.modes.split(",") if torch else ():
            for dtype in args.dtypes.split(","):
                for batch in batches:
                    b = measure_torch(mlp, batch, np.random.default_rng([args.seed, batch]),
                                      device="cuda", mode=mode, dtype=dtype,
                                      min_time_s=args.min_time)
                    print(_line(b), flush=True)
                    results.append(b)
                torch.compiler.reset()  # each mode/dtype compiles afresh
    except (SpiceCimError, ValueError) as exc:
        _fail(str(exc))
    except MemoryError as exc:
        _fail(f"out of memory ({exc}): lower --batches")
    except Exception as exc:  # CUDA out-of-memory errors of JAX (XlaRuntimeError) and torch
        if "out of memory" not in str(exc).lower() and "RESOURCE_EXHAUSTED" not in str(exc):
            raise
        _fail(f"out of GPU memory ({str(exc).splitlines()[0]}): lower --batches")
    # One device per file: JAX's device kind and torch's device name may spell it apart.
    results = [dataclasses.replace(b, device=device) for b in results]
    doc = gpu_baseline_json(
        args.model, results, torch_version=torch.__version__ if torch else "",
        cuda_version=str(torch.version.cuda) if torch else "",
        created_utc=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
