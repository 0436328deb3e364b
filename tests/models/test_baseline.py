"""Digital baselines: measured figures, GPU files, labels and the speed-up arithmetic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spicecim.errors import ResultFileError, SpecError
from spicecim.models.baseline import (
    Baseline,
    compare_to,
    cpu_baselines,
    gpu_baseline_json,
    load_gpu_baseline,
    measure_jax,
    measure_numpy,
)
from spicecim.models.presets import init_mlp, sample_inputs

ROOT = Path(__file__).resolve().parents[2]


def _gpu(mode: str, dtype: str, batch: int, seconds: float) -> Baseline:
    return Baseline("torch 2.5", "NVIDIA H100", mode, dtype, batch, seconds, 10, "test")


def test_numpy_is_timed_at_each_batch() -> None:
    mlp = init_mlp("nerf-4x256", np.random.default_rng(0))
    one, many = cpu_baselines(mlp, [1, 256], min_time_s=0.01)[:2]
    assert (one.batch, many.batch) == (1, 256)
    assert one.framework.startswith("numpy") and one.source == "measured in this run"
    assert one.per_sample_s == one.seconds_per_call > 0
    assert many.per_sample_s == pytest.approx(many.seconds_per_call / 256)
    assert many.throughput_per_s == pytest.approx(256 / many.seconds_per_call)
    assert one.kind == "latency" and many.kind == "throughput"
    assert one.flag.startswith("!")  # batch-1 eager
    again = measure_numpy(mlp, 1, np.random.default_rng(0), min_time_s=0.0)
    assert again.repeats >= 3


def test_jax_jit_is_timed_on_the_cpu_beside_numpy() -> None:
    mlp = init_mlp("mlp:16-32-4", np.random.default_rng(0))
    figures = cpu_baselines(mlp, [1, 512], min_time_s=0.01)
    jitted = [b for b in figures if b.framework.startswith("jax")]
    assert [(b.mode, b.dtype, b.batch) for b in jitted] == [("jit", "fp32", 1),
                                                             ("jit", "fp32", 512)]
    assert all(b.device.startswith("CPU") and b.source == "measured in this run" for b in jitted)
    assert "jit fp32 batch 512, CPU" in jitted[1].label
    assert jitted[0].flag == "batch 1: latency"  # compiled: no eager per-call flag
    half = measure_jax(mlp, 64, np.random.default_rng(1), dtype="fp16", min_time_s=0.0)
    assert (half.dtype, half.batch, half.repeats >= 3) == ("fp16", 64, True)


def test_the_jax_forward_pass_is_the_numpy_one() -> None:
    from spicecim.models import jax_mlp

    mlp = init_mlp("nerf", np.random.default_rng(2))
    inputs = sample_inputs(mlp, 32, np.random.default_rng(3))
    want = mlp.forward(inputs)
    got = jax_mlp.compiled(mlp)(jax_mlp.params_of(mlp), inputs)
    assert list(want) == ["sigma", "rgb"] and sorted(got) == sorted(want)  # JAX sorts keys
    for name in want:
        np.testing.assert_allclose(np.asarray(got[name]), want[name], rtol=1e-5, atol=1e-5)
    back = jax_mlp.with_params(mlp, jax_mlp.params_of(mlp))
    np.testing.assert_array_equal(back.layers[5].weight, mlp.layers[5].weight)


def test_labels_say_which_figures_are_fair() -> None:
    assert "batch-1 eager" in _gpu("eager", "fp32", 1, 1e-4).flag
    assert "training-loop" in _gpu("training-loop", "fp32", 1, 3e-5).flag
    assert _gpu("compile-cudagraphs", "fp16", 1, 1e-5).flag == "batch 1: latency"
    assert _gpu("compile", "fp16", 1 << 20, 1e-3).flag.startswith("honest")
    assert _gpu("eager", "fp16", 1 << 20, 1e-3).flag == ""
    assert "eager fp32 batch 1" in _gpu("eager", "fp32", 1, 1e-4).label


def test_speedup_is_a_latency_ratio_at_batch_1_and_a_throughput_ratio_batched() -> None:
    # analog: 100 ns per sample, 4 replicas -> 40 M samples/s
    latency = compare_to(_gpu("eager", "fp32", 1, 30e-6), "serialized", 100e-9, 4)
    assert latency.speedup == pytest.approx(30e-6 / 100e-9)  # replicas do not cut latency
    batched = compare_to(_gpu("compile", "fp16", 1 << 20, 2e-3), "serialized", 100e-9, 4)
    assert batched.speedup == pytest.approx(40e6 / ((1 << 20) / 2e-3))


def test_gpu_file_round_trip_and_refusals(tmp_path: Path) -> None:
    figures = [_gpu("eager", "fp32", 1, 1e-4), _gpu("compile", "fp16", 1 << 16, 1e-4),
               Baseline("jax 0.10", "NVIDIA H100", "jit", "fp16", 1 << 16, 5e-5, 10, "test")]
    doc = gpu_baseline_json("nerf-4x256", figures, torch_version="2.5", cuda_version="12.4",
                            created_utc="2026-01-01T00:00:00+00:00")
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(doc))
    loaded = load_gpu_baseline(path, "nerf-4x256")
    assert [(b.mode, b.dtype, b.batch, b.seconds_per_call) for b in loaded] == \
        [(b.mode, b.dtype, b.batch, b.seconds_per_call) for b in figures]
    assert loaded[0].device == "NVIDIA H100" and loaded[0].source == "file gpu.json"
    assert [b.framework for b in loaded] == ["torch 2.5", "torch 2.5", "jax 0.10"]
    assert loaded[2].flag.startswith("honest")
    # files written before results named their framework: torch's, from the document
    older = {**doc, "results": [{k: v for k, v in r.items() if k != "framework"}
                                for r in doc["results"]]}
    path.write_text(json.dumps(older))
    assert load_gpu_baseline(path, "nerf-4x256")[2].framework == "torch 2.5"
    path.write_text(json.dumps(doc))
    with pytest.raises(SpecError, match="times model 'nerf-4x256', not 'nerf'"):
        load_gpu_baseline(path, "nerf")
    with pytest.raises(SpecError, match="does not exist"):
        load_gpu_baseline(tmp_path / "none.json", "nerf")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ResultFileError, match="not a readable JSON"):
        load_gpu_baseline(tmp_path / "bad.json", "nerf")
    (tmp_path / "other.json").write_text(json.dumps({"format": "x"}))
    with pytest.raises(ResultFileError, match="not a GPU baseline"):
        load_gpu_baseline(tmp_path / "other.json", "nerf")
    doc["results"][0]["batch"] = 0
    path.write_text(json.dumps(doc))
    with pytest.raises(SpecError, match="batch"):
        load_gpu_baseline(path, "nerf-4x256")
    del doc["results"][0]["seconds_per_call"]
    path.write_text(json.dumps(doc))
    with pytest.raises(ResultFileError, match="seconds_per_call"):
        load_gpu_baseline(path, "nerf-4x256")


def test_gpu_benchmark_fails_in_one_line_without_a_gpu(tmp_path: Path) -> None:
    import jax

    if any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("JAX sees a GPU: the benchmark would run for real")
    try:
        import torch
    except ImportError:
        pass
    else:
        if torch.cuda.is_available():
            pytest.skip("a CUDA device is present: the benchmark would run for real")
    out = tmp_path / "gpu.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_baseline.py"),
                             "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("gpu_baseline: ")
    assert not out.exists()
