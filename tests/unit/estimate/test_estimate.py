"""Estimates against real objects: parameter counts against transformers/peft models, and peak
training memory against a measured training run on CPU (fresh subprocess per measurement)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tunelab.errors import InputError
from tunelab.estimate import (
    arch_from_dict,
    estimate_flops,
    estimate_memory,
    get_hardware,
    load_arch,
    measure_cpu,
)

HERE = Path(__file__).parent
BIG = dict(
    vocab_size=8192,
    hidden_size=1024,
    intermediate_size=2816,
    num_hidden_layers=8,
    num_attention_heads=16,
    num_key_value_heads=16,
    tie_word_embeddings=False,
    max_position_embeddings=1024,
)


def _tiny_cfg() -> dict[str, object]:
    from tunelab.models import resolve_model_path

    full = json.loads((Path(resolve_model_path("tunelab-tiny")) / "config.json").read_text())
    keys = (
        "vocab_size",
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "tie_word_embeddings",
        "max_position_embeddings",
    )
    return {k: full[k] for k in keys}


def test_param_counts_match_transformers_and_peft() -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    for cfg in (_tiny_cfg(), {**BIG, "num_hidden_layers": 1, "num_key_value_heads": 4}):
        arch = arch_from_dict(cfg)
        with torch.device("meta"):
            model = LlamaForCausalLM(LlamaConfig(**cfg))
        assert arch.total_params() == sum(p.numel() for p in model.parameters())
        targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        peft_model = get_peft_model(model, LoraConfig(r=8, target_modules=targets))
        assert arch.lora_params(8) == sum(p.numel() for p in peft_model.parameters() if p.requires_grad)


def test_load_arch_sources(tmp_path: Path) -> None:
    assert load_arch("tunelab-tiny").hidden_size == 256
    (tmp_path / "llama.yaml").write_text(
        "hidden_size: 1024\nnum_hidden_layers: 8\nnum_attention_heads: 16\nvocab_size: 8192\n"
    )
    a = load_arch(str(tmp_path / "llama.yaml"))
    assert (a.hidden_size, a.num_layers, a.intermediate_size, a.head_dim) == (1024, 8, 4096, 64)
    (tmp_path / "bad.json").write_text('{"hidden_size": 8}')
    with pytest.raises(InputError, match="num_attention_heads"):
        load_arch(str(tmp_path / "bad.json"))
    with pytest.raises(InputError):
        load_arch("./no/such/dir")
    with pytest.raises(InputError, match="offline|cannot read"):
        load_arch("nobody-xyz/not-a-model")


def test_memory_parts_follow_the_method() -> None:
    arch = load_arch("tunelab-tiny")
    full = estimate_memory(arch, "full", 256, 8, "bfloat16")
    lora = estimate_memory(arch, "lora", 256, 8, "bfloat16")
    q = estimate_memory(arch, "qlora", 256, 8, "bfloat16")
    assert full.optimizer_bytes == full.trainable_params * 12  # fp32 moments + fp32 master
    assert lora.trainable_params < full.trainable_params and lora.optimizer_bytes == lora.trainable_params * 8
    assert q.weights_bytes < lora.weights_bytes
    ck = estimate_memory(arch, "full", 256, 8, "bfloat16", grad_ckpt=True)
    assert ck.activations_bytes < full.activations_bytes / 2
    chunked = estimate_memory(arch, "full", 256, 8, "bfloat16", loss="chunked", ce_chunk_tokens=256)
    assert chunked.logits_bytes < full.logits_bytes
    with pytest.raises(InputError):
        estimate_memory(arch, "prefix", 256, 8)


def test_flops_formula() -> None:
    arch = load_arch("tunelab-tiny")
    f = estimate_flops(arch, "full", 128, 4)
    n = arch.num_layers * arch.layer_params() + arch.vocab_size * arch.hidden_size
    assert f.flops_per_step == 6 * n * 512 + 12 * arch.num_layers * arch.hidden_size * 128**2 * 4
    assert estimate_flops(arch, "lora", 128, 4).flops_per_step < f.flops_per_step
    assert get_hardware("h100-sxm").peak_flops("bfloat16") == 989e12
    assert get_hardware("T4").peak_flops("bfloat16") == 65e12
    cpu = get_hardware("cpu")
    assert cpu.measured and cpu.peak_flops("float32") > 0
    assert "best of 7 matmul shapes" in cpu.note  # not one square: oneDNN's rate differs by shape
    with pytest.raises(InputError):
        get_hardware("TPUv9")


def test_cpu_peak_is_the_best_rate_over_the_shapes_given() -> None:
    import torch

    from tunelab.estimate._hardware import matmul_rate

    shapes = ((32, 64, 16), (64, 32, 64))
    hw = measure_cpu(shapes, reps=2)
    assert hw.measured and "best of 2 matmul shapes" in hw.note
    assert hw.peak_flops("bfloat16") > 0 and hw.peak_flops("float32") > 0
    assert matmul_rate(32, 64, 16, torch.float32, reps=1) > 0


def _measure(cfg: dict[str, object], method: str, batch: int, seq_len: int) -> int:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    args = json.dumps(
        {"config": cfg, "method": method, "batch": batch, "seq_len": seq_len, "lora_r": 16, "steps": 2}
    )
    r = subprocess.run(
        [sys.executable, str(HERE / "measure_train_peak.py"), args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return int(json.loads(r.stdout.strip().splitlines()[-1])["peak_delta_bytes"])


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to read peak RSS")
@pytest.mark.parametrize(
    "which,method,batch,seq_len",
    [("tiny", "full", 8, 256), ("tiny", "lora", 8, 256), ("big", "full", 1, 128), ("big", "lora", 2, 128)],
)
def test_peak_memory_estimate_within_25_percent_of_measured(
    which: str, method: str, batch: int, seq_len: int
) -> None:
    """Loss form assumed by both: standard HF ``forward(labels=...)``; fp32; AdamW per-tensor (CPU)."""
    cfg = _tiny_cfg() if which == "tiny" else BIG
    measured = _measure(cfg, method, batch, seq_len)
    est = estimate_memory(
        arch_from_dict(cfg), method, seq_len, batch, "float32", lora_r=16, loss="standard", foreach=False
    )
    ratio = est.peak_bytes / measured
    print(
        f"{which} {method} B={batch} T={seq_len}: measured {measured / 2**20:.1f} MiB, estimated {est.peak_bytes / 2**20:.1f} MiB, ratio {ratio:.3f}"
    )
    assert 0.75 <= ratio <= 1.25
