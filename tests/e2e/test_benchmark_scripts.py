"""The GPU training benchmark runs end to end (its ``--small`` CPU form) and reports both trainers.

It needs a GPU for its real figures; this keeps the script from rotting where there is none. No timing is
asserted, only that every run happened and produced numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.toolchain import HAS_CXX

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_train_gpu_script_small_on_cpu(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "train_gpu.py"), "--small", "--steps", "4", "--batch", "4"]
        + ["--pack-length", "256"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["benchmark"] == "train_gpu" and result["device"] == "cpu"
    assert set(result["runs"]) == {
        f"{t}-{m}{s}"
        for m in ("full", "lora")
        for t, s in (("tunelab", ""), ("trl", "-padded"), ("trl", "-packed"))
    }
    for run in result["runs"].values():
        assert run["target_tokens_per_s"] > 0 and run["final_loss"] > 0
    for method in ("full", "lora"):
        assert result["summary"][method]["ratio"] > 0


def _tiny_folder() -> str:
    from tunelab.models import tiny_model_dir

    return str(tiny_model_dir())


@pytest.mark.slow
def test_train_throughput_real_model_form_runs(tmp_path: Path) -> None:
    """The ``--model`` form (written for SmolLM2-135M) run on the tiny model's folder: every TRL probe ran,
    both trainers trained on the same rows (their losses agree closely), and the ratio keys are there."""
    pytest.importorskip("trl")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--model", _tiny_folder()]
        + ["--method", "lora", "--steps", "4", "--probe-steps", "3", "--reps", "1", "--examples", "200"]
        + (["--compile"] if HAS_CXX else []),
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    run = result["runs"]["lora"]
    assert len(run["trl_probe_processed_tokens_per_s"]) == 7  # 2 forms x 3 precisions + checkpointing
    assert result["ratio_vs_trl_lora"] > 0 and 0 < result["mfu_lora"] < 1
    assert run["loss_rel_diff"] < 0.02  # the same batches in the same order
    # model FLOPs: the frozen weights' 4 * params, plus the adapters and attention, and MFU follows them
    assert run["model_flops_per_token"] > 4 * result["params"]
    assert run["tunelab"]["mfu_bf16_weights_only"] < run["tunelab"]["mfu_bf16"]
    # the peak is the best of several shapes, the 1024^3 product among them
    peak = result["matmul_peak_gflops"]
    assert peak["bf16"] >= peak["bf16_1024"] > 0
    assert run["tunelab"]["mfu_bf16"] <= run["tunelab"]["mfu_bf16_1024"]
    if HAS_CXX:  # compiled against eager: both timed, the same losses, the compile's cost counted
        c = run["compile"]
        assert c["eager_step_s"] > 0 and c["compiled_step_s"] > 0 and 0 < c["mfu_bf16_compiled"] < 1
        assert c["loss_rel_diff"] < 1e-3 and len(c["compile_s"]) == 1


@pytest.mark.slow
def test_generate_throughput_real_model_form_runs(tmp_path: Path) -> None:
    pytest.importorskip("lm_eval")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "generate_throughput.py"), "--model", _tiny_folder()]
        + ["--n", "8", "--n-open", "4", "--reps", "1", "--max-new-tokens", "8", "--long-new-tokens", "8"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ratio_vs_lm_eval"] > 0 and result["ratio_vs_per_example"] > 0
    assert result["same_text_as_per_example"] == "8/8"
    runs = [r for w in result["workloads"].values() for r in w["runs"]]
    assert {r["dtype"] for r in runs} == {"float32", "bfloat16"}  # every tool timed in both
    for key in ("no_prefix", "unpacked"):  # each saving undone: timed, and the same text in fp32
        assert all(r[f"tunelab_{key}_s"] > 0 for r in runs)
        assert all(r[f"n_identical_{key}"] == r["n_identical"] for r in runs if r["dtype"] == "float32")
    assert all(w["tunelab_fastest"] in ("float32", "bfloat16") for w in result["workloads"].values())
