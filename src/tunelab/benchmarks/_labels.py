"""Strict label and option-letter scoring shared by PubMedQA, MedQA, MedMCQA and Financial PhraseBank."""

from __future__ import annotations

from tunelab.data import Example
from tunelab.scoring import extract_answer

__all__ = ["extract_label", "score_label"]


def extract_label(prediction_text: str, example: Example) -> str | None:
    """The label read strictly from an output, or ``None``.

    Multiple-choice items (meta ``options``) use :func:`tunelab.scoring.extract_answer` ``option_letter``: the
    whole output is one allowed letter ("B", "(B)", "B.") or its "Answer: B" lines all name the same letter. Label
    items (meta ``labels``) use ``label``: the whole output, stripped, equals one label (case-insensitive). A
    label or letter mentioned in passing does not count (first-or-last-match leniency inflates scores).
    """
    options = example.meta.get("options")
    if isinstance(options, dict):
        return extract_answer(prediction_text, "option_letter", options="".join(sorted(options)))
    return extract_answer(prediction_text, "label", labels=[str(x) for x in example.meta["labels"]])


def score_label(prediction_text: str, example: Example) -> dict[str, float]:
    """Accuracy of one strictly extracted label or letter against meta ``gold`` (see :func:`extract_label`).

    Returns:
        ``{"accuracy", "extracted"}``; set-level macro-F1 comes from :func:`tunelab.benchmarks.score_set`.
    """
    ans = extract_label(prediction_text, example)
    gold = str(example.meta["gold"]).strip().lower()
    return {
        "accuracy": float(ans is not None and ans.strip().lower() == gold),
        "extracted": float(ans is not None),
    }
