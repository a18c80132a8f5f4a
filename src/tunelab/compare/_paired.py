"""The comparison's paired statistics per slice: each model's score with its CI, and for each pair of models on
the same items the paired bootstrap of the difference, McNemar's test and the items that flipped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tunelab.config import Config
from tunelab.errors import InputError
from tunelab.scoring import bootstrap_ci, flipped_items, mcnemar, paired_bootstrap

__all__ = ["MODELS", "accuracy_slice", "forgetting_slice"]

MODELS = ("base", "instruction", "finetune")


def _correct(row: dict[str, Any]) -> float:
    """The item's own scorer result (pooled slices mix label, numeric and exact-match tasks)."""
    s = row["scores"]
    for k in ("label_accuracy", "medcalc_accuracy", "execution_accuracy", "numeric_accuracy", "exact_match"):
        if s.get(k) is not None:
            return float(s[k])
    return 0.0


def accuracy_slice(
    key: str, spec: dict[str, Any], res: dict[str, dict[str, Any]], cfg: Config
) -> dict[str, Any]:
    ids = [r["id"] for r in res["base"][key]["rows"]]
    correct = {}
    for m in MODELS:
        rows = res[m][key]["rows"]
        if [r["id"] for r in rows] != ids:
            raise InputError(f"{m} was evaluated on different items for {key}", field=key)
        correct[m] = [_correct(r) for r in rows]
    nb, seed = cfg.eval.n_bootstrap, cfg.synth.seed
    models = {}
    for m in MODELS:
        ci = bootstrap_ci(correct[m], n=nb, seed=seed)
        models[m] = {"value": ci.estimate, "ci": [ci.low, ci.high]}
    pairs = {}
    for a, b in (("instruction", "finetune"), ("finetune", "base"), ("instruction", "base")):
        pb = paired_bootstrap(correct[b], correct[a], n=nb, seed=seed)  # difference a - b
        mc = mcnemar(correct[a], correct[b])
        fl = flipped_items(ids, correct[a], correct[b])
        pairs[f"{a}-{b}"] = {
            "diff": pb.difference,
            "ci": [pb.low, pb.high],
            "p_value": pb.p_value,
            "mcnemar_p": mc.p_value,
            "flipped": {
                "gained": len(fl["a_only"]),
                "lost": len(fl["b_only"]),
                "gained_ids": fl["a_only"][:20],
                "lost_ids": fl["b_only"][:20],
            },
        }
    examples = []
    for i in range(min(4, len(ids))):
        r0 = res["base"][key]["rows"][i]
        examples.append(
            {
                "id": ids[i],
                "prompt": r0["prompt"],
                "gold": r0["gold"],
                "outputs": {m: res[m][key]["rows"][i]["prediction"] for m in MODELS},
            }
        )
    per_task: dict[str, dict[str, float]] = {}
    for m in MODELS:
        for r, c in zip(res[m][key]["rows"], correct[m]):
            t = r.get("task") or "?"
            per_task.setdefault(t, {}).setdefault(m, 0.0)
            per_task[t][m] += c
    counts: dict[str, int] = {}
    for r in res["base"][key]["rows"]:
        counts[r.get("task") or "?"] = counts.get(r.get("task") or "?", 0) + 1
    per_task = {t: {m: v / counts[t] for m, v in d.items()} for t, d in per_task.items()}
    return {
        "name": spec["name"],
        "metric": "accuracy",
        "scale": "fraction",
        "higher_is_better": True,
        "n": len(ids),
        "description": spec["description"],
        "how": "per item, the task's own scorer on the strictly extracted answer (label: exact label; numeric: "
        "the task's tolerance; FinQA: execution accuracy); mean over items; 95% percentile bootstrap CI; "
        "pairs: paired bootstrap of the difference on the same items, McNemar's test, items that flipped.",
        "models": models,
        "pairs": pairs,
        "per_task": per_task,
        "examples": examples,
    }


def forgetting_slice(res: dict[str, dict[str, Any]], cfg: Config) -> dict[str, Any]:
    def bpb(rows: Sequence[dict[str, Any]]) -> float:
        return sum(r["nll"] for r in rows) / sum(r["n_bytes"] for r in rows) / math.log(2)

    models, rows = {}, {m: res[m]["forgetting"]["rows"] for m in MODELS}
    for m in MODELS:
        s = res[m]["forgetting"]["scores"]["metrics"]["bits_per_byte"]
        models[m] = {
            "value": s["value"],
            "ci": [s["ci_low"], s["ci_high"]] if s.get("ci_low") is not None else None,
        }
    pairs = {}
    nb, seed = cfg.eval.n_bootstrap, cfg.synth.seed
    for a, b in (("instruction", "finetune"), ("finetune", "base"), ("instruction", "base")):
        pb = paired_bootstrap(rows[b], rows[a], n=nb, seed=seed, statistic=bpb)
        pairs[f"{a}-{b}"] = {"diff": pb.difference, "ci": [pb.low, pb.high], "p_value": pb.p_value}
    return {
        "name": "forgetting",
        "metric": "bits_per_byte",
        "scale": "absolute",
        "higher_is_better": False,
        "n": len(rows["base"]),
        "description": "held-out general prose; a rise in bits per byte over the base model is forgetting.",
        "how": "bits per byte = sum NLL / sum UTF-8 bytes / ln 2, pooled over the texts (rolling windows, every "
        "token scored once); paired bootstrap over texts of the pooled statistic.",
        "models": models,
        "pairs": pairs,
        "examples": [],
    }
