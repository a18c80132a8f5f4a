"""Content and format scored apart: per item a *strict* score (the answer in the requested form), a *lenient*
score (the right answer stated anywhere in the output, by a named rule) and *format compliance*.

A model that answers "The sentiment of this headline is positive." has the content right and the form wrong;
strict extraction alone scores it 0 and so measures format, not skill. The lenient rules are built so that
listing every option does not earn credit: naming two different labels is wrong, and only the *last* number
stated counts.
"""

from __future__ import annotations

import re
from typing import Any

from tunelab.data import Example
from tunelab.evaluate._scoring import AUTO_SCORER, _item_score, extract_item, gold_of
from tunelab.scoring import ExtractSpec, extract_answer, normalize_squad

__all__ = ["LENIENT_RULES", "three_scores"]

LENIENT_RULES = {
    "label_accuracy": "lenient label: the output names exactly one of the task's labels as a whole word "
    "(case-insensitive) and it is the gold label; naming two different labels is wrong",
    "numeric": "lenient number: the last number stated in the output is within the task's own tolerance",
    "exact_match": "lenient text: the SQuAD-normalized gold answer occurs in the normalized output as whole words",
}


def _scorer(ex: Example) -> str:
    return AUTO_SCORER.get(str(ex.meta.get("scorer")), "exact_match")


def _lenient(output: str, ex: Example, spec: ExtractSpec) -> tuple[float, str]:
    scorer = _scorer(ex)
    raw = spec.labels or ex.meta.get("labels")
    labels = [str(x) for x in raw] if raw else None
    if scorer == "label_accuracy" and labels:
        low = output.lower()
        named = {lab for lab in labels if re.search(r"(?<!\w)" + re.escape(lab.lower()) + r"(?!\w)", low)}
        # a label that is part of a longer named label ("positive" in "very positive") is not a second answer
        named = {a for a in named if not any(a != b and a.lower() in b.lower() for b in named)}
        ans = named.pop() if len(named) == 1 else None
        return float(_item_score("label_accuracy", ans, ex) or 0.0), LENIENT_RULES["label_accuracy"]
    if scorer in ("numeric_accuracy", "medcalc_accuracy", "execution_accuracy"):
        num = extract_answer(output, "last_number")
        name = "numeric_accuracy" if scorer == "execution_accuracy" else scorer
        try:
            v = _item_score(name, num, ex)
        except ValueError:
            v = 0.0
        return float(v or 0.0), LENIENT_RULES["numeric"]
    golds = gold_of(ex)
    refs = [str(g) for g in golds] if isinstance(golds, (list, tuple)) else [str(golds)]
    out = f" {normalize_squad(output)} "
    hit = any(normalize_squad(g) and f" {normalize_squad(g)} " in out for g in refs)
    return float(hit), LENIENT_RULES["exact_match"]


def three_scores(output: str, ex: Example, spec: ExtractSpec) -> dict[str, Any]:
    """Strict, lenient and format-compliance scores of one output.

    Args:
        output: the model's output, already ended at its end of turn (generation stops at EOS).
        ex: the item (its meta names the scorer, the answer format and the labels).
        spec: the suite's extraction settings (``auto`` reads the item's requested form).

    Returns:
        ``strict`` (the task's scorer on the strictly extracted answer), ``lenient`` (by the rule named in
        ``lenient_rule``; never below strict), ``format`` (1 when the strict rule could read an answer in the
        requested form, right or wrong), and the two rules' names.
    """
    ans, rule = extract_item(output, ex, spec)
    scorer = _scorer(ex)
    try:
        strict = float(_item_score(scorer, ans, ex) or 0.0)
    except ValueError:
        strict = 0.0
    lenient, lrule = _lenient(output, ex, spec)
    return {
        "strict": strict,
        "lenient": max(strict, lenient),
        "format": float(ans is not None),
        "gold": gold_of(ex),
        "strict_rule": f"{rule}; {scorer}",
        "lenient_rule": lrule,
    }
