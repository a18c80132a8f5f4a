"""Turn measurements into the comparison's judgements: the overfitting summary of a training run
and a verdict that follows from the numbers (each sentence is computed, none is canned)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["read_curve", "overfitting_summary", "write_verdict"]


def read_curve(metrics_path: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Train and validation loss points from a run's ``metrics.jsonl``."""
    train, val = [], []
    for line in Path(metrics_path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if rec.get("loss") is not None:
            train.append((int(rec["step"]), float(rec["loss"])))
        if rec.get("val_loss") is not None:
            val.append((int(rec["step"]), float(rec["val_loss"])))
    return {"train": train, "val": val}


def _train_loss_near(train: list[tuple[int, float]], step: int, window: int = 3) -> float | None:
    """Mean training loss of the ``window`` logged points at or before ``step`` (smooths noise)."""
    pts = [loss for s, loss in train if s <= step][-window:]
    return sum(pts) / len(pts) if pts else None


def overfitting_summary(
    curve: dict[str, list[tuple[int, float]]], early_stop_step: int | None
) -> dict[str, Any]:
    """Final losses, their gap, the best validation step and where overfitting began.

    Overfitting begins at the first evaluation after the best one whose validation loss is above the
    best while the (smoothed) training loss is below its value at the best step.
    """
    train, val = curve["train"], curve["val"]
    out: dict[str, Any] = {
        "final_train_loss": _train_loss_near(train, train[-1][0]) if train else None,
        "final_val_loss": val[-1][1] if val else None,
        "best_step": None,
        "best_val_loss": None,
        "overfit_from_step": None,
        "overfit_warning": False,
        "early_stop_step": early_stop_step,
    }
    if out["final_train_loss"] is not None and out["final_val_loss"] is not None:
        out["gap"] = out["final_val_loss"] - out["final_train_loss"]
    else:
        out["gap"] = None
    if val:
        best_step, best = min(val, key=lambda p: p[1])
        out["best_step"], out["best_val_loss"] = best_step, best
        train_at_best = _train_loss_near(train, best_step)
        for s, v in val:
            t = _train_loss_near(train, s)
            if (
                s > best_step
                and v > best
                and t is not None
                and train_at_best is not None
                and t < train_at_best
            ):
                out["overfit_from_step"] = s
                out["overfit_warning"] = True
                break
    return out


def _pts(v: float) -> str:
    return f"{100 * v:.1f}"


def _fmt(s: dict[str, Any]) -> Callable[[float], str]:
    return _pts if s.get("scale", "fraction") == "fraction" else (lambda x: f"{x:.3f}")


def _excludes_zero(ci: list[float]) -> bool:
    return ci[0] > 0 or ci[1] < 0


def _judge(s: dict[str, Any], metric: str, a: str, b: str) -> tuple[str, str | None] | None:
    """The a-vs-b finding under one metric as a clause, and the winner when the CI excludes 0."""
    m = s.get("metrics", {}).get(metric) or {"models": s.get("models", {}), "pairs": s.get("pairs", {})}
    pair = m["pairs"].get(f"{a}-{b}")
    ma, mb = m["models"].get(a), m["models"].get(b)
    if not pair or not ma or not mb:
        return None
    fmt, frac = _fmt(s), s.get("scale", "fraction") == "fraction"
    pct, unit = ("%" if frac else ""), (" points" if frac else "")
    lo, hi = pair["ci"]
    vals = f"{a} {fmt(ma['value'])}{pct} vs {b} {fmt(mb['value'])}{pct}"
    ci = f"95% CI of {a} − {b} [{fmt(lo)}, {fmt(hi)}] over {pair.get('n_seeds', 1)} seed(s) and the items"
    if _excludes_zero(pair["ci"]):
        better = a if (pair["diff"] > 0) == s.get("higher_is_better", True) else b
        return f"{better} is better by {fmt(abs(pair['diff']))}{unit} ({vals}; {ci})", better
    return f"no clear difference ({vals}; {ci} includes 0)", None


def _slice_sentence(s: dict[str, Any], a: str, b: str) -> tuple[str, str | None] | None:
    """One sentence per slice: the headline metric, and lenient beside strict where the slice has both."""
    head = _judge(s, s.get("metric", "accuracy"), a, b)
    if head is None:
        return None
    text = f"{s['name']} ({s.get('metric')}): {head[0]}"
    if "lenient" in s.get("metrics", {}) and s.get("metric") == "strict":
        le = _judge(s, "lenient", a, b)
        if le:
            text += f"; lenient: {le[0]}"
    return text + ".", head[1]


def _form_sentence(s: dict[str, Any], model: str) -> str | None:
    """Right answer in the wrong form: lenient above strict."""
    mets = s.get("metrics", {})
    if "lenient" not in mets or s.get("kind") != "generate":
        return None
    st, le, fo = (mets[k]["models"][model]["value"] for k in ("strict", "lenient", "format"))
    if le - st < 0.05:
        return None
    return (
        f"{s['name']}: the {model} model states the right answer on {_pts(le)}% of items (lenient) but in the "
        f"requested form on {_pts(st)}% (strict); {_pts(fo)}% of its outputs have the requested form."
    )


def _forgetting_sentence(s: dict[str, Any], m: str) -> str | None:
    """A tuned model against the base on a forgetting slice (a rise is forgetting)."""
    pair = s.get("pairs", {}).get(f"{m}-base")
    if not pair:
        return None
    base, tuned = s["models"]["base"]["value"], s["models"][m]["value"]
    lo, hi = pair["ci"]
    ci = f"95% CI of the change [{lo:+.3f}, {hi:+.3f}]"
    if lo > 0:
        verb = "rose" if s.get("kind") == "bits_per_byte" else "is above 0"
        what = "forgetting" if s.get("kind") == "bits_per_byte" else "drift from the base"
        return f"{s['name']}: the {m} model's {s['metric']} {verb} ({base:.3f} → {tuned:.3f}, {ci}): {what}."
    if hi < 0:
        return f"{s['name']}: the {m} model's {s['metric']} fell ({base:.3f} → {tuned:.3f}, {ci}): no forgetting here."
    return (
        f"{s['name']}: the {m} model is not clearly different from the base ({base:.3f} → {tuned:.3f}, {ci})."
    )


def _seed_sentence(s: dict[str, Any]) -> str | None:
    pair = s.get("pairs", {}).get("instruction-finetune", {})
    per = pair.get("per_seed") or {}
    if len(per) < 2 or max(per.values()) - min(per.values()) < 1e-12:
        return None
    fmt = _fmt(s)
    lo, hi = min(per.values()), max(per.values())
    return (
        f"{s['name']}: across {len(per)} seeds the instruction − finetune difference ({s['metric']}) ranged from "
        f"{fmt(lo)} to {fmt(hi)}."
    )


def write_verdict(
    slices: dict[str, dict[str, Any]], methods: dict[str, dict[str, Any]], data: dict[str, Any] | None = None
) -> list[str]:
    """Sentences that follow from the numbers, one per finding: per slice and metric the better method when
    the CI over seeds and items excludes zero; right answers in the wrong form; seed spread; forgetting;
    overfitting; cost; and a summary of which method served which need."""
    out: list[str] = []
    wins: dict[str, list[str]] = {"instruction": [], "finetune": []}
    for s in slices.values():
        vals = [r["value"] for r in s.get("models", {}).values() if r and r.get("value") is not None]
        if s.get("scale", "fraction") == "fraction" and vals and max(vals) < 0.05:
            le = s.get("metrics", {}).get("lenient", {}).get("models", {})
            best = max((r["value"] for r in le.values()), default=0.0)
            out.append(
                f"{s['name']}: every model scored below 5% strict (best lenient {_pts(best)}%) — not learned at "
                "this scale."
            )
        else:
            got = _slice_sentence(s, "instruction", "finetune")
            if got:
                out.append(got[0])
                if got[1]:
                    wins[got[1]].append(s["name"])
        for m in ("base", "instruction", "finetune"):
            sent = _form_sentence(s, m)
            if sent:
                out.append(sent)
        if s.get("kind") in ("bits_per_byte", "kl"):
            out += [x for m in ("instruction", "finetune") if (x := _forgetting_sentence(s, m))]
        seed_sent = _seed_sentence(s)
        if seed_sent:
            out.append(seed_sent)
    for name, meth in methods.items():
        for seed, run in (meth.get("seeds") or {"": meth}).items():
            o = run.get("overfitting", {})
            tag = f"The {name} run" + (f" (seed {seed})" if seed != "" else "")
            if o.get("overfit_warning"):
                out.append(
                    f"{tag} overfit: validation loss rose from step {o['overfit_from_step']} while training "
                    f"loss kept falling (best step {o['best_step']})."
                )
            if o.get("early_stop_step"):
                out.append(f"{tag} stopped early at step {o['early_stop_step']}.")
    budget = (data or {}).get("budget", {}).get("per_method", {})
    if budget:
        out.append(
            "Budget: "
            + "; ".join(
                f"{n} {p['steps']} steps, {p['rows']:,} rows, {p['target_tokens']:,} target tokens"
                for n, p in budget.items()
            )
            + "."
        )
    if wins["finetune"] and not wins["instruction"]:
        out.append(
            "Summary: fine-tuning served better here ("
            + ", ".join(wins["finetune"])
            + "); instruction tuning won no slice."
        )
    elif wins["instruction"] and not wins["finetune"]:
        out.append(
            "Summary: instruction tuning served better here ("
            + ", ".join(wins["instruction"])
            + "); fine-tuning won no slice."
        )
    elif wins["instruction"] and wins["finetune"]:
        out.append(
            "Summary: each approach won some slices: fine-tuning on "
            + ", ".join(wins["finetune"])
            + "; instruction tuning on "
            + ", ".join(wins["instruction"])
            + "."
        )
    else:
        out.append("Summary: no slice separated the two methods at this sample size and number of seeds.")
    return out
