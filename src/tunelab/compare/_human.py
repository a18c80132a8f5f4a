"""The report's "Human judgement" section: blind A/B votes of ``RUN_DIR/human/`` counted by the human-review
import (win rates with bootstrap CIs over items, Cohen's kappa between raters).

``tunelab ui`` writes ``human/review_mapping.json`` (which system sat on the left of each item, from
:func:`tunelab.evaluate.export_review`) and appends each vote to ``human/votes.jsonl``; filled review sheets
(``human/*.csv``) and Label Studio exports (``human/labelstudio_*.json``) made from the same mapping count too.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

__all__ = ["human_judgement", "human_markdown", "human_html"]


def human_judgement(run_dir: str | Path, n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any] | None:
    """Import the run's human votes.

    Returns:
        ``ReviewResult.to_dict()`` (system A's win/tie/loss/both-bad rates with CIs, raters, kappa) plus
        ``sheets``, or None when there are no votes.

    Raises:
        InputError: a malformed vote file (names file, line and field).
    """
    from tunelab.evaluate import import_review, review_sheets

    found = review_sheets(Path(run_dir) / "human")
    if found is None:
        return None
    sheets, mapping = found
    res = import_review(sheets, mapping, n_bootstrap=n_bootstrap, seed=seed).to_dict()
    res.pop("judgments", None)
    res["sheets"] = [p.name for p in sheets]
    return res


def _pct(r: dict[str, Any] | None) -> str:
    if not r:
        return "n/a"
    return f"{100 * r['value']:.1f}% [{100 * r['ci_low']:.1f}, {100 * r['ci_high']:.1f}]"


def _rows(h: dict[str, Any]) -> list[tuple[str, str]]:
    a, b = h["systems"].get("a", "A"), h["systems"].get("b", "B")
    rows = [
        (f"{a} preferred", _pct(h["win_rate"])),
        (f"{b} preferred", _pct(h["loss_rate"])),
        ("tie", _pct(h["tie_rate"])),
        ("both bad", _pct(h.get("both_bad_rate"))),
    ]
    if h.get("kappa"):
        rows += [(f"Cohen's kappa {k.replace('|', ' vs ')}", f"{v:.2f}") for k, v in h["kappa"].items()]
    return rows


def _intro(h: dict[str, Any]) -> str:
    a, b = h["systems"].get("a", "A"), h["systems"].get("b", "B")
    return (
        f"Blind side-by-side votes, {a} vs {b}: {h['n_judgments']} judgments of {h['n_items']} items by "
        f"{len(h['raters'])} rater(s) ({', '.join(h['raters'])}); left and right drawn at random per item, "
        f"names hidden until the vote. Rates with 95% CIs ({h['win_rate']['ci']})."
    )


def human_markdown(h: dict[str, Any]) -> list[str]:
    """The section as Markdown lines."""
    lines = ["## Human judgement", "", _intro(h), "", "| outcome | share of judgments |", "|---|---|"]
    return lines + [f"| {k} | {v} |" for k, v in _rows(h)] + [""]


def human_html(h: dict[str, Any]) -> str:
    """The section as HTML."""
    e = html.escape
    body = "".join(f"<tr><td>{e(k)}</td><td class='num'>{e(v)}</td></tr>" for k, v in _rows(h))
    return (
        f"<h2>Human judgement</h2><p>{e(_intro(h))}</p>"
        f"<table><tr><th>outcome</th><th>share of judgments</th></tr>{body}</table>"
    )
