"""MedCalc-Bench (Khandekar et al., NeurIPS 2024): ``train_data.csv`` / ``test_data.csv`` as released.

Layout: CSV with the columns ``Row Number, Calculator ID, Calculator Name, Category, Output Type, Note ID,
Note Type, Patient Note, Question, Relevant Entities, Ground Truth Answer, Lower Limit, Upper Limit, Ground Truth
Explanation``. One row is one Example.

Output type: as the official ``evaluation/evaluate.py`` decides it, by calculator: IDs 13 and 68 are dates
(MM/DD/YYYY), 69 is a gestational age ``(weeks, days)``, the official integer list is scored by rounding; other
calculators follow the ``Output Type`` column (decimal unless it says integer or date).

Prompt: an instruction line, ``Patient note:`` and the note, then ``Question: ...`` last. Reference answer: the
``Ground Truth Explanation`` (when present) followed by ``Answer: <Ground Truth Answer>``.

Scoring (:func:`score_medcalc`): the value right after the last ``Answer:`` (or a JSON ``"answer":``) is read by
:data:`MEDCALC_ANSWER_PATTERN` and judged by :func:`tunelab.scoring.medcalc_correct` (decimal within 5 % of
the ground truth, integers by rounding, dates and (weeks, days) exact).
"""

from __future__ import annotations

import re
from typing import Any

from tunelab.benchmarks._common import maybe_json, need_text, register_benchmark, single_turn
from tunelab.data import Example, FieldProblem
from tunelab.scoring import medcalc_correct

__all__ = [
    "MEDCALC_ANSWER_PATTERN",
    "MEDCALC_INSTRUCTION",
    "extract_medcalc",
    "medcalc_output_type",
    "parse_medcalc",
    "score_medcalc",
]

# Calculator IDs by official output type (MedCalc-Bench evaluation/evaluate.py, check_correctness).
_DATE_IDS = frozenset({13, 68})
_WEEKS_DAYS_IDS = frozenset({69})
_INTEGER_IDS = frozenset({4, 15, 16, 17, 18, 20, 21, 25, 27, 28, 29, 32, 33, 36, 43, 45, 48, 51})

MEDCALC_INSTRUCTION = (
    "Read the patient note and answer the question. Reason step by step, then give the final answer on the "
    "last line as 'Answer: <value>' (a number; a date as MM/DD/YYYY; a gestational age as (weeks, days))."
)

#: the value after the last "Answer:" / "answer": — a (weeks, days) pair, a date, or a number (shared with suites)
MEDCALC_ANSWER_PATTERN = (
    r"(?is)\A.*\banswer[\"']?\s*(?:is\s*)?[:=]\s*[\"'*]*\s*"
    r"(?P<answer>\(\s*['\"]?\d+[^()\n]*\)|\d{1,2}/\d{1,2}/\d{4}|[-+\u2212]?\$?\d[\d,]*(?:\.\d+)?(?:\s*%)?)"
)
_ANSWER_RE = re.compile(MEDCALC_ANSWER_PATTERN)


def medcalc_output_type(calculator_id: int, output_type_column: str) -> str:
    """The official output type of a calculator: ``decimal``, ``integer``, ``date`` or ``weeks_days``."""
    if calculator_id in _DATE_IDS:
        return "date"
    if calculator_id in _WEEKS_DAYS_IDS:
        return "weeks_days"
    if calculator_id in _INTEGER_IDS:
        return "integer"
    col = output_type_column.strip().lower()
    if col.startswith("integer"):
        return "integer"
    if col.startswith("date"):
        return "date"
    return "decimal"


def _int_cell(d: dict[str, Any], key: str, probs: list[FieldProblem]) -> int | None:
    v = d.get(key)
    if isinstance(v, bool) or v is None or (isinstance(v, str) and not v.strip()):
        probs.append((key, "missing"))
        return None
    try:
        f = float(str(v).strip())
    except ValueError:
        probs.append((key, f"expected an integer, got {v!r}"))
        return None
    if not f.is_integer():
        probs.append((key, f"expected an integer, got {v!r}"))
        return None
    return int(f)


def _limit(v: Any) -> float | str | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    try:
        return float(str(v).replace(",", ""))
    except ValueError:
        return str(v)


def parse_medcalc(d: dict[str, Any], as_text: bool) -> tuple[Example | None, list[FieldProblem]]:
    """Parse one MedCalc-Bench row (see the module docstring)."""
    probs: list[FieldProblem] = []
    calc_id = _int_cell(d, "Calculator ID", probs)
    note = need_text(d, "Patient Note", probs)
    question = need_text(d, "Question", probs)
    raw_gt = d.get("Ground Truth Answer")
    gt = "" if raw_gt is None else str(raw_gt).strip()
    if not gt:
        probs.append(("Ground Truth Answer", "missing"))
    col = d.get("Output Type", "")
    col = col if isinstance(col, str) else str(col)
    row = d.get("Row Number", "")
    if probs or calc_id is None:
        return None, probs
    kind = medcalc_output_type(calc_id, col)
    try:
        medcalc_correct(gt, gt, kind)
    except ValueError as e:
        probs.append(("Ground Truth Answer", f"{e} (output type {kind} for calculator {calc_id})"))
        return None, probs
    explanation = d.get("Ground Truth Explanation")
    explanation = explanation.strip() if isinstance(explanation, str) else ""
    entities = maybe_json(d.get("Relevant Entities"), True)
    user = f"{MEDCALC_INSTRUCTION}\n\nPatient note:\n{note.strip()}\n\nQuestion: {question.strip()}"
    answer = f"{explanation}\n\nAnswer: {gt}" if explanation else f"Answer: {gt}"
    meta = {
        "task": "medcalc",
        "domain": "medical",
        "source": "medcalc-bench",
        "benchmark": "medcalc",
        "scorer": "medcalc",
        "answer_type": kind,
        "output_type": kind,
        "output_type_column": col,
        "gold": gt,
        "lower_limit": _limit(d.get("Lower Limit")),
        "upper_limit": _limit(d.get("Upper Limit")),
        "calculator_id": calc_id,
        "calculator_name": d.get("Calculator Name", ""),
        "category": d.get("Category", ""),
        "note_id": str(d.get("Note ID", "")),
        "relevant_entities": entities,
    }
    return single_turn(f"row-{row}" if str(row).strip() else "", user, answer, meta), probs


def extract_medcalc(text: str) -> str | None:
    """The answer value in an output under :data:`MEDCALC_ANSWER_PATTERN` (``None`` when absent)."""
    if not isinstance(text, str):
        return None
    m = _ANSWER_RE.search(text)
    return m.group("answer").strip() if m else None


def score_medcalc(prediction_text: str, example: Example) -> dict[str, float]:
    """Score one MedCalc-Bench output by the benchmark's rule (MedCalc-Bench ``evaluation/evaluate.py``).

    Rule (:func:`tunelab.scoring.medcalc_correct`): decimal answers are right when
    ``abs(pred - gt) <= 0.05 * abs(gt)`` (the data set's Lower/Upper Limit columns are ``0.95·gt`` and
    ``1.05·gt``; the absolute value keeps the band valid for a negative ground truth); integer answers when
    ``round(pred) == gt``; dates (MM/DD/YYYY) and ``(weeks, days)`` exactly. "53.1%" is 0.531. The value is
    the one right after the last "Answer:" (official harnesses read a JSON ``answer`` field; a JSON output
    works here too).

    Args:
        prediction_text: the raw model output.
        example: the item (meta ``gold``, ``output_type``).

    Returns:
        ``{"medcalc_accuracy", "extracted"}``.
    """
    ans = extract_medcalc(prediction_text)
    if ans is None:
        return {"medcalc_accuracy": 0.0, "extracted": 0.0}
    ok = medcalc_correct(ans, example.meta["gold"], str(example.meta["output_type"]))
    return {"medcalc_accuracy": float(ok), "extracted": 1.0}


register_benchmark(
    "medcalc",
    parse_medcalc,
    detect=lambda k: "Patient Note" in k and "Calculator ID" in k,
    turns_field="Ground Truth Answer",
)
