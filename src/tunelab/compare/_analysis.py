"""Turn measurements into the comparison's judgements: the overfitting summary of a training run
and a verdict that follows from the numbers (each sentence is computed, none is canned)."""

from __future__ import annotations

import json
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


def _compare_sentence(s: dict[str, Any], a: str, b: str) -> str | None:
    pair = s.get("pairs", {}).get(f"{a}-{b}")
    ma, mb = s["models"].get(a), s["models"].get(b)
    if not pair or not ma or not mb:
        return None
    lo, hi = pair["ci"]
    frac = s.get("scale", "fraction") == "fraction"
    fmt = _pts if frac else (lambda x: f"{x:.3f}")
    unit = " points" if frac else ""
    higher_better = s.get("higher_is_better", True)
    head = (
        f"{s['name']} ({s['metric']}): {a} {fmt(ma['value'])}{'%' if frac else ''} vs {b} "
        f"{fmt(mb['value'])}{'%' if frac else ''}"
    )
    if lo > 0 or hi < 0:
        better = a if (pair["diff"] > 0) == higher_better else b
        return (
            f"{head} — {better} is better by {fmt(abs(pair['diff']))}{unit} "
            f"(paired 95% CI of {a} − {b}: [{fmt(lo)}, {fmt(hi)}])."
        )
    return f"{head} — no clear difference (paired 95% CI of {a} − {b} [{fmt(lo)}, {fmt(hi)}] includes 0)."


def write_verdict(slices: dict[str, dict[str, Any]], approaches: dict[str, dict[str, Any]]) -> list[str]:
    """Sentences that follow from the numbers: per slice, the better approach when the paired CI
    excludes zero; tuning vs base; forgetting; overfitting; cost; and which approach served which need."""
    out: list[str] = []
    wins = {"instruction": [], "finetune": []}  # type: dict[str, list[str]]
    for key, s in slices.items():
        sent = _compare_sentence(s, "instruction", "finetune")
        if sent:
            out.append(sent)
            pair = s["pairs"]["instruction-finetune"]
            lo, hi = pair["ci"]
            if lo > 0 or hi < 0:
                better = (
                    "instruction" if (pair["diff"] > 0) == s.get("higher_is_better", True) else "finetune"
                )
                wins[better].append(s["name"])
        for m in ("finetune", "instruction"):
            p = s.get("pairs", {}).get(f"{m}-base")
            if p and key == "in_domain":
                lo, hi = p["ci"]
                verb = "above" if lo > 0 else "below" if hi < 0 else "not clearly different from"
                out.append(
                    f"In-domain, the {m} model is {verb} the base model "
                    f"({_pts(p['diff'])} points, 95% CI [{_pts(lo)}, {_pts(hi)}])."
                )
        vals = [r["value"] for r in s["models"].values() if r and r.get("value") is not None]
        if s.get("scale", "fraction") == "fraction" and vals and max(vals) < 0.05:
            out.append(f"{s['name']}: every model scored below 5% — this slice is not learned at this scale.")
    for name, meth in approaches.items():
        o = meth.get("overfitting", {})
        if o.get("overfit_warning"):
            out.append(
                f"The {name} run overfit: validation loss rose from step {o['overfit_from_step']} while "
                f"training loss kept falling (best step {o['best_step']})."
            )
        if o.get("early_stop_step"):
            out.append(f"The {name} run stopped early at step {o['early_stop_step']}.")
    c_i = approaches.get("instruction", {}).get("cost", {})
    c_f = approaches.get("finetune", {}).get("cost", {})
    if c_i.get("wall_s") and c_f.get("wall_s"):
        out.append(
            f"Cost: instruction tuning took {c_i['wall_s']:.0f} s and {c_i.get('target_tokens', 0):,} target "
            f"tokens; fine-tuning {c_f['wall_s']:.0f} s and {c_f.get('target_tokens', 0):,} target tokens."
        )
    if wins["finetune"] and not wins["instruction"]:
        out.append(
            "Summary: fine-tuning served better here (" + ", ".join(wins["finetune"]) + "); instruction "
            "tuning won no slice."
        )
    elif wins["instruction"] and not wins["finetune"]:
        out.append(
            "Summary: instruction tuning served better here (" + ", ".join(wins["instruction"]) + "); "
            "fine-tuning won no slice."
        )
    elif wins["instruction"] and wins["finetune"]:
        out.append(
            "Summary: each approach won where it was trained to: fine-tuning on "
            + ", ".join(wins["finetune"])
            + "; instruction tuning on "
            + ", ".join(wins["instruction"])
            + "."
        )
    else:
        out.append("Summary: no slice separated the two approaches at this sample size.")
    return out
