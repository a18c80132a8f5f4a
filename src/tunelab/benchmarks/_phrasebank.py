"""Financial PhraseBank v1.0 (Malo et al., 2014): ``Sentences_AllAgree.txt`` / ``_75Agree`` / ``_66Agree`` /
``_50Agree`` as released.

Layout: plain text, one ``sentence@label`` per line (label positive, negative or neutral), encoded ISO-8859-1
(latin-1). :func:`read_phrasebank` decodes UTF-8 when the whole file is valid UTF-8 (re-encoded copies) and
latin-1 otherwise, splits each line at its last ``@`` and yields one record per line with its line number.
Licence: CC BY-NC-SA 3.0 (non-commercial), recorded in each Example's meta.

Prompt: an instruction line, then ``Sentence: ...``. Reference answer: the label. Scoring: strict label
(the whole output is one label), accuracy and macro-F1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tunelab.benchmarks._common import need_text, register_benchmark, single_turn
from tunelab.benchmarks._labels import score_label
from tunelab.data import Example, FieldProblem, RawRecord
from tunelab.errors import InputError

__all__ = ["PHRASEBANK_LABELS", "parse_phrasebank", "read_phrasebank", "score_phrasebank"]

PHRASEBANK_LABELS = ("positive", "negative", "neutral")
PHRASEBANK_INSTRUCTION = (
    "Classify the sentiment of this sentence from financial news as positive, negative or neutral. "
    "Answer with the label only."
)


def read_phrasebank(path: str | os.PathLike[str]) -> Iterator[RawRecord]:
    """One raw record ``{"sentence", "label"}`` per non-blank line of a PhraseBank text file.

    A line without ``@`` yields a record without ``label`` (the parser reports it).

    Raises:
        InputError: the file does not exist.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", file=str(path))
    data = p.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # the release's encoding; every byte is valid
    if text.startswith("\ufeff"):
        text = text[1:]
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        sentence, sep, label = line.rstrip("\r\n").rpartition("@")
        rec: dict[str, Any] = {"sentence": sentence, "label": label} if sep else {"sentence": line}
        yield RawRecord(str(p), lineno, rec, raw=line)


def parse_phrasebank(d: dict[str, Any], as_text: bool) -> tuple[Example | None, list[FieldProblem]]:
    """Parse one PhraseBank line record (see :func:`read_phrasebank`)."""
    probs: list[FieldProblem] = []
    sentence = need_text(d, "sentence", probs)
    if "label" not in d:
        probs.append(("label", "missing: expected a line 'sentence@label'"))
        return None, probs
    label = need_text(d, "label", probs).strip().lower()
    if label and label not in PHRASEBANK_LABELS:
        probs.append(("label", f"expected positive, negative or neutral, got {d['label']!r}"))
    if probs:
        return None, probs
    meta = {
        "task": "phrasebank",
        "domain": "finance",
        "source": "financial_phrasebank",
        "benchmark": "phrasebank",
        "scorer": "label",
        "answer_type": "label",
        "answer_format": "label",
        "labels": list(PHRASEBANK_LABELS),
        "gold": label,
        "license": "CC BY-NC-SA 3.0 (non-commercial)",
    }
    user = f"{PHRASEBANK_INSTRUCTION}\n\nSentence: {sentence.strip()}"
    return single_turn("", user, label, meta), probs


def score_phrasebank(prediction_text: str, example: Example) -> dict[str, float]:
    """Score one PhraseBank output: the whole output must be one label (case-insensitive); accuracy here,
    macro-F1 over the set from :func:`tunelab.benchmarks.score_set`.

    Returns:
        ``{"accuracy", "extracted"}``.
    """
    return score_label(prediction_text, example)


register_benchmark("phrasebank", parse_phrasebank, detect=None, read=read_phrasebank, turns_field="label")
