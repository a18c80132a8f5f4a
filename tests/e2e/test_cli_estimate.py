"""``tunelab estimate`` as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TUNELAB = str(Path(sys.executable).parent / "tunelab")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TUNELAB, "estimate", *args], capture_output=True, text=True, timeout=120)


def test_estimate_json_has_the_documented_keys() -> None:
    r = _run("--model", "tunelab-tiny", "--method", "lora", "--seq-len", "256", "--batch", "8", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"model", "arch", "inputs", "memory", "flops", "time", "fits"}
    mem = out["memory"]
    for k in (
        "weights_bytes",
        "gradients_bytes",
        "optimizer_bytes",
        "activations_bytes",
        "logits_bytes",
        "peak_bytes",
        "peak_gib",
        "trainable_params",
    ):
        assert k in mem
    assert mem["peak_bytes"] >= mem["weights_bytes"] + mem["optimizer_bytes"]
    assert out["inputs"]["method"] == "lora" and out["inputs"]["loss"] == "chunked"
    assert out["flops"]["flops_per_step"] > 0 and out["time"] is None


def test_estimate_with_gpu_and_table(tmp_path: Path) -> None:
    cfg = tmp_path / "llama.json"
    cfg.write_text(
        json.dumps(
            {"hidden_size": 1024, "num_hidden_layers": 8, "num_attention_heads": 16, "vocab_size": 32000}
        )
    )
    r = _run(
        "--model",
        str(cfg),
        "--method",
        "full",
        "--seq-len",
        "512",
        "--batch",
        "4",
        "--gpu",
        "A100-80GB",
        "--tokens",
        "1000000",
        "--json",
    )
    out = json.loads(r.stdout)
    assert out["time"]["peak_flops"] == 312e12 and out["time"]["seconds"] > 0 and out["fits"] is True
    r = _run("--model", "tunelab-tiny", "--method", "full", "--seq-len", "64", "--batch", "2")
    assert r.returncode == 0 and "peak" in r.stdout


def test_bad_model_path_exits_2() -> None:
    r = _run("--model", "./no/such/model", "--method", "lora", "--seq-len", "8", "--batch", "1", "--json")
    assert r.returncode == 2 and "no such model" in r.stderr
