"""Instruction tuning vs fine-tuning from one base model on one budget, measured on the same items.

Read top to bottom: plan the two runs -> train both (skipped when already done, so an interrupted
comparison resumes) -> build the evaluation slices -> evaluate base and both tuned models -> paired
statistics -> verdict -> ``compare.json`` (the report renders from it).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunelab._atomic import write_atomic, write_text_atomic
from tunelab._version import __version__
from tunelab.compare._analysis import overfitting_summary, read_curve, write_verdict
from tunelab.compare._paired import MODELS, accuracy_slice, forgetting_slice
from tunelab.config import Config, DataConfig, SourceConfig, dump_config, load_config
from tunelab.data import load
from tunelab.errors import InputError
from tunelab.evaluate import evaluate_model, suite_from_dict
from tunelab.models import describe_source, is_tiny, load_for_inference
from tunelab.synth import generate, get_task

__all__ = ["run_comparison", "plan_runs", "MODELS"]

EVAL_SEED_OFFSET = 1_000  # evaluation items come from seeds the training data never used

Progress = Callable[[str], None]


#: the shipped preset each run takes its approach from (``configs/instruction.yaml``, ``configs/finetune.yaml``)
PRESETS = {"instruction": "instruction", "finetune": "finetune"}


def _approach(preset: str) -> DataConfig:
    """The shipped preset's data settings, whose template slice, rendering and loss mask make a run instruction
    tuning or fine-tuning. The preset's budget (steps, batch, row length, schedule), model and tasks are not
    used: the comparison gives both runs its own, so they get the same compute on the same base."""
    d = load_config(preset).data
    slices = {s.templates for s in d.sources}
    if len(slices) != 1:
        raise InputError(f"preset {preset!r} mixes template slices {sorted(slices)}", field="data.sources")
    return d


def plan_runs(cfg: Config) -> dict[str, Config]:
    """The two training configs: same base, same optimizer steps, batch and row length (so the same
    compute); they differ only in data mixture, and in templates, rendering and loss mask, which come from
    the shipped ``instruction`` and ``finetune`` presets (see :func:`_approach`)."""
    c = cfg.compare
    if not c.instruction_tasks:
        raise InputError("list the tasks of the instruction mixture", field="compare.instruction_tasks")
    if c.target_task not in c.instruction_tasks:
        raise InputError(
            "the target task must be part of the instruction mixture", field="compare.target_task"
        )
    overlap = set(c.heldout_tasks) & set(c.instruction_tasks)
    if overlap:
        raise InputError(
            f"held-out tasks must not be trained on: {sorted(overlap)}", field="compare.heldout_tasks"
        )
    for t in [*c.instruction_tasks, *c.heldout_tasks]:
        get_task(t)  # unknown task -> InputError naming the closest one

    n = cfg.synth.n_per_task
    # the fine-tuned model sees the target task only, as many examples as the whole mixture has
    tasks = {
        "instruction": [(t, n) for t in c.instruction_tasks],
        "finetune": [(c.target_task, n * len(c.instruction_tasks))],
    }
    runs = {}
    for name, preset in PRESETS.items():
        p = _approach(preset)
        r = copy.deepcopy(cfg)
        r.run_name, r.output_dir = name, str(cfg.run_dir)
        r.data.sources = [SourceConfig(task=t, n=k, templates=p.sources[0].templates) for t, k in tasks[name]]
        r.data.render, r.data.mask = p.render, p.mask
        r.data.val_sources = []
        runs[name] = r
    return runs


def _train_or_reuse(name: str, rcfg: Config, say: Progress) -> dict[str, Any]:
    run_dir = rcfg.run_dir
    summary_path = run_dir / "train_summary.json"
    if summary_path.is_file() and (run_dir / "final").is_dir():
        say(f"[{name}] already trained: reusing {run_dir / 'final'}")
    else:
        from tunelab.train import train  # imports torch: loaded when a run trains, not with the package

        resume = (run_dir / "checkpoints").is_dir()
        say(f"[{name}] training {rcfg.train.max_steps} steps ({'resuming' if resume else 'from the base'})")
        train(rcfg, resume=resume)
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    curve = read_curve(run_dir / "metrics.jsonl")
    return {
        "run_dir": str(run_dir),
        "final_dir": str(run_dir / "final"),
        "data": [s.__dict__ for s in rcfg.data.sources],
        "render": rcfg.data.render,
        "curve": curve,
        "overfitting": overfitting_summary(curve, summary.get("early_stop_step")),
        "cost": {
            "wall_s": summary.get("wall_s", 0.0),
            "steps": summary.get("steps"),
            "target_tokens": summary.get("target_tokens", 0),
            "tokens_per_s": summary.get("tokens_per_s", 0.0),
            "peak_memory_gib": summary.get("peak_memory_gib", 0.0),
            "trainable_params": summary.get("trainable_params", 0),
        },
        "summary": summary,
    }


def _slices(cfg: Config) -> dict[str, dict[str, Any]]:
    """Slice definitions: suite data + how the slice is described in the report."""
    c, seed = cfg.compare, cfg.synth.seed + EVAL_SEED_OFFSET
    n = c.n_eval
    per_heldout = max(1, n // max(1, len(c.heldout_tasks)))
    out: dict[str, dict[str, Any]] = {
        "in_domain": {
            "name": "in-domain",
            "data": [{"task": c.target_task, "templates": "finetune", "n": n, "seed": seed}],
            "prompt": "plain",
            "description": f"{c.target_task} in its fixed fine-tuning format (the fine-tuned model's own format).",
        },
        "unseen_instructions": {
            "name": "unseen instructions",
            "data": [{"task": c.target_task, "templates": "heldout", "n": n, "seed": seed}],
            "prompt": "chat",
            "description": f"{c.target_task} through held-out instruction templates neither model trained on.",
        },
    }
    if c.heldout_tasks:
        out["unseen_tasks"] = {
            "name": "unseen tasks",
            "data": [
                {"task": t, "templates": "heldout", "n": per_heldout, "seed": seed} for t in c.heldout_tasks
            ],
            "prompt": "chat",
            "description": "held-out tasks neither model trained on ("
            + ", ".join(c.heldout_tasks)
            + "), through "
            "held-out templates.",
        }
    return out


def _suite(key: str, spec: dict[str, Any], cfg: Config) -> Any:
    return suite_from_dict(
        {
            "name": key,
            "kind": "generate",
            "description": spec["description"],
            "data": [{"path": spec["file"], "format": "tunelab"}],
            "prompt": {"format": spec["prompt"]},
            "decoding": {"max_new_tokens": cfg.eval.max_new_tokens, "temperature": cfg.eval.temperature},
            "extract": {"method": "auto"},
            "metrics": ["auto"],
            "n_bootstrap": cfg.eval.n_bootstrap,
            "bootstrap_seed": cfg.synth.seed,
        }
    )


def _ppl_suite(cfg: Config) -> Any:
    return suite_from_dict(
        {
            "name": "forgetting",
            "kind": "perplexity",
            "description": "held-out general prose (never seen in pretraining or tuning)",
            "data": [{"text": "general", "n": cfg.compare.n_eval}],
            "metrics": ["bits_per_byte", "perplexity"],
            "n_bootstrap": cfg.eval.n_bootstrap,
            "bootstrap_seed": cfg.synth.seed,
        }
    )


def _load(final_dir: str | None, cfg: Config) -> tuple[Any, Any]:
    """The base model (``final_dir`` None), a fully tuned folder, or the base with a LoRA adapter merged in."""
    mc = cfg.model
    opts: dict[str, Any] = {
        "dtype": mc.dtype,
        "device": mc.device,
        "chat_template": mc.chat_template,
        "trust_remote_code": mc.trust_remote_code,
    }
    if final_dir is None:
        return load_for_inference(mc.name_or_path, revision=mc.revision, **opts)
    if (Path(final_dir) / "adapter_config.json").is_file():
        return load_for_inference(mc.name_or_path, final_dir, revision=mc.revision, **opts)
    return load_for_inference(final_dir, **opts)


def _eval_all(
    cfg: Config, approaches: dict[str, dict[str, Any]], slices: dict[str, dict[str, Any]], say: Progress
) -> dict[str, dict[str, Any]]:
    """Evaluate every model on every slice; results cached as ``eval/<model>/<slice>/``."""
    suites = {k: _suite(k, v, cfg) for k, v in slices.items()}
    suites["forgetting"] = _ppl_suite(cfg)
    results: dict[str, dict[str, Any]] = {m: {} for m in MODELS}
    for m in MODELS:
        out = cfg.run_dir / "eval" / m
        todo = [k for k in suites if not (out / "eval" / k / "predictions.jsonl").is_file()]
        if todo:
            say(f"[eval] {m}: {', '.join(todo)}")
            model, tok = _load(None if m == "base" else approaches[m]["final_dir"], cfg)
            for k in todo:
                evaluate_model(model, tok, suites[k], out, model_path=m, batch_size=cfg.eval.batch_size)
            del model
        else:
            say(f"[eval] {m}: already evaluated")
        for k in suites:
            d = out / "eval" / k
            rows = [
                json.loads(x) for x in (d / "predictions.jsonl").read_text(encoding="utf-8").splitlines() if x
            ]
            results[m][k] = {
                "rows": rows,
                "scores": json.loads((d / "scores.json").read_text(encoding="utf-8")),
            }
    return results


def _trained_cases(runs: dict[str, Config]) -> set[tuple[str, str]]:
    """(task, case hash) of every example either approach was given, read from each run's
    ``run_dir/data/{train,val}.jsonl`` (written by training)."""
    seen: set[tuple[str, str]] = set()
    for rcfg in runs.values():
        for name in ("train", "val"):
            path = rcfg.run_dir / "data" / f"{name}.jsonl"
            if not path.is_file():
                raise InputError(
                    "the run's training examples are missing (trained by an older tunelab?): delete the run "
                    "directory to train it again",
                    file=str(path),
                )
            for ex in load(path, format="tunelab", training=False):
                if ex.meta.get("case_hash"):
                    seen.add((str(ex.meta.get("task")), str(ex.meta["case_hash"])))
    return seen


def _write_eval_sets(
    cfg: Config, runs: dict[str, Config], slices: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Generate each slice's items from evaluation seeds, drop every item whose case (the note, table or
    headline, under any template) either approach trained on, and write the sets to ``eval_sets/``.

    Returns:
        Per slice: candidates drawn, items dropped as seen in training, items kept.
    """
    seen = _trained_cases(runs)
    out_dir = cfg.run_dir / "eval_sets"
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, dict[str, Any]] = {}
    for key, spec in slices.items():
        kept_all, drawn, dropped = [], 0, 0
        for d in spec["data"]:
            pool = generate(d["task"], 4 * d["n"], seed=d["seed"], templates=d["templates"])
            drawn += len(pool)
            fresh = [ex for ex in pool if (d["task"], str(ex.meta.get("case_hash"))) not in seen]
            dropped += len(pool) - len(fresh)
            kept_all += fresh[: d["n"]]
        path = out_dir / f"{key}.jsonl"
        write_atomic(path, (ex.to_dict() for ex in kept_all))
        spec["file"] = str(path.resolve())
        report[key] = {"candidates": drawn, "dropped_seen_in_training": dropped, "kept": len(kept_all)}
    return report


def run_comparison(cfg: Config, say: Progress = print) -> dict[str, Any]:
    """Run the whole comparison and write ``RUN_DIR/compare.json``.

    Args:
        cfg: the resolved config (``compare`` names the target, the mixture and the held-out tasks).
        say: progress printer.

    Returns:
        The comparison (what ``compare.json`` holds).
    """
    t0 = time.time()
    run_dir = cfg.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, run_dir / "config.yaml")
    runs = plan_runs(cfg)
    approaches = {name: _train_or_reuse(name, rcfg, say) for name, rcfg in runs.items()}
    slices = _slices(cfg)
    contamination = _write_eval_sets(cfg, runs, slices)
    res = _eval_all(cfg, approaches, slices, say)
    out_slices = {k: accuracy_slice(k, spec, res, cfg) for k, spec in slices.items()}
    out_slices["forgetting"] = forgetting_slice(res, cfg)
    for m in approaches.values():
        m.pop("summary", None)
    t = cfg.train
    row_len = cfg.data.max_length
    data = {
        "title": f"{cfg.compare.target_task} ({cfg.run_name})",
        "base_model": cfg.model.name_or_path,
        "base_model_source": describe_source(cfg.model.name_or_path)["summary"],
        "tiny": is_tiny(cfg.model.name_or_path),
        "seed": cfg.synth.seed,
        "tunelab_version": __version__,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "budget": {
            "kind": cfg.compare.budget,
            "steps": t.max_steps,
            "batch_size": t.batch_size,
            "grad_accum": t.grad_accum,
            "row_length": row_len,
            "description": f"{t.max_steps} optimizer steps × {t.batch_size * t.grad_accum} "
            f"{'packed rows' if cfg.data.packing else 'examples'} of up to {row_len} tokens for each approach "
            f"({cfg.train.method}, lr {t.lr}, {t.schedule})"
            + (
                f", {t.replay_ratio:.0%} general-text replay in both (part of the training loss, not of the "
                "validation loss)"
                if t.replay_ratio
                else ""
            )
            + "; the approaches differ only in data, templates and rendering. Target tokens trained: instruction "
            f"{approaches['instruction']['cost']['target_tokens']:,}, finetune "
            f"{approaches['finetune']['cost']['target_tokens']:,}.",
        },
        "tasks": {
            "target": cfg.compare.target_task,
            "instruction_mixture": cfg.compare.instruction_tasks,
            "heldout": cfg.compare.heldout_tasks,
        },
        "approaches": approaches,
        "slices": out_slices,
        "contamination": {
            "rule": "an evaluation item is dropped when its case (note, table or headline, under any template) "
            "appears in either approach's training data; candidates are drawn from evaluation seeds",
            "slices": contamination,
        },
        "decoding": {
            "greedy": cfg.eval.temperature == 0,
            "temperature": cfg.eval.temperature,
            "max_new_tokens": cfg.eval.max_new_tokens,
        },
        "statistics": f"95% percentile bootstrap ({cfg.eval.n_bootstrap} resamples, seed {cfg.synth.seed}); paired "
        "bootstrap on the same items for differences; McNemar's test for accuracy.",
        "wall_s": round(time.time() - t0, 1),
    }
    data["verdict"] = write_verdict(out_slices, approaches)
    write_text_atomic(run_dir / "compare.json", json.dumps(data, indent=1, default=str))
    return data
