"""Training throughput on a real model (``train_throughput.py --model NAME``): tunelab vs TRL ``SFTTrainer``.

Same examples and the same batches: the synthetic instruction tasks are encoded once by tunelab (chat
template, loss on the assistant turns only) and packed into ``--rows`` rows of ``--pack-length`` tokens per
step. tunelab trains on them; TRL gets *the same rows in the same order* (a sequential sampler) in two
forms: ``packed`` = the rows as padding-free sequences (``seq_lengths``, TRL's own padding-free collator),
``padded`` = the rows' examples one per sequence, right-padded, as many per step as the rows hold on
average. Both trainers get the same labels (tunelab's masks), AdamW, lr, cosine schedule without warmup,
clipping 1.0, and for LoRA the same rank, alpha, targets and dropout (tunelab's defaults).

TRL is probed in every form the issue names: padded and packed, model in fp32, fp32 + bf16 autocast, model
loaded in bf16; the fastest of those is probed once more with gradient checkpointing, and the faster of the
two is timed against tunelab over the repetitions. Every run has a fresh process of its own (spawned; the
data are built once and handed over), so neither trainer inherits the heap, caches or page faults of the runs
before it and each peak RSS is the run's own; ``--in-process`` runs them all in one process. A form counts only when it trains as well on the same
batches: if its final loss is more than ``LOSS_TOL`` (2%) from tunelab's (a model loaded in bf16 is fast but
its updates round away), it is reported under ``trl_excluded_for_loss`` and the next fastest form is timed. Figures per run: target tokens/s and processed (non-pad) tokens/s over the steps after
``WARMUP`` steps, the mean loss of the last steps, the held-out loss, the peak RSS of the run (the process
high-water mark is reset before each run) and MFU = model FLOPs / s over a matmul peak measured in the same
run, in fp32 and bf16: the best of ``tunelab.estimate._hardware.PEAK_SHAPES`` (``mfu_bf16_1024`` is against the 1024^3
product alone, the peak this benchmark used before, which on an AMX CPU is half the best shape's). Model FLOPs per processed token (:func:`flops_per_token`, the same for both
trainers): 6 * params for full training, 4 * params + 6 * adapter params for LoRA (frozen weights get no
weight gradient), plus causal attention inside each example (PaLM's count). ``mfu_bf16_weights_only`` keeps
the earlier count (6 or 4 * params) for comparison with figures quoted before.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _measure import in_fresh_process, matmul_peaks, peak_gib, peak_reset, tunelab_config
from _train_ablate import ablate, apply_stand_ins, restore

TASKS = ["fin_sentiment", "triage_level", "revenue_trend", "lb_to_kg"]
WARMUP = 2
#: TRL's form is compared only when its final loss is within this share of tunelab's
LOSS_TOL = 0.02


def config(
    model: str, data: Path, out: Path, method: str, steps: int, rows: int, length: int, **train: Any
) -> Any:
    return tunelab_config(
        model, data, out, method, steps, rows, length, lr=2e-4 if method == "lora" else 2e-5, **train
    )


def build(model: str, tmp: Path, n: int, steps: int, rows: int, length: int) -> dict[str, Any]:
    """Examples on disk, and the packed rows each step of tunelab's run takes (its own data path)."""
    import tunelab.synth as synth
    from tunelab.data import encode
    from tunelab.models import load_tokenizer
    from tunelab.train._batches import BatchStream, build_train_data

    examples = [ex for i, t in enumerate(TASKS) for ex in synth.generate(t, n // len(TASKS), seed=100 + i)]
    path = tmp / "data.jsonl"
    path.write_text("".join(ex.to_json() + "\n" for ex in examples), encoding="utf-8")
    tok = load_tokenizer(model)
    cfg = config(model, path, tmp / "probe", "full", steps, rows, length)
    data = build_train_data(cfg, tok)
    stream = BatchStream(data.train_rows, rows, cfg.data.shuffle_seed + cfg.train.seed, tok.pad_token_id or 0)
    order: list[dict[str, Any]] = []
    for _ in range(steps):
        idx = stream._take(rows)
        order += [data.train_rows[i] for i in idx]
    held = [ex for i, t in enumerate(TASKS) for ex in synth.generate(t, 8, seed=900 + i, templates="heldout")]
    heldout = encode(held, tok, length, mask="assistant", render="chat", overlong="drop")
    real = [sum(r["seq_lens"]) for r in order]
    targets = [
        sum(1 for j, x in enumerate(r["labels"][1:], 1) if x != -100 and r["position_ids"][j] != 0)
        for r in order
    ]
    return {
        "path": path,
        "order": order,
        "heldout": heldout,
        "tokenizer": tok,
        "examples": len(examples),
        "rows_total": len(data.train_rows),
        "real_per_step": sum(real) / steps,
        "targets_per_step": sum(targets) / steps,
        "examples_per_row": sum(len(r["seq_lens"]) for r in order) / len(order),
        "efficiency": data.report["token_efficiency"],
        # keys one processed token attends to, on average, inside its own example (causal): sum L(L+1)/2 / sum L
        "attended_keys": sum(n * (n + 1) / 2 for r in order for n in r["seq_lens"]) / sum(real),
    }


def flops_per_token(
    model_cfg: Any, params: int, method: str, attended_keys: float, adapter_params: int = 0
) -> float:
    """Model FLOPs of one processed token in a training step, the same count for both trainers.

    Weights: 6 * params for full training (forward, input gradient, weight gradient); for LoRA 4 * params
    (frozen weights: forward and input gradient) plus 6 * the adapters' parameters. Attention (PaLM's
    appendix B, with causal masking inside each packed example): 3 passes x 2 matmuls x 2 FLOPs x layers x
    heads x head size x the keys a token attends to."""
    cfg = model_cfg.get_text_config() if hasattr(model_cfg, "get_text_config") else model_cfg
    heads = cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    attention = 12 * cfg.num_hidden_layers * heads * head_dim * attended_keys
    weights = 6 * params if method == "full" else 4 * params + 6 * adapter_params
    return weights + attention


def heldout_loss(model: Any, rows: list[dict[str, Any]]) -> float:
    """Mean NLL per target token on held-out examples (fp32, one at a time): one yardstick for both."""
    import torch

    model.eval()
    nll, n = 0.0, 0
    with torch.no_grad():
        for r in rows:
            ids = torch.tensor([r["input_ids"]])
            logits = model(input_ids=ids).logits[0, :-1].float()
            tgt = torch.tensor(r["labels"][1:])
            keep = tgt != -100
            nll += torch.nn.functional.cross_entropy(logits[keep], tgt[keep], reduction="sum").item()
            n += int(keep.sum())
    model.train()
    return nll / n


def _figures(
    times: list[float], losses: list[float], d: dict[str, Any], per_step: float | None = None
) -> dict[str, Any]:
    span = times[-1] - times[WARMUP]
    timed = len(times) - 1 - WARMUP
    return {
        "step_s": span / timed,
        "warmup_s": times[WARMUP] - times[0],
        "target_tokens_per_s": d["targets_per_step"] * timed / span,
        "processed_tokens_per_s": (per_step or d["real_per_step"]) * timed / span,
        "final_loss": statistics.mean(losses[-3:]),
        "peak_rss_gib": peak_gib(),
    }


def run_tunelab(
    model: str,
    d: dict[str, Any],
    tmp: Path,
    method: str,
    steps: int,
    rows: int,
    length: int,
    heldout: bool = True,
    **train: Any,
) -> dict[str, Any]:
    from tunelab.models import load_model
    from tunelab.train import train as tl_train

    out = tmp / f"tl-{time.monotonic_ns()}"
    cfg = config(model, d["path"], out, method, steps, rows, length, **train)
    peak_reset()
    res = tl_train(cfg)
    lines = [json.loads(x) for x in (out / "tunelab" / "metrics.jsonl").read_text().splitlines()]
    # metrics.jsonl records each step's target tokens / step time; rebuild the step end times from them
    times = [0.0]
    for x, prev in zip(lines, [{"tokens": 0}, *lines]):
        times.append(times[-1] + (x["tokens"] - prev["tokens"]) / x["tokens_per_s"])
    r = _figures(times, [x["loss"] for x in lines], d)
    r["bf16"] = res.summary["bf16"]
    r["trainable_params"] = res.summary["trainable_params"]
    if heldout:
        final = (
            load_model(str(res.final_dir), device="cpu")
            if method == "full"
            else _merged(model, res.final_dir)
        )
        r["heldout_loss"] = heldout_loss(final, d["heldout"])
    return r


def run_undone(keys: list[str], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """:func:`run_tunelab` with the ablation stand-ins ``keys`` in place, then put back (module-level, so that
    it can run in a process of its own)."""
    saved = apply_stand_ins(keys)
    try:
        return run_tunelab(*args, **kwargs)
    finally:
        restore(saved)


def _merged(model: str, adapter: Path) -> Any:
    from peft import PeftModel

    from tunelab.models import load_model

    return PeftModel.from_pretrained(load_model(model, device="cpu"), str(adapter))


def _trl_records(d: dict[str, Any], form: str, rows: int) -> tuple[list[dict[str, Any]], int]:
    """TRL's dataset for the same rows in the same order, and its sequences per step."""
    if form == "packed":
        recs = [
            {
                "input_ids": r["input_ids"][: sum(r["seq_lens"])],
                "labels": r["labels"][: sum(r["seq_lens"])],
                "seq_lengths": r["seq_lens"],
            }
            for r in d["order"]
        ]
        per_step = rows
    else:  # the rows' examples, one per sequence, in the same order
        recs = []
        for r in d["order"]:
            s = 0
            for n in r["seq_lens"]:
                recs.append({"input_ids": r["input_ids"][s : s + n], "labels": r["labels"][s : s + n]})
                s += n
        per_step = max(1, round(rows * d["examples_per_row"]))
    return recs, per_step


def run_trl(
    model: str,
    d: dict[str, Any],
    tmp: Path,
    method: str,
    steps: int,
    rows: int,
    length: int,
    form: str,
    precision: str,
    ckpt: bool,
    heldout: bool = True,
) -> dict[str, Any]:
    """One TRL run on the same rows in the same order; ``form`` packed|padded, ``precision``
    fp32|autocast|bf16-model."""
    import torch
    from datasets import Dataset
    from torch.utils.data import SequentialSampler
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from tunelab.config import LoraConfig
    from tunelab.models._load import resolve_model_path

    recs, per_step = _trl_records(d, form, rows)
    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_end(self, *a: Any, **k: Any) -> None:
            times.append(time.perf_counter())

    class Sequential(SFTTrainer):
        def _get_train_sampler(self, *a: Any, **k: Any) -> Any:
            return SequentialSampler(self.train_dataset)

    args = SFTConfig(
        output_dir=str(tmp / f"trl-{time.monotonic_ns()}"),
        max_steps=steps,
        per_device_train_batch_size=per_step,
        learning_rate=2e-4 if method == "lora" else 2e-5,
        lr_scheduler_type="cosine",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=precision == "autocast",
        padding_free=form == "packed",
        packing=False,
        max_length=None if form == "packed" else length,  # TRL: padding-free rows are already cut
        dataloader_num_workers=0,
        gradient_checkpointing=ckpt,
        seed=0,
        disable_tqdm=True,
    )
    peak_reset()
    path = resolve_model_path(model)
    m = AutoModelForCausalLM.from_pretrained(
        path, dtype=torch.bfloat16 if precision == "bf16-model" else torch.float32
    )
    peft_config = None
    if method == "lora":
        from peft import LoraConfig as PeftLoraConfig

        ours = LoraConfig()
        peft_config = PeftLoraConfig(
            r=ours.r,
            lora_alpha=ours.alpha,
            lora_dropout=ours.dropout,
            target_modules=list(ours.target_modules),
            task_type="CAUSAL_LM",
        )
    trainer = Sequential(
        model=m,
        args=args,
        train_dataset=Dataset.from_list(recs),
        processing_class=d["tokenizer"],
        callbacks=[Timer()],
        peft_config=peft_config,
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    times.append(time.perf_counter())
    trainer.train()
    losses = [x["loss"] for x in trainer.state.log_history if "loss" in x]
    r = _figures(times, losses, d)
    if heldout:
        r["heldout_loss"] = heldout_loss(trainer.model.float(), d["heldout"])
    return r


def _mfu(r: dict[str, Any], flops_per_token: float, peaks: dict[str, float]) -> None:
    for k, v in peaks.items():
        r[f"mfu_{k}"] = flops_per_token * r["processed_tokens_per_s"] / (v * 1e9)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _caller(a: Any) -> Any:
    """``call(fn, *args, **kwargs)``: ``fn`` in a fresh process of its own, or here with ``--in-process``."""

    def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs) if a.in_process else in_fresh_process(a.threads, fn, *args, **kwargs)

    return call


def bench_method(
    model: str,
    d: dict[str, Any],
    tmp: Path,
    method: str,
    a: Any,
    model_cfg: Any,
    params: int,
    peaks: list[dict[str, float]],
) -> dict[str, Any]:
    """Probe TRL, then alternate tunelab and the fastest TRL ``a.reps`` times; one summary dict. Each run in a
    fresh process of its own (``--in-process``: all in this one, as before)."""
    geo = {"method": method, "rows": a.rows, "length": a.pack_length}
    call = _caller(a)
    probe: dict[str, float] = {}

    def probe_trl(form: str, prec: str, ckpt: bool) -> None:
        """One short TRL run of a form; its processed tokens/s go into ``probe``."""
        name = f"{form}-{prec}" + ("-ckpt" if ckpt else "")
        r = call(
            run_trl,
            model,
            d,
            tmp,
            steps=a.probe_steps,
            form=form,
            precision=prec,
            ckpt=ckpt,
            heldout=False,
            **geo,
        )
        probe[name] = r["processed_tokens_per_s"]
        _log(
            f"[{method}] probe TRL {name}: {r['processed_tokens_per_s']:.0f} processed tok/s, peak {r['peak_rss_gib']:.2f} GiB"
        )

    for form in ("packed", "padded"):
        for prec in ("autocast", "fp32", "bf16-model"):
            probe_trl(form, prec, ckpt=False)
    excluded: dict[str, str] = {}
    # TRL's forms, fastest first; a form counts only when it trains as well as tunelab on the same batches
    # (final loss within LOSS_TOL): a bf16-loaded model is fast but may learn less, and that is no speed-up
    for best in sorted(probe, key=lambda k: -probe[k]):
        form, prec = best.split("-", 1)
        probe_trl(form, prec, ckpt=True)
        ckpt = probe[f"{best}-ckpt"] > probe[best]
        best = f"{best}-ckpt" if ckpt else best
        tl, trl = [], []
        for i in range(a.reps):
            pair = [
                ("tunelab", lambda: call(run_tunelab, model, d, tmp, steps=a.steps, **geo)),
                (
                    "trl",
                    lambda form=form, prec=prec, ckpt=ckpt: call(
                        run_trl, model, d, tmp, steps=a.steps, form=form, precision=prec, ckpt=ckpt, **geo
                    ),
                ),
            ]
            for name, fn in pair if i % 2 == 0 else pair[::-1]:
                (tl if name == "tunelab" else trl).append(fn())
                x = (tl if name == "tunelab" else trl)[-1]
                _log(
                    f"[{method}] rep {i} {name}: {x['processed_tokens_per_s']:.0f} processed tok/s, loss {x['final_loss']:.4f}, held-out {x.get('heldout_loss', 0):.4f}, peak {x['peak_rss_gib']:.2f} GiB"
                )
            peaks.append(matmul_peaks())
        gap = abs(tl[-1]["final_loss"] - trl[-1]["final_loss"]) / trl[-1]["final_loss"]
        if gap <= LOSS_TOL:
            break
        excluded[best] = (
            f"{statistics.median(x['processed_tokens_per_s'] for x in trl):.1f} processed tok/s, final loss "
            f"{trl[-1]['final_loss']:.4f} vs tunelab's {tl[-1]['final_loss']:.4f} ({gap:.1%} apart)"
        )
        _log(f"[{method}] TRL {best} does not count: {excluded[best]}; next fastest form")
    extra: dict[str, Any] = {}
    if a.ablate:
        extra["ablation"] = ablate(call, run_undone, model, d, tmp, method, a, geo)
    if a.ckpt_check:
        g = call(run_tunelab, model, d, tmp, steps=a.probe_steps + 1, heldout=False, grad_ckpt=True, **geo)
        extra["tunelab_grad_ckpt"] = {k: round(v, 3) for k, v in g.items() if isinstance(v, float)}
        _log(
            f"[{method}] tunelab with gradient checkpointing: {g['processed_tokens_per_s']:.0f} tok/s, peak {g['peak_rss_gib']:.2f} GiB"
        )
    peak = {k: max(p[k] for p in peaks) for k in ("fp32", "bf16", "bf16_1024")}
    adapters = tl[0]["trainable_params"] if method == "lora" else 0
    fpt = flops_per_token(model_cfg, params, method, d["attended_keys"], adapters)
    if a.compile:
        c = extra["compile"] = compiled_vs_eager(a, d, tmp, geo)
        c["mfu_bf16_compiled"] = round(fpt * c["compiled_processed_tokens_per_s"] / (peak["bf16"] * 1e9), 4)
    # the count before attention and adapters were added
    weights_only = (6 if method == "full" else 4) * params

    def med(runs: list[dict[str, Any]]) -> dict[str, Any]:
        m = {k: statistics.median(r[k] for r in runs) for k in runs[0] if isinstance(runs[0][k], float)}
        _mfu(m, fpt, peak)
        m["mfu_bf16_weights_only"] = weights_only * m["processed_tokens_per_s"] / (peak["bf16"] * 1e9)
        return {k: round(v, 4) for k, v in m.items()}

    t, p = med(tl), med(trl)
    return {
        "tunelab": t,
        "trl": p,
        "model_flops_per_token": round(fpt),
        "trl_config": best,
        "trl_probe_processed_tokens_per_s": {k: round(v, 1) for k, v in probe.items()},
        "trl_excluded_for_loss": excluded,
        "ratio": round(t["processed_tokens_per_s"] / p["processed_tokens_per_s"], 3),
        "loss_rel_diff": round(abs(t["final_loss"] - p["final_loss"]) / p["final_loss"], 4),
        "heldout_rel_diff": round(abs(t["heldout_loss"] - p["heldout_loss"]) / p["heldout_loss"], 4),
        **extra,
    }


def _alternating(
    a: Any, d: dict[str, Any], tmp: Path, variants: dict[str, dict[str, Any]], tag: str
) -> dict[str, list[dict[str, Any]]]:
    """``a.reps`` pairs of tunelab runs of the two ``variants`` (name -> :func:`run_tunelab` keyword arguments),
    the order swapped every pair, each run in a process of its own, right after each other, so the host's drift
    over the benchmark's other runs does not decide which is faster; every run's figures, by variant."""
    call = _caller(a)
    names = list(variants)
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for i in range(a.reps):
        for name in names if i % 2 == 0 else names[::-1]:
            r = call(run_tunelab, a.model, d, tmp, steps=a.steps, heldout=False, **variants[name])
            runs[name].append(r)
            _log(
                f"[{tag}] rep {i} {name}: step {r['step_s']:.2f} s, warm-up steps {r['warmup_s']:.1f} s, "
                f"loss {r['final_loss']:.4f}"
            )
    return runs


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def compiled_vs_eager(a: Any, d: dict[str, Any], tmp: Path, geo: dict[str, Any]) -> dict[str, Any]:
    """tunelab with ``train.compile`` against eager, in alternating pairs: the median step time after the
    warm-up steps, and what compiling costs: the compiled run's warm-up steps (where dynamo traces and inductor
    builds) less the eager run's, per pair (later pairs may load inductor's on-disk cache of the first one's
    kernels)."""
    runs = _alternating(a, d, tmp, {"eager": geo, "compiled": {**geo, "compile": True}}, geo["method"])
    eager, compiled = _median(runs["eager"], "step_s"), _median(runs["compiled"], "step_s")
    return {
        "eager_step_s": round(eager, 3),
        "compiled_step_s": round(compiled, 3),
        "speedup": round(eager / compiled, 3),
        "compiled_processed_tokens_per_s": round(_median(runs["compiled"], "processed_tokens_per_s"), 1),
        "compile_s": [
            round(c["warmup_s"] - e["warmup_s"], 1) for e, c in zip(runs["eager"], runs["compiled"])
        ],
        "loss_rel_diff": round(
            abs(_median(runs["compiled"], "final_loss") / _median(runs["eager"], "final_loss") - 1), 5
        ),
    }


def lora_vs_full(a: Any, d: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """tunelab's LoRA and full steps timed side by side in alternating pairs: the median step times and their
    ratio."""
    geo = {"rows": a.rows, "length": a.pack_length}
    runs = _alternating(a, d, tmp, {m: {**geo, "method": m} for m in ("lora", "full")}, "side by side")
    lora, full = _median(runs["lora"], "step_s"), _median(runs["full"], "step_s")
    return {
        "side_by_side_step_s": {"lora": round(lora, 3), "full": round(full, 3)},
        "lora_step_over_full_step": round(lora / full, 3),
    }


def main(a: Any) -> None:
    import tempfile

    import torch

    from tunelab.models import load_model

    torch.set_num_threads(a.threads)
    import logging

    from transformers.utils import logging as hf_logging

    logging.getLogger("tunelab").setLevel(logging.ERROR)
    hf_logging.set_verbosity_error()
    tmp = Path(tempfile.mkdtemp(prefix="tl-bench-real-"))
    d = build(a.model, tmp, a.examples, a.steps, a.rows, a.pack_length)
    base = load_model(a.model, device="cpu")
    params, model_cfg = sum(p.numel() for p in base.parameters()), base.config
    del base
    _log(
        f"data: {d['examples']} examples -> {d['rows_total']} packed rows (fill {d['efficiency']}); per step {a.rows} x "
        f"{a.pack_length}: {d['real_per_step']:.0f} real tokens, {d['targets_per_step']:.0f} targets, "
        f"{d['examples_per_row']:.2f} examples per row, {d['attended_keys']:.1f} keys attended per token"
    )
    peaks = [matmul_peaks()]
    methods = ["lora", "full"] if a.method == "both" else [a.method]
    res = {m: bench_method(a.model, d, tmp, m, a, model_cfg, params, peaks) for m in methods}
    side = lora_vs_full(a, d, tmp) if a.method == "both" else {}
    peak = {k: round(max(p[k] for p in peaks), 1) for k in ("fp32", "bf16", "bf16_1024")}
    for m, r in res.items():
        print(
            f"[{m}] tunelab {r['tunelab']['processed_tokens_per_s']:.0f} vs TRL ({r['trl_config']}) "
            f"{r['trl']['processed_tokens_per_s']:.0f} processed tok/s: {r['ratio']:.2f}x; target tok/s "
            f"{r['tunelab']['target_tokens_per_s']:.0f} vs {r['trl']['target_tokens_per_s']:.0f}; loss "
            f"{r['tunelab']['final_loss']:.4f} vs {r['trl']['final_loss']:.4f}; held-out {r['tunelab']['heldout_loss']:.4f} "
            f"vs {r['trl']['heldout_loss']:.4f}; peak RSS {r['tunelab']['peak_rss_gib']:.2f} vs {r['trl']['peak_rss_gib']:.2f} GiB; "
            f"MFU (bf16 peak {peak['bf16']:.0f} GFLOP/s) {r['tunelab']['mfu_bf16']:.1%} vs {r['trl']['mfu_bf16']:.1%}"
        )
    out: dict[str, Any] = {
        "benchmark": "train_throughput",
        "model": a.model,
        "params": params,
        "threads": a.threads,
        "steps": a.steps,
        "warmup_steps": WARMUP,
        "reps": a.reps,
        "rows_per_step": a.rows,
        "pack_length": a.pack_length,
        "matmul_peak_gflops": peak,
        "runs": res,
    }
    out.update(side)
    for m, r in res.items():
        out[f"ratio_vs_trl_{m}"] = r["ratio"]
        out[f"mfu_{m}"] = r["tunelab"]["mfu_bf16"]
        out[f"loss_rel_diff_{m}"] = r["loss_rel_diff"]
    print(json.dumps(out))
