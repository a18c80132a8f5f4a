"""Generation throughput: tunelab's batched generation vs a per-example ``model.generate`` loop, and vs
lm-evaluation-harness (``HFLM.generate_until``) when it is importable, side by side in one process.

Same model, same ``--n`` prompts, same greedy settings (stop at EOS) for all three. Two workloads, each on
CPU in float32:

- ``short answers``: synthetic-task items through their held-out phrasings, chat template, on the tiny
  Llama after an N-step tunelab fine-tune on the four tasks (trained once and cached under
  ``--model-dir``). It answers in 2 to 32 tokens (``--max-new-tokens``) and stops at EOS at different
  lengths per row, so the prompt pass, which batching cannot shrink, is most of the work; and it scores
  above zero, which makes "the same accuracy as lm-eval" mean something.
- ``open-ended``: plain-text openings continued by the shipped base model, up to ``--long-new-tokens``:
  long free generations, the shape of Self-Instruct / Evol-Instruct and judge calls, where decoding
  dominates.

Checks: tunelab's token ids equal the per-example loop's on every item; lm-eval's texts give the same
accuracy under the same extraction and scorer. Figures: wall time per pass, median over ``--reps``
alternating repetitions (the per-example loop over ``--loop-reps``), and the ratios. The last line printed
is one JSON object.

lm-evaluation-harness installs with the project's ``bench`` extra (``pip install -e ".[bench]"``, which pins
``lm-eval``); where it is not importable the comparison is skipped and the JSON says so.

    python benchmarks/generate_throughput.py [--n 128] [--max-new-tokens 32] [--long-new-tokens 128]
        [--reps 5] [--loop-reps 1] [--batch-size 128] [--model-dir DIR] [--train-steps 120]

On a real model (``--model smollm2-135m-instruct`` or a model folder) both workloads are chat prompts to that
model as it is: ``eval-like`` = the synthetic items' held-out phrasings (the template's default system prompt
included, ~80 tokens, short answers), ``open-ended`` = requests for a paragraph of text. Every tool runs in
every dtype of ``--dtypes`` (the weights loaded in float32, then in bfloat16, alike for all three), and the
fastest form of each *that gives the reference text* (the float32 per-example loop's) on at least 95% of
items is compared, the same rule for all three: bf16 matmuls are native on AVX-512 BF16 / AMX CPUs, but on
SmolLM2-135M bf16 weights change the greedy text of about half the items, so they are timed and reported
and do not count. tunelab is also timed with its shared-prefix KV reuse off
(``tunelab_no_prefix_s``) and with its linear layers on ``F.linear`` instead of weights packed for oneDNN
(``tunelab_unpacked_s``). Each fast form runs once untimed before the timed repetitions (its first pass pays
one-time costs: fresh memory's page faults, weight packing, set-up); ``times_s`` lists every timed pass. The last line then holds ``ratio_vs_lm_eval`` and ``ratio_vs_per_example``
(eval-like workload, fastest vs fastest) and the same-text count:

    python benchmarks/generate_throughput.py --model smollm2-135m-instruct [--n 64] [--n-open 16]
        [--max-new-tokens 32] [--long-new-tokens 64] [--reps 3] [--threads 2] [--dtypes float32,bfloat16]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

#: a form of a tool counts when its greedy text equals the float32 per-example loop's on this share
SAME_TEXT_SHARE = 0.95

TASKS = ["fin_sentiment", "triage_level", "revenue_trend", "lb_to_kg"]


def _items(n: int) -> list[Any]:
    from tunelab.synth import generate as synth

    per = -(-n // len(TASKS))
    return [ex for t in TASKS for ex in synth(t, per, seed=7, templates="heldout")][:n]


def _tuned_model(model_dir: str, steps: int) -> str:
    """A tunelab fine-tune of the tiny model on the benchmark's tasks (training phrasings, other seeds than
    the prompts), trained once and reused; returns the saved model's folder."""
    from pathlib import Path

    final = Path(model_dir) / f"gen-bench-{steps}" / "final"
    if (final / "config.json").exists():
        return str(final)
    from tunelab.config import config_from_dict
    from tunelab.train import train

    cfg = config_from_dict(
        {
            "run_name": f"gen-bench-{steps}",
            "output_dir": model_dir,
            "data": {
                "sources": [{"task": t, "n": 400, "templates": "train"} for t in TASKS],
                "val_ratio": 0.0,
                "max_length": 512,
            },
            "train": {"max_steps": steps, "batch_size": 8, "lr": 2e-3, "eval_every": 0, "save_every": 0},
        }
    )
    return str(train(cfg).final_dir)


def _accuracy(texts: list[str], items: list[Any]) -> float:
    from tunelab.evaluate._scoring import extract_item, resolve_metrics, score_items
    from tunelab.scoring import ExtractSpec

    answers = [extract_item(t, ex, ExtractSpec())[0] for t, ex in zip(texts, items)]
    metrics = resolve_metrics(["auto"], items)
    scores, per_item = score_items(metrics, items, answers, 1, 0, set(metrics))
    vals = [next(iter(p.values())) for p in per_item if p]
    return sum(vals) / len(vals)


def _open_ended_prompts(n: int) -> list[str]:
    """Plain-text openings for the base model to continue (no chat template): long free generations, the
    shape of Self-Instruct / Evol-Instruct and judge calls rather than of short-answer scoring."""
    from tunelab.synth import general_text

    return [t[:160] for t in general_text(n, seed=11)]


def _chat_open_ended(n: int) -> list[list[dict[str, str]]]:
    """Chat requests for free text (the real model's open-ended workload)."""
    from tunelab.synth import general_text

    return [
        [{"role": "user", "content": f"Write a paragraph that continues this text: {t[:120]}"}]
        for t in general_text(n, seed=11)
    ]


def _workload(
    name: str,
    model_path: str,
    items: list[Any] | None,
    args: argparse.Namespace,
    max_new_tokens: int,
    chats: list[list[dict[str, str]]] | None = None,
    dtype: str = "float32",
) -> dict[str, Any]:
    """tunelab vs the per-example loop (and lm-eval when importable) on one model; one result dict.
    ``items`` are synthetic-task items (chat prompts, scored); else ``chats`` (chat prompts, not scored);
    else open-ended plain prompts."""
    import torch

    import tunelab.generation._prompt_pass as gen_mod
    from tunelab.generation import Decoding, encode_prompts, generate_ids, render_prompt
    from tunelab.models import load_model, load_tokenizer

    model = load_model(model_path, device="cpu", dtype=dtype)
    tok = load_tokenizer(model_path)
    if items is not None or chats is not None:
        msgs = [ex.prompt_messages for ex in items] if items is not None else chats or []
        prompts = [render_prompt(m, tok, "chat") for m in msgs]
        ids = encode_prompts(tok, prompts, add_special_tokens=False)
    else:
        prompts = _open_ended_prompts(args.n)
        ids = encode_prompts(tok, prompts, add_special_tokens=True)
    dec = Decoding(max_new_tokens=max_new_tokens)
    eos = tok.eos_token_id

    def run_tunelab() -> list[list[int]]:
        return [g.token_ids for g in generate_ids(model, tok, ids, dec, batch_size=args.batch_size)]

    def run_no_prefix() -> list[list[int]]:
        saved, gen_mod.MIN_SHARED_PREFIX = gen_mod.MIN_SHARED_PREFIX, 1 << 30
        try:
            return run_tunelab()
        finally:
            gen_mod.MIN_SHARED_PREFIX = saved

    def run_unpacked() -> list[list[int]]:
        saved = os.environ.get("TUNELAB_PACKED_LINEAR")
        os.environ["TUNELAB_PACKED_LINEAR"] = "0"
        try:
            return run_tunelab()
        finally:
            if saved is None:
                del os.environ["TUNELAB_PACKED_LINEAR"]
            else:
                os.environ["TUNELAB_PACKED_LINEAR"] = saved

    def run_loop() -> list[list[int]]:
        out = []
        with torch.inference_mode():
            for p in ids:
                row = model.generate(
                    torch.tensor([p]),
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=tok.pad_token_id,
                    eos_token_id=eos,
                )[0, len(p) :].tolist()
                out.append(row[: row.index(eos)] if eos in row else row)
        return out

    lm = None
    lm_error = None
    try:
        from lm_eval.api.instance import Instance
        from lm_eval.models.huggingface import HFLM

        lm = HFLM(pretrained=model, tokenizer=tok, batch_size=args.batch_size, max_length=1024)
    except Exception as e:  # noqa: BLE001 - the peer is optional; say why it is missing
        lm_error = f"{type(e).__name__}: {e}"

    def run_lmeval() -> list[str]:
        assert lm is not None
        reqs = [
            Instance(
                request_type="generate_until",
                doc={},
                idx=0,
                arguments=(
                    p,
                    {"until": [tok.eos_token], "max_gen_toks": max_new_tokens, "do_sample": False},
                ),
            )
            for p in prompts
        ]
        return list(lm.generate_until(reqs, disable_tqdm=True))

    ablations = {"no_prefix": run_no_prefix, "unpacked": run_unpacked} if args.ablate else {}
    times: dict[str, list[float]] = {
        "tunelab": [],
        "per_example": [],
        "lm_eval": [],
        **{k: [] for k in ablations},
    }
    outputs: dict[str, Any] = {}
    # the fast two alternate (and swap order every rep) so that load from other processes hits both alike;
    # the slow per-example loop's reps are spread among theirs (one before rep j * reps // loop_reps), not run
    # back to back, so that a slow or a fast stretch of the machine does not fall on one tool only
    plan: list[tuple[str, Any]] = []
    loop_at = [j * args.reps // args.loop_reps for j in range(args.loop_reps)]
    for r in range(args.reps):
        plan += [("per_example", run_loop)] * loop_at.count(r)
        pair = [("tunelab", run_tunelab), ("lm_eval", run_lmeval)]
        plan += pair if r % 2 == 0 else pair[::-1]
        plan += list(ablations.items())
    # one untimed run of each fast form first: its first pass pays one-time costs (page faults of fresh
    # memory, tunelab's weight packing, lm-eval's set-up) that a median of 3 would otherwise take as a sample
    warm = {key: fn for key, fn in plan if key != "per_example"}
    for key, fn in warm.items():
        if not (key == "lm_eval" and lm is None):
            fn()
    for key, fn in plan:
        if key == "lm_eval" and lm is None:
            continue
        t0 = time.perf_counter()
        outputs[key] = fn()
        times[key].append(time.perf_counter() - t0)
    n_same = sum(a == b for a, b in zip(outputs["tunelab"], outputs["per_example"]))
    texts = [tok.decode(t, skip_special_tokens=True) for t in outputs["tunelab"]]
    med = {k: statistics.median(v) for k, v in times.items() if v}
    lengths = [len(t) for t in outputs["tunelab"]]
    result: dict[str, Any] = {
        "model": name,
        "dtype": dtype,
        "_ids": {
            **{k: outputs[k] for k in ("tunelab", "per_example")},
            "per_example_text": [tok.decode(t, skip_special_tokens=True) for t in outputs["per_example"]],
            "lm_eval_text": outputs.get("lm_eval"),
        },
        "mean_new_tokens": sum(lengths) / len(lengths),
        "tunelab_s": med["tunelab"],
        "times_s": {k: [round(t, 3) for t in v] for k, v in times.items() if v},
        "per_example_s": med["per_example"],
        "speedup_vs_per_example": med["per_example"] / med["tunelab"],
        "identical_to_per_example": n_same == len(ids),
        "n_identical": n_same,
        "tunelab_accuracy": _accuracy(texts, items) if items is not None else None,
        "mean_prompt_tokens": sum(map(len, ids)) / len(ids),
    }
    for key in ablations:  # tunelab with one saving undone: its time, and its text against the loop's
        result[f"tunelab_{key}_s"] = med[key]
        result[f"n_identical_{key}"] = sum(a == b for a, b in zip(outputs[key], outputs["per_example"]))
    print(
        f"[{name}, {dtype}] {result['mean_new_tokens']:.1f} new tokens/item; tunelab batched: {med['tunelab']:.2f}s  "
        f"per-example generate: {med['per_example']:.2f}s  ratio {result['speedup_vs_per_example']:.1f}x  "
        f"identical outputs: {n_same}/{len(ids)}"
    )
    if lm is not None:
        lm_texts = outputs["lm_eval"]
        result.update(
            {
                "lm_eval_s": med["lm_eval"],
                "speedup_vs_lm_eval": med["lm_eval"] / med["tunelab"],
                "lm_eval_accuracy": _accuracy(lm_texts, items) if items is not None else None,
                "n_same_text_as_lm_eval": sum(a == b for a, b in zip(texts, lm_texts)),
            }
        )
        acc = (
            f"accuracy tunelab {result['tunelab_accuracy']:.3f} vs lm-eval {result['lm_eval_accuracy']:.3f}  "
            if items is not None
            else ""
        )
        print(
            f"[{name}, {dtype}] lm-eval HFLM.generate_until: {med['lm_eval']:.2f}s  ratio "
            f"{result['speedup_vs_lm_eval']:.2f}x  {acc}same text {result['n_same_text_as_lm_eval']}/{len(ids)}"
        )
    else:
        result["lm_eval"] = f"skipped: {lm_error}"
        print(f"[{name}] lm-eval comparison skipped ({lm_error})")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--max-new-tokens", type=int, default=32, help="budget of the short-answer workload")
    ap.add_argument("--long-new-tokens", type=int, default=128, help="budget of the open-ended workload")
    ap.add_argument("--reps", type=int, default=5, help="repetitions of tunelab and lm-eval (alternating)")
    ap.add_argument("--loop-reps", type=int, default=1, help="repetitions of the slow per-example loop")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument(
        "--model-dir",
        default=os.path.join(os.path.expanduser("~"), ".cache", "tunelab", "benchmarks"),
        help="where the tuned model is trained once and cached",
    )
    ap.add_argument("--train-steps", type=int, default=120, help="fine-tuning steps for the tuned model")
    ap.add_argument("--model", default="tunelab-tiny", help="tunelab-tiny, or a real model's name or folder")
    ap.add_argument("--n-open", type=int, default=16, help="open-ended prompts (real model)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument(
        "--ablate",
        action="store_true",
        help="also time tunelab with each saving undone: no prefix sharing, no packed weights (always on a real model)",
    )
    ap.add_argument(
        "--dtypes",
        default="float32,bfloat16",
        help="(real model) weight dtypes every tool runs in, float32 first; the fastest of each tool is compared",
    )
    args = ap.parse_args()
    # tunelab keeps freed memory in the process (glibc mallopt) when it generates on CPU; set it before
    # any tool runs, so the per-example loop and lm-eval run on the same allocator settings
    from tunelab.generation import keep_freed_memory

    keep_freed_memory()
    if args.model != "tunelab-tiny":
        _real(args)
        return

    import torch

    from tunelab.models import tiny_model_dir

    items = _items(args.n)
    results = [
        _workload(
            f"short answers (tuned-{args.train_steps})",
            _tuned_model(args.model_dir, args.train_steps),
            items,
            args,
            args.max_new_tokens,
        ),
        _workload("open-ended (base)", str(tiny_model_dir()), None, args, args.long_new_tokens),
    ]
    for r in results:
        r.pop("_ids")
    try:
        import lm_eval

        lm_eval_version = getattr(lm_eval, "__version__", "")
    except ImportError:
        lm_eval_version = None
    print(
        json.dumps(
            {
                "benchmark": "generate_throughput",
                "device": "CPU, float32",
                "tasks": TASKS,
                "n_prompts": len(items),
                "max_new_tokens": {"short answers": args.max_new_tokens, "open-ended": args.long_new_tokens},
                "batch_size": args.batch_size,
                "reps": args.reps,
                "loop_reps": args.loop_reps,
                "torch_threads": torch.get_num_threads(),
                "lm_eval_version": lm_eval_version,
                "workloads": results,
            }
        )
    )


def _fastest(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return min((r for r in runs if key in r), key=lambda r: r[key])


def _real(args: argparse.Namespace) -> None:
    """Both workloads on a real model as it is, each tool in each of ``--dtypes`` (the model's weights
    loaded in that dtype for all three alike); the fastest form of each tool is compared, and every
    output is checked against the per-example loop in float32 (the reference text). The last line
    holds the ratio keys."""
    import torch

    from tunelab.models._load import resolve_model_path

    if args.threads:
        torch.set_num_threads(args.threads)
    args.ablate = True
    path = resolve_model_path(args.model)
    items = _items(args.n)
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    if dtypes[0] != "float32":
        raise SystemExit(
            "--dtypes must start with float32 (the per-example float32 loop is the reference text)"
        )
    workloads = {
        "eval-like": (items, None, args.max_new_tokens),
        "open-ended": (None, _chat_open_ended(args.n_open), args.long_new_tokens),
    }
    res: dict[str, Any] = {}
    for wname, (its, chats, budget) in workloads.items():
        runs = [_workload(wname, path, its, args, budget, chats=chats, dtype=d) for d in dtypes]
        ref, ref_text = runs[0]["_ids"]["per_example"], runs[0]["_ids"]["per_example_text"]
        need = math.ceil(SAME_TEXT_SHARE * len(ref))
        for r in runs:
            out = r.pop("_ids")
            r["same_as_per_example_fp32"] = {
                "tunelab": sum(a == b for a, b in zip(out["tunelab"], ref)),
                "per_example": sum(a == b for a, b in zip(out["per_example"], ref)),
                **(
                    {"lm_eval": sum(a == b for a, b in zip(out["lm_eval_text"], ref_text))}
                    if out["lm_eval_text"] is not None
                    else {}
                ),
            }
        summary: dict[str, Any] = {"runs": runs, "same_text_needed": f"{need}/{len(ref)}"}
        # each tool's fastest form among those that give the reference text on >= 95% of items
        best = {}
        for tool in ("tunelab", "per_example", "lm_eval"):
            ok = [r for r in runs if r["same_as_per_example_fp32"].get(tool, -1) >= need]
            timed = [r for r in runs if f"{tool}_s" in r]
            if not ok and timed:  # none gives the reference text: say so, compare the float32 form
                summary[f"{tool}_below_same_text_bar"] = True
                ok = timed[:1]
            if ok:
                best[tool] = min(ok, key=lambda r: r[f"{tool}_s"])
                summary[f"{tool}_fastest"] = best[tool]["dtype"]
        tl = best["tunelab"]
        summary["ratio_vs_per_example"] = best["per_example"]["per_example_s"] / tl["tunelab_s"]
        summary["same_text_as_per_example_fp32"] = f"{tl['same_as_per_example_fp32']['tunelab']}/{len(ref)}"
        summary["prefix_sharing_speedup"] = tl["tunelab_no_prefix_s"] / tl["tunelab_s"]
        summary["packed_weights_speedup"] = tl["tunelab_unpacked_s"] / tl["tunelab_s"]
        if "lm_eval" in best:
            summary["ratio_vs_lm_eval"] = best["lm_eval"]["lm_eval_s"] / tl["tunelab_s"]
        res[wname] = summary
        print(
            f"[{wname}] fastest with the reference text on >= {need}/{len(ref)}: tunelab {tl['dtype']} "
            f"{tl['tunelab_s']:.2f}s, per-example {summary['per_example_fastest']} "
            f"({summary['ratio_vs_per_example']:.2f}x)"
            + (
                f", lm-eval {summary['lm_eval_fastest']} ({summary['ratio_vs_lm_eval']:.2f}x)"
                if "ratio_vs_lm_eval" in summary
                else ""
            )
            + "; same as the float32 per-example loop, per dtype: "
            + "; ".join(f"{r['dtype']} {r['same_as_per_example_fp32']}" for r in runs)
        )
    ev = res["eval-like"]
    import lm_eval

    print(
        json.dumps(
            {
                "benchmark": "generate_throughput",
                "model": args.model,
                "device": "CPU",
                "dtypes": dtypes,
                "torch_threads": torch.get_num_threads(),
                "batch_size": args.batch_size,
                "reps": args.reps,
                "lm_eval_version": getattr(lm_eval, "__version__", ""),
                "workloads": res,
                "tunelab_dtype": ev["tunelab_fastest"],
                "ratio_vs_lm_eval": round(ev.get("ratio_vs_lm_eval", 0.0), 3),
                "ratio_vs_per_example": round(ev["ratio_vs_per_example"], 3),
                "same_text_as_per_example": ev["same_text_as_per_example_fp32"],
                "ratio_vs_lm_eval_open_ended": round(res["open-ended"].get("ratio_vs_lm_eval", 0.0), 3),
                "ratio_vs_per_example_open_ended": round(res["open-ended"]["ratio_vs_per_example"], 3),
                "prefix_sharing_speedup": round(ev["prefix_sharing_speedup"], 3),
                "packed_weights_speedup": round(ev["packed_weights_speedup"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
