"""Plots for the report, rendered to PNG and embedded as base64 (the HTML stays self-contained)."""

from __future__ import annotations

import base64
import io
from typing import Any

__all__ = ["loss_curves_png", "slice_bars_png"]

COLORS = {"base": "#8c8c8c", "instruction": "#2b6cb0", "finetune": "#c05621"}


def _to_b64(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _mpl() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def loss_curves_png(curves: dict[str, dict[str, Any]]) -> str:
    """Train and validation loss per approach; the overfitting region (validation loss rising while
    training loss falls, after the best validation point) is shaded.

    Args:
        curves: approach -> {"train": [(step, loss)], "val": [(step, loss)], "overfit_from": step | None,
            "best_step": step | None}.
    """
    plt = _mpl()
    fig, axes = plt.subplots(1, len(curves), figsize=(5.2 * len(curves), 3.4), squeeze=False)
    for ax, (name, c) in zip(axes[0], curves.items()):
        color = COLORS.get(name, "#333333")
        if c.get("train"):
            xs, ys = zip(*c["train"])
            ax.plot(xs, ys, color=color, alpha=0.55, label="train loss")
        if c.get("val"):
            xs, ys = zip(*c["val"])
            ax.plot(xs, ys, color=color, marker="o", ms=3, label="validation loss")
        last = max([s for s, _ in c.get("train", [])] + [s for s, _ in c.get("val", [])] + [1])
        if c.get("overfit_from") is not None:
            ax.axvspan(c["overfit_from"], last, color="#e53e3e", alpha=0.12, label="overfitting region")
        if c.get("best_step") is not None:
            ax.axvline(c["best_step"], color="#2f855a", ls="--", lw=1, label="best checkpoint")
        ax.set_title(f"{name}")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss (nats / target token)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _to_b64(fig)


def slice_bars_png(slices: list[dict[str, Any]], models: list[str]) -> str:
    """One group of bars per slice (one bar per model) with 95% CI whiskers.

    Args:
        slices: [{"name": str, "metric": str, "models": {model: {"value": float, "ci": [lo, hi]}}}]
            with metrics on a 0-1 scale.
        models: bar order.
    """
    import numpy as np

    plt = _mpl()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.9 * len(slices) + 2), 3.6))
    width = 0.8 / max(1, len(models))
    x = np.arange(len(slices))
    for i, m in enumerate(models):
        vals, lo, hi = [], [], []
        for s in slices:
            r = s["models"].get(m)
            v = r["value"] if r else float("nan")
            ci = r.get("ci") if r else None
            vals.append(v)
            lo.append(v - ci[0] if ci else 0.0)
            hi.append(ci[1] - v if ci else 0.0)
        ax.bar(
            x + (i - (len(models) - 1) / 2) * width,
            vals,
            width,
            yerr=[lo, hi],
            capsize=3,
            color=COLORS.get(m, None),
            label=m,
        )
    ax.set_xticks(x)
    ax.set_xticklabels([f"{s['name']}\n({s['metric']})" for s in slices], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (95% CI)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _to_b64(fig)
