"""Digital baselines: the same MLP timed on this machine, and GPU figures a user supplies.

Measured here: NumPy (eager, float32, this machine's BLAS), JAX compiled with ``jax.jit`` (XLA)
on this CPU, and PyTorch eager where it is installed; ``benchmarks/gpu_baseline.py`` measures JAX
and PyTorch on a GPU. Every figure is a :class:`Baseline` that says what it is (framework,
device, eager or compiled, precision, batch) and where it comes from. ``seconds_per_call`` is the
best of the timed calls (the figure most favourable to the digital side); per-sample time is
``seconds_per_call / batch``. A batch-1 figure is a latency; a large-batch figure is a throughput.

GPU baseline JSON (written by ``benchmarks/gpu_baseline.py``, read by :func:`load_gpu_baseline`)::

    {
      "format": "spicecim-gpu-baseline-v1",
      "model": "nerf-4x256",                     # the preset the figures are for
      "device": "NVIDIA H100 80GB HBM3",
      "torch": "2.5.1", "cuda": "12.4",          # versions, free text
      "created_utc": "2026-01-01T00:00:00+00:00",
      "results": [
        {"framework": "jax 0.10.2",              # optional; default "torch <torch>"
         "mode": "eager" | "jit" | "compile" | "compile-cudagraphs" | "training-loop",
         "dtype": "fp32" | "fp16" | "bf16",
         "batch": 1,                              # samples per call, >= 1
         "seconds_per_call": 4.1e-05,             # > 0, wall time of one call, synchronised
         "repeats": 200}                          # timed calls the figure is the best of
      ]
    }

``jit`` is ``jax.jit`` (XLA); ``compile`` is ``torch.compile``. ``training-loop`` is for a
per-step figure of a training loop (forward, backward, optimiser), such as a profiler's:
accepted so it can be shown, always flagged as no inference baseline.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

from spicecim.errors import ResultFileError, SpecError, check
from spicecim.models.mlp import Mlp, random_inputs

GPU_FORMAT = "spicecim-gpu-baseline-v1"
MODES = ("eager", "jit", "compile", "compile-cudagraphs", "training-loop")
TORCH_MODES = ("eager", "compile", "compile-cudagraphs")
COMPILED = ("jit", "compile", "compile-cudagraphs")
DTYPES = ("fp32", "fp16", "bf16")
HONEST_BATCH = 1 << 16
"""The smallest batch counted as a batched (throughput) figure for the 'honest' label."""


@dataclass(frozen=True, slots=True)
class Baseline:
    """One timed configuration of the digital model."""

    framework: str
    device: str
    mode: str
    dtype: str
    batch: int
    seconds_per_call: float
    repeats: int
    source: str

    def __post_init__(self) -> None:
        check(self.mode in MODES, "mode", self.mode, f"one of {MODES}")
        check(self.dtype in DTYPES, "dtype", self.dtype, f"one of {DTYPES}")
        check(isinstance(self.batch, int) and self.batch >= 1, "batch", self.batch,
              "an integer >= 1")
        check(self.seconds_per_call > 0 and math.isfinite(self.seconds_per_call),
              "seconds_per_call", self.seconds_per_call, "a finite time > 0 s")
        check(isinstance(self.repeats, int) and self.repeats >= 1, "repeats", self.repeats,
              "an integer >= 1")

    @property
    def per_sample_s(self) -> float:
        return self.seconds_per_call / self.batch

    @property
    def throughput_per_s(self) -> float:
        return self.batch / self.seconds_per_call

    @property
    def kind(self) -> str:
        """What a comparison against it measures: 'latency' (batch 1) or 'throughput'."""
        return "latency" if self.batch == 1 else "throughput"

    @property
    def label(self) -> str:
        return f"{self.framework} {self.mode} {self.dtype} batch {self.batch}, {self.device}"

    @property
    def flag(self) -> str:
        """Why a speed-up against this figure needs care ('' when it is a fair baseline)."""
        if self.mode == "training-loop":
            return "! training-loop figure: not an inference baseline"
        if self.mode == "eager" and self.batch == 1:
            return "! batch-1 eager: per-call overhead, inflates a speed-up"
        if self.batch == 1:
            return "batch 1: latency"
        if self.mode in COMPILED and self.dtype != "fp32" and self.batch >= HONEST_BATCH:
            return "honest: compiled, half precision, batched"
        return ""


def _time(call: Callable[[], object], min_time_s: float, max_repeats: int,
          sync: Callable[[], None] = lambda: None) -> tuple[float, int]:
    """Best wall time of ``call`` over at least 3 calls and ``min_time_s`` seconds."""
    times: list[float] = []
    while len(times) < 3 or (sum(times) < min_time_s and len(times) < max_repeats):
        start = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - start)
    return min(times), len(times)


def _cpu_name() -> str:
    threads = sum(p.get("num_threads", 0) for p in threadpool_info() if p.get("user_api") == "blas")
    return f"CPU {platform.machine()} ({threads} BLAS threads)"


def measure_numpy(mlp: Mlp, batch: int, rng: np.random.Generator, *, min_time_s: float = 0.2,
                  max_repeats: int = 2000) -> Baseline:
    """Time :meth:`Mlp.forward` (float32 NumPy, this machine's BLAS) at one batch size."""
    inputs = random_inputs(mlp, batch, rng)
    mlp.forward(inputs)  # warm caches and BLAS threads
    best, repeats = _time(lambda: mlp.forward(inputs), min_time_s, max_repeats)
    return Baseline(f"numpy {np.__version__}", _cpu_name(), "eager", "fp32", batch, best,
                    repeats, "measured in this run")


def jax_device_name(device: object) -> str:
    """'CPU x86_64 (XLA)' for a JAX CPU device, else the device's own kind (a GPU's name)."""
    if getattr(device, "platform", "cpu") == "cpu":
        return f"CPU {platform.machine()} (XLA)"
    return str(getattr(device, "device_kind", device))


def measure_jax(mlp: Mlp, batch: int, rng: np.random.Generator, *, dtype: str = "fp32",
                device: object = None, min_time_s: float = 0.2, max_repeats: int = 2000,
                warmup: int = 3) -> Baseline:
    """Time the ``jax.jit``-compiled forward pass (:mod:`spicecim.models.jax_mlp`) on
    ``device`` (default: JAX's first device), synchronised on the result."""
    import jax
    import jax.numpy as jnp

    from spicecim.models import jax_mlp

    check(dtype in DTYPES, "dtype", dtype, f"one of {DTYPES}")
    device = device or jax.devices()[0]
    jdtype = {"fp32": jnp.float32, "fp16": jnp.float16, "bf16": jnp.bfloat16}[dtype]
    params = jax.device_put(jax_mlp.params_of(mlp, jdtype), device)
    inputs = jax.device_put({k: jnp.asarray(v, jdtype)
                             for k, v in random_inputs(mlp, batch, rng).items()}, device)
    fn = jax_mlp.compiled(mlp)

    def call() -> object:
        return jax.block_until_ready(fn(params, inputs))

    for _ in range(warmup):  # the first call compiles
        call()
    best, repeats = _time(call, min_time_s, max_repeats)
    return Baseline(f"jax {jax.__version__}", jax_device_name(device), "jit", dtype, batch, best,
                    repeats, "measured in this run")


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def torch_module(mlp: Mlp):  # noqa: ANN201 - a torch.nn.Module; torch is optional
    """The same graph as a ``torch.nn.Module`` taking the inputs in ``mlp.inputs`` order and
    returning the outputs in ``mlp.outputs`` order."""
    import torch

    activations = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
                   "softplus": torch.nn.functional.softplus, "none": lambda z: z}

    class TorchMlp(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linears = torch.nn.ModuleList()
            for layer in mlp.layers:
                linear = torch.nn.Linear(layer.fan_in, layer.fan_out)
                with torch.no_grad():
                    linear.weight.copy_(torch.from_numpy(layer.weight.T.copy()))
                    linear.bias.copy_(torch.from_numpy(layer.bias))
                self.linears.append(linear)

        def forward(self, *inputs):  # noqa: ANN002, ANN202
            tensors = dict(zip([name for name, _ in mlp.inputs], inputs, strict=True))
            for layer, linear in zip(mlp.layers, self.linears, strict=True):
                parts = [tensors[s] for s in layer.sources]
                x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
                tensors[layer.name] = activations[layer.activation](linear(x))
            return tuple(tensors[name] for name in mlp.outputs)

    return TorchMlp()


def measure_torch(mlp: Mlp, batch: int, rng: np.random.Generator, *, device: str = "cpu",
                  mode: str = "eager", dtype: str = "fp32", min_time_s: float = 0.2,
                  max_repeats: int = 2000, warmup: int = 3) -> Baseline:
    """Time the PyTorch module of ``mlp`` (inference mode, synchronised on CUDA)."""
    try:
        import torch
    except ImportError as exc:
        raise SpecError("PyTorch is not installed: pip install torch") from exc
    check(mode in TORCH_MODES, "mode", mode, f"one of {TORCH_MODES}")
    check(dtype in DTYPES, "dtype", dtype, f"one of {DTYPES}")
    torch_dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
    module = torch_module(mlp).to(device=device, dtype=torch_dtype).eval()
    fn = module if mode == "eager" else torch.compile(
        module, mode="reduce-overhead" if mode == "compile-cudagraphs" else None)
    inputs = [torch.from_numpy(x).to(device=device, dtype=torch_dtype)
              for x in random_inputs(mlp, batch, rng).values()]
    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
    with torch.inference_mode():
        for _ in range(warmup):  # the first calls compile and capture
            fn(*inputs)
        sync()
        best, repeats = _time(lambda: fn(*inputs), min_time_s, max_repeats, sync)
    name = torch.cuda.get_device_name(device) if str(device).startswith("cuda") else _cpu_name()
    return Baseline(f"torch {torch.__version__}", name, mode, dtype, batch, best, repeats,
                    "measured in this run")


def cpu_baselines(mlp: Mlp, batches: Sequence[int], seed: int = 0, *,
                  min_time_s: float = 0.2) -> list[Baseline]:
    """NumPy eager and JAX jit (on the CPU) at each batch size, float32, and PyTorch eager fp32
    on the CPU too when it is installed."""
    import jax

    cpu = jax.devices("cpu")[0]
    out = [measure_numpy(mlp, b, np.random.default_rng([seed, b]), min_time_s=min_time_s)
           for b in batches]
    out += [measure_jax(mlp, b, np.random.default_rng([seed, b]), device=cpu,
                        min_time_s=min_time_s) for b in batches]
    if torch_available():
        out += [measure_torch(mlp, b, np.random.default_rng([seed, b]), min_time_s=min_time_s)
                for b in batches]
    return out


def gpu_baseline_json(model: str, baselines: Sequence[Baseline], *, torch_version: str,
                      cuda_version: str, created_utc: str) -> dict:
    """The JSON document of the module docstring (``torch_version`` may be '' without torch)."""
    devices = {b.device for b in baselines}
    check(len(devices) == 1, "baselines", sorted(devices), "figures of one device")
    return {"format": GPU_FORMAT, "model": model, "device": devices.pop(),
            "torch": torch_version, "cuda": cuda_version, "created_utc": created_utc,
            "results": [{"framework": b.framework, "mode": b.mode, "dtype": b.dtype,
                         "batch": b.batch, "seconds_per_call": b.seconds_per_call,
                         "repeats": b.repeats} for b in baselines]}


def load_gpu_baseline(path: Path | str, model: str) -> list[Baseline]:
    """The figures of a GPU baseline file (module docstring) for ``model``."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"GPU baseline {str(path)!r} does not exist: expected a JSON file "
                        "written by benchmarks/gpu_baseline.py")
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ResultFileError(f"{path}: not a readable JSON file ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != GPU_FORMAT:
        raise ResultFileError(f"{path}: not a GPU baseline file (expected format "
                              f"{GPU_FORMAT!r})")
    if doc.get("model") != model:
        raise SpecError(f"GPU baseline {str(path)!r} times model {doc.get('model')!r}, "
                        f"not {model!r}: measure the same model")
    try:
        return [Baseline(str(r.get("framework") or f"torch {doc.get('torch', '?')}"),
                         str(doc["device"]), r["mode"],
                         r["dtype"], r["batch"], float(r["seconds_per_call"]),
                         int(r.get("repeats", 1)), f"file {path.name}")
                for r in doc["results"]]
    except (KeyError, TypeError, AttributeError) as exc:
        raise ResultFileError(f"{path}: a result lacks {exc} (see the format in "
                              "spicecim/models/baseline.py)") from exc


@dataclass(frozen=True, slots=True)
class Comparison:
    """The analog model against one baseline under one schedule.

    Against a batch-1 figure: ``speedup`` = digital latency / analog sample latency. Against a
    batched figure: analog throughput (replicas / sample latency) / digital throughput.
    """

    baseline: Baseline
    schedule: str
    speedup: float


def compare_to(baseline: Baseline, schedule: str, sample_latency_s: float, replicas: int
               ) -> Comparison:
    if baseline.kind == "latency":
        return Comparison(baseline, schedule, baseline.per_sample_s / sample_latency_s)
    return Comparison(baseline, schedule,
                      (replicas / sample_latency_s) / baseline.throughput_per_s)
