"""Planning a comparison: the two training configs (one budget, two data mixtures), one pair per seed, the
user-file target split, and the token budget.

``budget: steps`` gives both methods the same optimizer steps, batch and row length (the same compute).
``budget: tokens`` gives both the same number of target tokens (tokens that carry loss): the instruction run
keeps ``train.max_steps`` and the fine-tuning run gets the steps that train on as many target tokens, from
the measured target tokens per packed row of each method's data.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

from tunelab.config import Config, DataConfig, SourceConfig, load_config
from tunelab.data import load, split
from tunelab.errors import InputError
from tunelab.synth import get_task

__all__ = ["plan_runs", "seed_runs", "target_split", "match_token_budget", "user_target_paths"]


def user_target_paths(cfg: Config) -> tuple[Path, Path]:
    """Where a user-file target's training and evaluation parts are written (``RUN_DIR/target/``)."""
    d = cfg.run_dir / "target"
    return d / "train.jsonl", d / "eval.jsonl"


def target_split(cfg: Config) -> tuple[list[Any], list[Any]]:
    """Split ``compare.target_file`` into training and evaluation examples (seeded, stratified by task) and
    write both parts under ``RUN_DIR/target/`` in tunelab's own format.

    Raises:
        InputError: a file too small to split, or any bad record (file, line, field named).
    """

    c = cfg.compare
    assert c.target_file is not None
    examples = load(c.target_file, format=c.target_format)
    if len(examples) < 4:
        raise InputError(
            f"{len(examples)} example(s): too few to split into training and evaluation",
            file=c.target_file,
            field="compare.target_file",
        )
    frac = min(c.target_eval_fraction, c.n_eval / len(examples))
    parts = split(examples, {"train": 1.0 - frac, "eval": frac}, seed=cfg.synth.seed)
    tr, ev = parts["train"], parts["eval"]
    for i, ex in enumerate(ev):
        ex.meta.setdefault("task", "target")
        ex.id = ex.id or f"target-{i:05d}"
    train_path, eval_path = user_target_paths(cfg)
    train_path.parent.mkdir(parents=True, exist_ok=True)
    train_path.write_text("".join(ex.to_json() + "\n" for ex in tr), encoding="utf-8")
    eval_path.write_text("".join(ex.to_json() + "\n" for ex in ev), encoding="utf-8")
    return tr, ev


def _check_tasks(cfg: Config) -> None:
    c = cfg.compare
    if c.target_file is None and not c.instruction_tasks:
        raise InputError("list the tasks of the instruction mixture", field="compare.instruction_tasks")
    if c.target_file is None and c.target_task not in c.instruction_tasks:
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


#: the shipped preset each run takes its approach from (``configs/instruction.yaml``, ``configs/finetune.yaml``)
PRESETS = {"instruction": "instruction", "finetune": "finetune"}


def _approach(name: str) -> DataConfig:
    """The shipped preset's data settings, whose template slice, rendering and loss mask make a run instruction
    tuning or fine-tuning. The preset's budget (steps, batch, row length, schedule), model and tasks are not
    used: the comparison gives both runs its own, so they get the same compute on the same base."""
    d = load_config(PRESETS[name]).data
    slices = {s.templates for s in d.sources}
    if len(slices) != 1:
        raise InputError(
            f"preset {PRESETS[name]!r} mixes template slices {sorted(slices)}", field="data.sources"
        )
    return d


def plan_runs(cfg: Config) -> dict[str, Config]:
    """The two training configs: same base, same optimizer steps, batch and row length (so the same
    compute); they differ only in data mixture, and in templates, rendering and loss mask, which come from
    the shipped ``instruction`` and ``finetune`` presets (see :func:`_approach`).

    With ``compare.target_file`` the instruction mixture is the file's training part (weight
    ``target_weight``) plus the synthetic tasks plus ``instruction_files``; the fine-tuned model trains on the
    file's training part alone, in plain rendering.
    """
    c = cfg.compare
    _check_tasks(cfg)
    pi, pf = _approach("instruction"), _approach("finetune")
    ti, tf = pi.sources[0].templates, pf.sources[0].templates
    n = cfg.synth.n_per_task
    inst = copy.deepcopy(cfg)
    inst.run_name, inst.output_dir = "instruction", str(cfg.run_dir)
    fine = copy.deepcopy(cfg)
    fine.run_name, fine.output_dir = "finetune", str(cfg.run_dir)
    if c.target_file is None:
        inst.data.sources = [
            SourceConfig(task=t, n=n, templates=ti, weight=c.target_weight if t == c.target_task else 1.0)
            for t in c.instruction_tasks
        ]
        # the fine-tuned model sees the target task only, as many examples as the whole mixture has
        fine.data.sources = [SourceConfig(task=c.target_task, n=n * len(c.instruction_tasks), templates=tf)]
    else:
        train_path = str(user_target_paths(cfg)[0])
        inst.data.sources = [
            SourceConfig(path=train_path, format="tunelab", weight=c.target_weight),
            *(SourceConfig(task=t, n=n, templates=ti) for t in c.instruction_tasks),
        ]
        fine.data.sources = [SourceConfig(path=train_path, format="tunelab")]
    inst.data.sources += [copy.deepcopy(s) for s in c.instruction_files]
    inst.data.render, inst.data.mask = pi.render, pi.mask
    fine.data.render, fine.data.mask = pf.render, pf.mask
    for r in (inst, fine):
        r.data.val_sources = []
    return {"instruction": inst, "finetune": fine}


def seed_runs(runs: dict[str, Config], seeds: list[int]) -> dict[str, dict[int, Config]]:
    """One config per method and seed: the seed sets the data order and the initialization
    (``data.shuffle_seed`` and ``train.seed``); the run lands in ``RUN_DIR/<method>/seed-<s>/``."""
    out: dict[str, dict[int, Config]] = {}
    for name, rcfg in runs.items():
        out[name] = {}
        for s in seeds:
            r = copy.deepcopy(rcfg)
            r.output_dir = str(Path(rcfg.output_dir) / name)
            r.run_name = f"seed-{s}"
            r.data.shuffle_seed, r.train.seed = s, s
            out[name][s] = r
    return out


def match_token_budget(runs: dict[str, Config], tokenizer: Any) -> dict[str, dict[str, Any]]:
    """Set the fine-tuning run's steps so that both methods train on the same number of target tokens.

    Each method's data is built as training builds it; target tokens per step = rows per step x (target
    tokens / packed rows). The instruction run keeps its steps; ``runs["finetune"].train.max_steps`` changes.

    Returns:
        Per method: ``steps``, ``rows_per_step``, ``target_tokens_per_row`` and the planned ``target_tokens``.
    """
    from tunelab.train import build_train_data  # imports torch

    plan: dict[str, dict[str, Any]] = {}
    for name, rcfg in runs.items():
        rep = build_train_data(rcfg, tokenizer).report
        per_row = rep["train_target_tokens"] / max(1, rep["train_rows"])
        plan[name] = {
            "rows_per_step": rcfg.train.batch_size * rcfg.train.grad_accum,
            "target_tokens_per_row": per_row,
        }
    inst, fine = plan["instruction"], plan["finetune"]
    budget = runs["instruction"].train.max_steps * inst["rows_per_step"] * inst["target_tokens_per_row"]
    steps = max(1, math.ceil(budget / (fine["rows_per_step"] * fine["target_tokens_per_row"])))
    runs["finetune"].train.max_steps = steps
    for name, rcfg in runs.items():
        p = plan[name]
        p["steps"] = rcfg.train.max_steps
        p["target_tokens"] = round(p["steps"] * p["rows_per_step"] * p["target_tokens_per_row"])
    return plan
