"""The evaluation slices of a comparison, their items, and the contamination check against every training set.

Every model (base, instruction-tuned, fine-tuned) is graded on every slice:

- ``target_format``: the target task in the fixed fine-tuning format (the fine-tuned model's own format);
- ``target_seen``: the target task through the instruction phrasings used in training (fresh cases);
- ``target_heldout``: the target task through held-out phrasings (unseen instructions);
- ``heldout_tasks``: tasks neither model trained on (unseen tasks), through held-out phrasings;
- ``instruction_following``: general requests with verifiable constraints, IFEval-style;
- ``forgetting_bpb``: bits per byte on human-written text no generator produced and no model trained on;
- ``forgetting_kl``: KL(p_base || p_tuned) of next-token distributions on general chat prompts.

Generated slices draw their items from evaluation seeds and drop every item whose case (note, table,
headline) either method trained on.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from tunelab._atomic import write_text_atomic
from tunelab.config import Config
from tunelab.data import Example, check_contamination, human_texts
from tunelab.errors import InputError
from tunelab.synth import general_text, generate, instruction_following_items

__all__ = ["EVAL_SEED_OFFSET", "define_slices", "write_eval_sets", "contamination_counts", "read_set"]

EVAL_SEED_OFFSET = 1_000  # evaluation items come from seeds the training data never used
GENERAL_SEED = 77  # the instruction-following items


def define_slices(cfg: Config) -> dict[str, dict[str, Any]]:
    """Slice key -> definition (name, kind, prompt form, data specs, description)."""
    c, seed = cfg.compare, cfg.synth.seed + EVAL_SEED_OFFSET
    n = c.n_eval
    tgt = c.target_task if c.target_file is None else Path(c.target_file).name
    out: dict[str, dict[str, Any]] = {}

    def gen(key: str, name: str, prompt: str, data: list[dict[str, Any]], desc: str) -> None:
        out[key] = {"name": name, "kind": "generate", "prompt": prompt, "data": data, "description": desc}

    if c.target_file is None:
        gen("target_format", "target, fine-tuning format", "plain",
            [{"task": tgt, "templates": "finetune", "n": n, "seed": seed}],
            f"{tgt} in its fixed fine-tuning format (the fine-tuned model's own format).")  # fmt: skip
        gen("target_seen", "target, seen phrasings", "chat",
            [{"task": tgt, "templates": "train", "n": n, "seed": seed}],
            f"{tgt} through the instruction phrasings the instruction model trained on (new cases).")  # fmt: skip
        gen("target_heldout", "target, held-out phrasings", "chat",
            [{"task": tgt, "templates": "heldout", "n": n, "seed": seed}],
            f"{tgt} through held-out instruction phrasings neither model trained on.")  # fmt: skip
    else:
        gen("target_format", "target, fine-tuning format", "plain", [{"file": "target"}],
            f"the held-out part of {tgt}, its turns as plain text (the fine-tuned model's format).")  # fmt: skip
        gen("target_seen", "target, seen phrasings", "chat", [{"file": "target"}],
            f"the held-out part of {tgt} through the chat template, as the instruction model trained on it.")  # fmt: skip
    if c.heldout_tasks:
        per = max(1, n // len(c.heldout_tasks))
        gen("heldout_tasks", "held-out tasks", "chat",
            [{"task": t, "templates": "heldout", "n": per, "seed": seed} for t in c.heldout_tasks],
            "tasks neither model trained on (" + ", ".join(c.heldout_tasks) + "), held-out phrasings.")  # fmt: skip
    out["instruction_following"] = {
        "name": "general instruction following", "kind": "ifeval", "prompt": "chat",
        "description": f"{c.n_general} general requests, each with 1-2 verifiable constraints (IFEval-style: "
        "word limits, case, JSON, bullet points, keywords, endings, commas, quotes, titles, postscripts).",
    }  # fmt: skip
    out["forgetting_bpb"] = {
        "name": "forgetting: bits per byte", "kind": "bits_per_byte",
        "description": f"{c.n_forgetting_texts} paragraphs of human-written prose from the Python standard "
        "library's docstrings, shipped with tunelab (hash-checked); no generator wrote them and no model "
        "trained on them. A rise over the base model is forgetting.",
    }  # fmt: skip
    out["forgetting_kl"] = {
        "name": "forgetting: KL from base", "kind": "kl",
        "description": "mean KL(p_base || p_model) of next-token distributions over the base model's own "
        "responses to the general requests (0 for the base itself); a rise is drift from the base.",
    }  # fmt: skip
    return out


def read_set(path: str | Path) -> list[Any]:
    """A slice's items as written by :func:`write_eval_sets`."""

    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [Example.from_dict(json.loads(x)) for x in lines if x.strip()]


def _run_examples(rcfg: Config) -> list[Example]:
    """The examples a run trained and validated on, as training wrote them to ``run_dir/data/``."""
    out: list[Example] = []
    for name in ("train", "val"):
        path = rcfg.run_dir / "data" / f"{name}.jsonl"
        if not path.is_file():
            raise InputError(
                "the run's training examples are missing (trained by an older tunelab?): delete the run "
                "directory to train it again",
                file=str(path),
            )
        out += read_set(path)
    return out


def _trained_cases(per_seed: dict[str, dict[int, Config]]) -> set[tuple[str, str]]:
    """(task, case hash) of every example any run was given, read from each run's ``run_dir/data/``."""
    seen: set[tuple[str, str]] = set()
    for seeds in per_seed.values():
        for rcfg in seeds.values():
            for ex in _run_examples(rcfg):
                if ex.meta.get("case_hash"):
                    seen.add((str(ex.meta.get("task")), str(ex.meta["case_hash"])))
    return seen


def write_eval_sets(
    cfg: Config,
    per_seed: dict[str, dict[int, Config]],
    slices: dict[str, dict[str, Any]],
    target_eval: list[Any] | None,
) -> dict[str, dict[str, Any]]:
    """Write each slice's items to ``RUN_DIR/eval_sets/<slice>.jsonl`` (generated ones drop every item whose
    case either method trained on) and return per slice: candidates, dropped as seen, kept."""

    seen = _trained_cases(per_seed)
    out_dir = cfg.run_dir / "eval_sets"
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, dict[str, Any]] = {}
    for key, spec in slices.items():
        items: list[Example] = []
        drawn = dropped = 0
        if spec["kind"] == "generate":
            for d in spec["data"]:
                if d.get("file") == "target":
                    pool = list(target_eval or [])
                    drawn += len(pool)
                    items += pool
                    continue
                pool = generate(d["task"], 4 * d["n"], seed=d["seed"], templates=d["templates"])
                drawn += len(pool)
                fresh = [ex for ex in pool if (d["task"], str(ex.meta.get("case_hash"))) not in seen]
                dropped += len(pool) - len(fresh)
                items += fresh[: d["n"]]
        elif spec["kind"] in ("ifeval", "kl"):
            items = instruction_following_items(cfg.compare.n_general, seed=GENERAL_SEED)
            drawn = len(items)
        else:
            pairs = human_texts(cfg.compare.n_forgetting_texts)
            items = [
                Example(
                    messages=[{"role": "assistant", "content": t}], id=f"pydoc-{i:04d}", meta={"source": s}
                )
                for i, (s, t) in enumerate(pairs)
            ]
            drawn = len(items)
        path = out_dir / f"{key}.jsonl"
        write_text_atomic(path, "".join(ex.to_json() + "\n" for ex in items))
        spec["file"] = str(path.resolve())
        report[key] = {"candidates": drawn, "dropped_seen_in_training": dropped, "kept": len(items)}
    return report


def _replay_texts(rcfg: Config, n_examples: int) -> list[str]:
    """An upper bound of the replay documents the run mixes in (general_text is prefix-stable)."""
    from tunelab.train import REPLAY_SEED_OFFSET  # imports torch

    r = rcfg.train.replay_ratio
    if r <= 0:
        return []
    n = math.ceil(n_examples * r / (1.0 - r)) + 1
    return general_text(n, seed=REPLAY_SEED_OFFSET + rcfg.train.seed)


def contamination_counts(
    per_seed: dict[str, dict[int, Config]], slices: dict[str, dict[str, Any]]
) -> dict[str, dict[str, dict[str, int]]]:
    """``check_contamination`` (exact, 13-gram, 8-gram) between every training set and every slice.

    Training sets: each method's task data (the same for every seed) and the replay text of each seed.

    Returns:
        training set -> slice -> level -> number of training items that match.
    """
    eval_sets = {k: read_set(s["file"]) for k, s in slices.items()}
    out: dict[str, dict[str, dict[str, int]]] = {}
    for name, seeds in per_seed.items():
        trained: dict[str, Example] = {}
        for rcfg in seeds.values():  # every seed's split of the same task data, as training wrote it
            trained.update((ex.to_json(), ex) for ex in _run_examples(rcfg))
        train = list(trained.values())
        sets: dict[str, list[Any]] = {name: train}
        for s, rcfg in seeds.items():
            sets[f"replay (seed {s})"] = _replay_texts(rcfg, len(train))
        for set_name, items in sets.items():
            if not items:
                continue
            out[set_name] = {}
            for key, ev in eval_sets.items():
                rep = check_contamination(items, {key: ev}, ngrams=(13, 8))
                out[set_name][key] = {
                    lvl: rep.counts[key].get(lvl, 0) for lvl in ("exact", "13-gram", "8-gram")
                }
    return out
