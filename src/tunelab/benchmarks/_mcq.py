"""MedQA (Jin et al., 2021) and MedMCQA (Pal et al., CHIL 2022) multiple-choice files as released.

MedQA (``data_clean/questions/US/*.jsonl``): one JSON object per line with ``question``, ``options``
(``{"A": ..., "B": ...}``, four or five), ``answer`` (the option text), ``answer_idx`` (its letter) and
``meta_info``.

MedMCQA (``train.json``/``dev.json``, JSON lines): ``id``, ``question``, ``opa``..``opd``, ``cop``,
``choice_type``, ``exp``, ``subject_name``, ``topic_name``. The GitHub release numbers ``cop`` 1-4 (format
``medmcqa``); the Hugging Face ``medmcqa`` dataset stores it as a 0-3 class label (format ``medmcqa-hf``).
Since one record cannot tell them apart, neither is detected: name the format. The released test split has no
answers and is rejected (``cop`` missing).

Prompt: an instruction line, ``Question: ...`` and the options as ``A. text`` lines. Reference answer: the
letter. Scoring: accuracy on a strictly extracted letter (the whole output is the letter, or "Answer: X"
lines that agree).
"""

from __future__ import annotations

from typing import Any

from tunelab.benchmarks._common import (
    maybe_json,
    need_text,
    read_json_lines,
    record_id,
    register_benchmark,
    single_turn,
)
from tunelab.benchmarks._labels import score_label
from tunelab.data import Example, FieldProblem

__all__ = ["parse_medmcqa", "parse_medmcqa_hf", "parse_medqa", "score_medmcqa", "score_medqa"]

MCQ_INSTRUCTION = "Answer the multiple-choice question with the letter of the correct option only."


def _render(question: str, options: dict[str, str]) -> str:
    opts = "\n".join(f"{k}. {v.strip()}" for k, v in sorted(options.items()))
    return f"{MCQ_INSTRUCTION}\n\nQuestion: {question.strip()}\n{opts}"


def _norm(s: str) -> str:
    return " ".join(s.lower().split())


def parse_medqa(d: dict[str, Any], as_text: bool) -> tuple[Example | None, list[FieldProblem]]:
    """Parse one MedQA record (see the module docstring)."""
    probs: list[FieldProblem] = []
    question = need_text(d, "question", probs)
    options = maybe_json(d.get("options"), as_text)
    if not isinstance(options, dict) or len(options) < 2:
        probs.append(("options", "expected an object of at least two lettered options"))
        options = {}
    for k, v in options.items():
        if not (isinstance(k, str) and len(k) == 1 and k.isalpha() and k.isupper()) or not isinstance(v, str):
            probs.append((f"options.{k}", "expected a capital letter mapped to the option text"))
    idx = need_text(d, "answer_idx", probs)
    if idx and options and idx not in options:
        probs.append(("answer_idx", f"{idx!r} is not one of the options {', '.join(sorted(options))}"))
    answer = d.get("answer")
    if isinstance(answer, str) and idx in options and isinstance(options[idx], str):
        if _norm(answer) != _norm(options[idx]):
            probs.append(("answer", f"{answer!r} is not the text of option {idx} ({options[idx]!r})"))
    if probs:
        return None, probs
    meta = {
        "task": "medqa",
        "domain": "medical",
        "source": "medqa",
        "benchmark": "medqa",
        "scorer": "label",
        "answer_type": "option_letter",
        "options": dict(options),
        "labels": sorted(options),
        "gold": idx,
        "answer_text": answer,
        "meta_info": d.get("meta_info"),
    }
    return single_turn(record_id(d, "id", probs), _render(question, options), idx, meta), probs


def _parse_medmcqa(
    d: dict[str, Any], as_text: bool, base: int, name: str
) -> tuple[Example | None, list[FieldProblem]]:
    probs: list[FieldProblem] = []
    question = need_text(d, "question", probs)
    options = {letter: need_text(d, key, probs) for letter, key in zip("ABCD", ("opa", "opb", "opc", "opd"))}
    cop = d.get("cop")
    if isinstance(cop, str) and cop.strip().lstrip("-").isdigit():
        cop = int(cop.strip())
    if cop is None:
        probs.append(("cop", "missing (the released test split has no answers)"))
    elif isinstance(cop, bool) or not isinstance(cop, int) or not base <= cop <= base + 3:
        hint = ""
        if cop == 0 and base == 1:
            hint = "; 0-3 is the Hugging Face encoding: use --format medmcqa-hf"
        probs.append(("cop", f"expected the correct option number {base}-{base + 3}, got {cop!r}{hint}"))
    ex_id = record_id(d, "id", probs)
    if probs or not isinstance(cop, int):
        return None, probs
    gold = "ABCD"[cop - base]
    meta = {
        "task": "medmcqa",
        "domain": "medical",
        "source": name,
        "benchmark": "medmcqa",
        "scorer": "label",
        "answer_type": "option_letter",
        "options": options,
        "labels": list("ABCD"),
        "gold": gold,
        "choice_type": d.get("choice_type"),
        "subject_name": d.get("subject_name"),
        "topic_name": d.get("topic_name"),
        "explanation": d.get("exp"),
    }
    return single_turn(ex_id, _render(question, options), gold, meta), probs


def parse_medmcqa(d: dict[str, Any], as_text: bool) -> tuple[Example | None, list[FieldProblem]]:
    """Parse one MedMCQA record of the GitHub release (``cop`` 1-4)."""
    return _parse_medmcqa(d, as_text, 1, "medmcqa")


def parse_medmcqa_hf(d: dict[str, Any], as_text: bool) -> tuple[Example | None, list[FieldProblem]]:
    """Parse one MedMCQA record of the Hugging Face dataset (``cop`` 0-3)."""
    return _parse_medmcqa(d, as_text, 0, "medmcqa-hf")


def score_medqa(prediction_text: str, example: Example) -> dict[str, float]:
    """Score one MedQA output: accuracy on the strictly extracted option letter (the whole output is one
    letter, or "Answer: X" lines that all agree); the first-or-last-letter-anywhere leniency is not used.

    Returns:
        ``{"accuracy", "extracted"}``.
    """
    return score_label(prediction_text, example)


def score_medmcqa(prediction_text: str, example: Example) -> dict[str, float]:
    """Score one MedMCQA output: accuracy on the strictly extracted letter, as :func:`score_medqa`.

    Returns:
        ``{"accuracy", "extracted"}``.
    """
    return score_label(prediction_text, example)


register_benchmark(
    "medqa",
    parse_medqa,
    detect=lambda k: {"question", "options", "answer_idx"} <= set(k),
    turns_field="answer_idx",
)
register_benchmark("medmcqa", parse_medmcqa, detect=None, read=read_json_lines, turns_field="cop")
register_benchmark("medmcqa-hf", parse_medmcqa_hf, detect=None, read=read_json_lines, turns_field="cop")
