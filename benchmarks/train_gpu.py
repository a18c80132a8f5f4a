"""GPU training check: a 0.5B-parameter Qwen2-architecture model (random init), full and LoRA, tunelab vs
TRL ``SFTTrainer`` side by side in one invocation: target tokens/s and peak GPU memory.

The model has Qwen2-0.5B's shapes (hidden 896, 24 layers, 14 heads / 2 KV heads, MLP 4864, vocabulary
151,936, tied embeddings: about 494M parameters), randomly initialised and saved as safetensors with
tunelab-tiny's tokenizer (its ids are a subset of the vocabulary), so no download is needed. The data, the
rows and the settings are ``train_throughput.py``'s (mixed-length synthetic instruction examples, the same
tokens per step for both trainers, AdamW, cosine, clipping 1.0); both trainers use bf16 where the GPU has
it. TRL is run padded (its fastest configuration on the CPU benchmark) and packed; the faster one is
compared. Peak memory is ``torch.cuda.max_memory_allocated``, reset before each run (on CPU, with
``--small``, it is the process's peak RSS so far, which only grows: not a per-run figure).

    python benchmarks/train_gpu.py [--steps 30] [--batch 32] [--pack-length 1024]
    python benchmarks/train_gpu.py --small   # a 2-layer model of the same family on CPU: checks the script runs

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["TUNELAB_NO_PROGRESS"] = "1"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import build_data, run_trl, run_tunelab  # noqa: E402

QWEN2_05B = {
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "tie_word_embeddings": True,
}
SMALL = {**QWEN2_05B, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "vocab_size": 4096}


def build_model(shape: dict[str, Any], out: Path) -> tuple[str, int]:
    """A randomly initialised Qwen2 with ``shape``, saved with tunelab-tiny's tokenizer; (folder, params)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from tunelab.models import load_tokenizer

    tok = load_tokenizer("tunelab-tiny")
    cfg = Qwen2Config(
        **shape,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    del model
    return str(out), params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32, help="examples per step for padded TRL")
    ap.add_argument("--pack-length", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--small", action="store_true", help="a 2-layer model of the same family (CPU check)")
    a = ap.parse_args()

    import logging

    import torch

    logging.getLogger("tunelab").setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    gpu = torch.cuda.is_available()
    if not gpu and not a.small:
        sys.exit("no CUDA GPU here: run with --small to check the script on CPU")
    tmp = Path(tempfile.mkdtemp(prefix="tl-gpu-bench-"))
    model_dir, params = build_model(SMALL if a.small else QWEN2_05B, tmp / "qwen2")
    data, rows, stats = build_data(a.steps * a.batch, a.pack_length, tmp)
    rows_per_step = max(1, round(a.batch * stats["mean_tokens"] / a.pack_length))
    bf16 = gpu and torch.cuda.is_bf16_supported()
    print(
        f"model: Qwen2 {params / 1e6:.1f}M params; data: {stats}; packed rows per step: {rows_per_step} x "
        f"{a.pack_length}; device: {torch.cuda.get_device_name() if gpu else 'cpu'}",
        file=sys.stderr,
    )
    results: dict[str, Any] = {}
    plan = [
        (f"{trainer}-{method}{'-' + layout if layout else ''}", trainer, method, layout)
        for method in ("full", "lora")
        for trainer, layout in (("tunelab", ""), ("trl", "padded"), ("trl", "packed"))
    ]
    for name, trainer, method, layout in plan:
        if trainer == "tunelab":
            r = run_tunelab(
                data,
                tmp / name,
                a.steps,
                rows_per_step,
                a.pack_length,
                a.lr,
                model=model_dir,
                method=method,
                heldout=False,
            )
        else:
            r = run_trl(
                rows,
                tmp / name,
                a.steps,
                a.batch,
                layout == "packed",
                bf16,
                a.pack_length,
                rows_per_step,
                a.lr,
                model_dir=model_dir,
                lora=method == "lora",
                heldout=False,
            )
        results[name] = {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
        print(
            f"{name}: {r['target_tokens_per_s']:.0f} target tokens/s, peak {r['peak_memory_gib']:.2f} GiB",
            file=sys.stderr,
        )
        gc.collect()
        if gpu:
            torch.cuda.empty_cache()
    summary: dict[str, Any] = {}
    for method in ("full", "lora"):
        tl = results[f"tunelab-{method}"]
        best = max(("padded", "packed"), key=lambda x: results[f"trl-{method}-{x}"]["target_tokens_per_s"])
        trl = results[f"trl-{method}-{best}"]
        summary[method] = {
            "tunelab_target_tokens_per_s": tl["target_tokens_per_s"],
            "trl_target_tokens_per_s": trl["target_tokens_per_s"],
            "trl_config": best,
            "ratio": round(tl["target_tokens_per_s"] / trl["target_tokens_per_s"], 3),
            "tunelab_peak_memory_gib": tl["peak_memory_gib"],
            "trl_peak_memory_gib": trl["peak_memory_gib"],
        }
        print(
            f"{method}: tunelab {tl['target_tokens_per_s']:.0f} vs TRL ({best}) {trl['target_tokens_per_s']:.0f} "
            f"target tokens/s, ratio {summary[method]['ratio']:.2f}; peak memory {tl['peak_memory_gib']:.2f} vs "
            f"{trl['peak_memory_gib']:.2f} GiB"
        )
    print(
        json.dumps(
            {
                "benchmark": "train_gpu",
                "model": f"Qwen2 random init, {params} params{' (small)' if a.small else ''}",
                "device": torch.cuda.get_device_name() if gpu else "cpu",
                "bf16": bf16,
                "steps": a.steps,
                "batch_examples": a.batch,
                "pack_length": a.pack_length,
                "rows_per_step": rows_per_step,
                "summary": summary,
                "runs": results,
            }
        )
    )


if __name__ == "__main__":
    main()
