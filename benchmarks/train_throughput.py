"""Training throughput: tunelab's loop vs TRL ``SFTTrainer``, side by side, one invocation.

Same model (the embedded tiny Llama), same tokens (both train on the rows tunelab's encoder
produced: identical input ids and loss masks), same optimizer (AdamW, lr, cosine without
warmup, clipping 1.0), same number of optimizer steps and the same tokens per step.

"Global batch": TRL padded takes ``--batch`` examples per step. Packed runs take
``round(batch * mean_example_tokens / pack_length)`` rows of ``pack_length`` tokens, i.e. the same
tokens per step. TRL is tried padded and packed, fp32 and bf16; the fastest configuration is
the one compared (and named in the output).

Figures: target tokens/s (tokens that carry loss) over the steady-state steps (the first two
steps are warm-up), median over ``--reps`` alternating repetitions; the mean loss of the last five
steps; model FLOPs utilization = 6 * params * processed tokens/s over a matmul peak measured here.
The last line printed is one JSON object.

    python benchmarks/train_throughput.py [--steps 20] [--batch 32] [--reps 3] [--threads 1]

On a real model (``--model smollm2-135m-instruct`` or a model folder) the comparison is the one in
``benchmarks/_train_real.py``: LoRA and full, the same packed rows in the same order for both trainers,
TRL probed in each of its forms, and the last line holds ``ratio_vs_trl_lora``, ``ratio_vs_trl_full``,
``mfu_lora`` and ``mfu_full`` (model FLOPs there count the weights, LoRA's adapters and the causal
attention inside each packed example: ``_train_real.flops_per_token``):

    python benchmarks/train_throughput.py --model smollm2-135m-instruct [--method both|lora|full]
        [--steps 6] [--probe-steps 3] [--reps 3] [--rows 4] [--pack-length 256] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["TUNELAB_NO_PROGRESS"] = "1"

TASKS = [
    "fin_sentiment",
    "triage_level",
    "med_abbrev",
    "revenue_trend",
    "extract_dose",
    "highest_revenue_year",
    "lb_to_kg",
    "percent_change",
]
WARMUP_STEPS = 2


def matmul_peak_gflops(dtype: Any) -> float:
    """The best GFLOP/s over ``tunelab.estimate._hardware.PEAK_SHAPES`` in ``dtype``."""
    from tunelab.estimate._hardware import peak_rate

    return peak_rate(dtype) / 1e9


HELDOUT: list[dict[str, Any]] = []  # encoded held-out examples (filled by build_data)


def heldout_loss(model: Any) -> float:
    """Mean NLL per target token on the held-out examples: the same yardstick for both trainers
    (the last steps' training losses are on different batches, so they differ by batch noise)."""
    import torch

    model.eval()
    nll, n = 0.0, 0
    with torch.no_grad():
        for r in HELDOUT:
            ids = torch.tensor([r["input_ids"]], device=model.device)
            labels = torch.tensor([r["labels"]], device=model.device)
            logits = model(input_ids=ids).logits[0, :-1].float()
            tgt = labels[0, 1:]
            keep = tgt != -100
            nll += torch.nn.functional.cross_entropy(logits[keep], tgt[keep], reduction="sum").item()
            n += int(keep.sum())
    return nll / n


def build_data(n: int, pack_length: int, tmp: Path) -> tuple[Path, list[dict[str, Any]], dict[str, float]]:
    """Mixed-length instruction examples (all fitting pack_length) and their tunelab encoding."""
    import tunelab.synth as synth
    from tunelab.data import encode
    from tunelab.models import load_tokenizer

    tok = load_tokenizer("tunelab-tiny")
    examples = []
    for i, task in enumerate(TASKS):
        examples += synth.generate(task, n // len(TASKS) + 20, seed=100 + i, templates="train")
    import random

    random.Random(0).shuffle(examples)
    keep, rows = [], []
    for ex in examples:  # one by one, so each kept example stays paired with its row
        r = encode([ex], tok, pack_length, mask="assistant", render="chat", overlong="drop")
        if r:
            keep.append(ex)
            rows.append(r[0])
        if len(keep) == n:
            break
    path = tmp / "data.jsonl"
    path.write_text("".join(ex.to_json() + "\n" for ex in keep), encoding="utf-8")
    heldout = []
    for i, task in enumerate(TASKS):
        exs = synth.generate(task, 64 // len(TASKS) + 1, seed=900 + i, templates="train")
        heldout += encode(exs, tok, pack_length, mask="assistant", render="chat", overlong="drop")
    HELDOUT[:] = heldout
    lens = [len(r["input_ids"]) for r in rows]
    targets = [sum(x != -100 for x in r["labels"]) for r in rows]
    stats = {
        "examples": len(rows),
        "mean_tokens": sum(lens) / len(lens),
        "min_tokens": min(lens),
        "max_tokens": max(lens),
        "mean_target_tokens": sum(targets) / len(targets),
        "tokens_per_target": sum(lens) / sum(targets),
    }
    return path, rows, stats


def run_tunelab(
    data: Path,
    out: Path,
    steps: int,
    rows_per_step: int,
    pack_length: int,
    lr: float,
    seed: int = 0,
    model: str = "tunelab-tiny",
    method: str = "full",
    heldout: bool = True,
) -> dict[str, Any]:
    """One tunelab run; target tokens/s over the steady-state steps, losses, peak memory."""
    from _measure import tunelab_config

    from tunelab.train import train

    cfg = tunelab_config(model, data, out, method, steps, rows_per_step, pack_length, lr, seed)
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    res = train(cfg)
    lines = [json.loads(x) for x in (out / "tunelab" / "metrics.jsonl").read_text().splitlines()]
    steady = lines[WARMUP_STEPS:]
    toks = [x["tokens"] - y["tokens"] for x, y in zip(steady, lines[WARMUP_STEPS - 1 :])]
    secs = [t / x["tokens_per_s"] for t, x in zip(toks, steady)]
    from tunelab.models import load_model

    return {
        "target_tokens_per_s": sum(toks) / sum(secs),
        "final_loss": statistics.mean(x["loss"] for x in lines[-5:]),
        "heldout_loss": heldout_loss(load_model(str(res.final_dir), device="cpu")) if heldout else None,
        "bf16": res.summary["bf16"],
        "efficiency": res.summary["data"]["token_efficiency"],
        "peak_memory_gib": res.summary["peak_memory_gib"],
    }


def run_trl(
    rows: list[dict[str, Any]],
    out: Path,
    steps: int,
    batch: int,
    packed: bool,
    bf16: bool,
    pack_length: int,
    rows_per_step: int,
    lr: float,
    seed: int = 0,
    model_dir: str | None = None,
    lora: bool = False,
    heldout: bool = True,
) -> dict[str, Any]:
    """One TRL ``SFTTrainer`` run on the same rows (on the GPU when there is one, else the CPU), from
    ``model_dir`` or tunelab-tiny; LoRA through ``peft_config`` with tunelab's default LoRA settings."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from tunelab.models import load_tokenizer, tiny_model_dir

    counted: list[int] = []
    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            times.append(time.perf_counter())

    class CountingSFT(SFTTrainer):
        def training_step(self, model: Any, inputs: Any, *a: Any, **k: Any) -> Any:
            counted.append(int((inputs["labels"][..., 1:] != -100).sum()))  # the shifted targets
            return super().training_step(model, inputs, *a, **k)

    ds = Dataset.from_list([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows])
    args = SFTConfig(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=rows_per_step if packed else batch,
        learning_rate=lr,
        lr_scheduler_type="cosine",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=not torch.cuda.is_available(),
        bf16=bf16,
        packing=packed,
        max_length=pack_length,
        dataloader_num_workers=0,
        seed=seed,
        data_seed=seed,
        disable_tqdm=True,
    )
    path = model_dir or str(tiny_model_dir())
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    peft_config = None
    if lora:
        from peft import LoraConfig as PeftLoraConfig

        from tunelab.config import LoraConfig

        ours = LoraConfig()
        peft_config = PeftLoraConfig(
            r=ours.r,
            lora_alpha=ours.alpha,
            lora_dropout=ours.dropout,
            target_modules=list(ours.target_modules),
            task_type="CAUSAL_LM",
        )
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer = CountingSFT(
        model=model,
        args=args,
        train_dataset=ds,
        processing_class=load_tokenizer(path),
        callbacks=[Timer()],
        peft_config=peft_config,
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # its per-step dicts on stdout would bury the result lines
    t0 = time.perf_counter()
    trainer.train()
    times.insert(0, t0)
    losses = [x["loss"] for x in trainer.state.log_history if "loss" in x]
    span = times[-1] - times[WARMUP_STEPS]
    from tunelab.train._monitor import peak_memory_gib

    return {
        "target_tokens_per_s": sum(counted[WARMUP_STEPS:]) / span,
        "final_loss": statistics.mean(losses[-5:]),
        "heldout_loss": heldout_loss(trainer.model) if heldout else None,
        "peak_memory_gib": peak_memory_gib("cuda" if torch.cuda.is_available() else "cpu"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tunelab-tiny", help="tunelab-tiny, a model name or folder")
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps (tiny 20, real 6)")
    ap.add_argument("--batch", type=int, default=32, help="examples per step for padded TRL (tiny)")
    ap.add_argument("--pack-length", type=int, default=None, help="packed row length (tiny 512, real 256)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch threads for both (tiny 1, real 2)")
    ap.add_argument("--lr", type=float, default=1e-3, help="(tiny)")
    ap.add_argument("--method", default="both", choices=["both", "lora", "full"], help="(real)")
    ap.add_argument("--rows", type=int, default=4, help="packed rows per step (real)")
    ap.add_argument("--examples", type=int, default=1032, help="instruction examples (real)")
    ap.add_argument("--probe-steps", type=int, default=3, help="steps of each TRL probe run (real)")
    ap.add_argument("--ckpt-check", action="store_true", help="also time tunelab with checkpointing (real)")
    ap.add_argument("--ablate", action="store_true", help="also time tunelab with each change undone (real)")
    ap.add_argument(
        "--compile", action="store_true", help="also time tunelab with train.compile against eager (real)"
    )
    ap.add_argument(
        "--in-process",
        action="store_true",
        help="run every trainer run in this process, not a fresh one each (real)",
    )
    a = ap.parse_args()
    real = a.model != "tunelab-tiny"
    a.steps = a.steps or (6 if real else 20)
    a.pack_length = a.pack_length or (256 if real else 512)
    a.threads = a.threads or (2 if real else 1)
    if real:
        import _train_real

        _train_real.main(a)
        return

    import torch

    torch.set_num_threads(a.threads)
    import logging

    logging.getLogger("tunelab").setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()

    tmp = Path(tempfile.mkdtemp(prefix="tl-bench-"))
    data, rows, stats = build_data(a.steps * a.batch, a.pack_length, tmp)
    rows_per_step = max(1, round(a.batch * stats["mean_tokens"] / a.pack_length))
    print(f"data: {stats}; packed rows per step: {rows_per_step} x {a.pack_length}", file=sys.stderr)
    from tunelab.models import load_model
    from tunelab.train import bf16_is_faster

    params = sum(p.numel() for p in load_model("tunelab-tiny", device="cpu").parameters())
    bf16 = bf16_is_faster("cpu")
    peak_dtype = torch.bfloat16 if bf16 else torch.float32
    peaks = [matmul_peak_gflops(peak_dtype)]  # re-measured after every repetition: the machine is shared

    # choose TRL's fastest configuration with a short probe of each
    probe_steps = max(WARMUP_STEPS + 3, a.steps // 3)
    variants = {
        "padded-fp32": (False, False),
        "padded-bf16": (False, True),
        "packed-fp32": (True, False),
        "packed-bf16": (True, True),
    }
    probe: dict[str, float] = {}
    same = {"batch": a.batch, "pack_length": a.pack_length, "rows_per_step": rows_per_step, "lr": a.lr}
    for name, (packed, use_bf16) in variants.items():
        r = run_trl(rows, tmp / f"probe-{name}", probe_steps, packed=packed, bf16=use_bf16, **same)
        probe[name] = r["target_tokens_per_s"]
        print(f"probe TRL {name}: {probe[name]:.0f} target tokens/s", file=sys.stderr)
    best = max(probe, key=lambda k: probe[k])
    packed, use_bf16 = variants[best]

    tl_runs, trl_runs = [], []
    for i in range(a.reps):
        # each repetition uses another seed (init is the shipped model; the seed sets the data order) for
        # both trainers: losses after a few steps depend on which examples share a step, so the loss
        # comparison is of medians over data orders
        tl_runs.append(
            run_tunelab(data, tmp / f"tl-{i}", a.steps, rows_per_step, a.pack_length, a.lr, seed=i)
        )
        trl_runs.append(
            run_trl(rows, tmp / f"trl-{i}", a.steps, packed=packed, bf16=use_bf16, seed=i, **same)
        )
        print(
            f"rep {i}: tunelab {tl_runs[-1]['target_tokens_per_s']:.0f}, TRL {best} "
            f"{trl_runs[-1]['target_tokens_per_s']:.0f} target tokens/s",
            file=sys.stderr,
        )
    tl_tps = statistics.median(r["target_tokens_per_s"] for r in tl_runs)
    trl_tps = statistics.median(r["target_tokens_per_s"] for r in trl_runs)
    tl_loss = statistics.median(r["final_loss"] for r in tl_runs)
    trl_loss = statistics.median(r["final_loss"] for r in trl_runs)
    tl_held = statistics.median(r["heldout_loss"] for r in tl_runs)
    trl_held = statistics.median(r["heldout_loss"] for r in trl_runs)
    peak = max(peaks)
    processed = tl_tps * stats["tokens_per_target"]  # real (non-pad) tokens/s, from the data's ratio
    mfu = 6 * params * processed / (peak * 1e9)
    result = {
        "benchmark": "train_throughput",
        "model": "tunelab-tiny",
        "params": params,
        "threads": a.threads,
        "steps": a.steps,
        "batch_examples": a.batch,
        "pack_length": a.pack_length,
        "rows_per_step": rows_per_step,
        "tunelab_target_tokens_per_s": round(tl_tps, 1),
        "trl_target_tokens_per_s": round(trl_tps, 1),
        "ratio": round(tl_tps / trl_tps, 3),
        "trl_config": best,
        "trl_probe_target_tokens_per_s": {k: round(v, 1) for k, v in probe.items()},
        "tunelab_final_loss": round(tl_loss, 4),
        "trl_final_loss": round(trl_loss, 4),
        "loss_rel_diff": round(abs(tl_loss - trl_loss) / trl_loss, 4),
        "tunelab_heldout_loss": round(tl_held, 4),
        "trl_heldout_loss": round(trl_held, 4),
        "heldout_loss_rel_diff": round(abs(tl_held - trl_held) / trl_held, 4),
        "tunelab_bf16": tl_runs[0]["bf16"],
        "tunelab_packing_efficiency": tl_runs[0]["efficiency"],
        "matmul_peak_gflops": round(peak, 1),
        "tunelab_mfu": round(mfu, 4),
        "data": stats,
    }
    print(
        f"tunelab {tl_tps:.0f} vs TRL ({best}) {trl_tps:.0f} target tokens/s: ratio {tl_tps / trl_tps:.2f}; "
        f"final loss {tl_loss:.4f} vs {trl_loss:.4f} (last 5 steps); held-out loss {tl_held:.4f} vs "
        f"{trl_held:.4f}; MFU {mfu:.1%} of {peak:.0f} GFLOP/s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
