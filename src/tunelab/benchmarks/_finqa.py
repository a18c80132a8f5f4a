"""FinQA (Chen et al., EMNLP 2021): ``train.json`` / ``dev.json`` / ``test.json`` as released.

Layout: a JSON array of records ``{"id", "pre_text": [sentences], "post_text": [sentences], "table": [rows],
"qa": {"question", "program", "exe_ans", "gold_inds", "program_re", ...}}``. One record is one Example.

Prompt (user turn), in this order: an instruction line, the ``pre_text`` sentences (one per line), the table as
pipe rows (``| cell | cell |``), the ``post_text`` sentences, then ``Question: ...`` last. The reference answer
(assistant turn) is ``Program: <qa.program>``.

Scoring (:func:`score_finqa`): the program is read from the output by :data:`FINQA_PROGRAM_PATTERN` (the rest
of the last line that starts with ``Program:``, or the whole output when it is one line); then FinQA's
execution accuracy (run it, ``round(result, 5) == exe_ans``) and program accuracy (symbolic equivalence with
the gold program), both from :mod:`tunelab.scoring`. A malformed program is wrong, never an exception, and
is never passed to ``eval``.
"""

from __future__ import annotations

import re
from typing import Any

from tunelab.benchmarks._common import (
    maybe_json,
    need_table,
    need_text,
    need_text_list,
    record_id,
    register_benchmark,
    render_table,
    single_turn,
    type_name,
)
from tunelab.data import Example, FieldProblem
from tunelab.scoring import FinQAProgramError, execution_accuracy, parse_program, program_accuracy

__all__ = [
    "FINQA_INSTRUCTION",
    "FINQA_PROGRAM_PATTERN",
    "extract_program",
    "parse_finqa",
    "render_report",
    "score_finqa",
]

FINQA_INSTRUCTION = (
    "Answer the question about the financial report below. Write the calculation as a program in FinQA's "
    "language (add, subtract, multiply, divide, exp, greater, table_max, table_min, table_sum, table_average; "
    "#n is the result of step n; const_100 is 100) on one line after 'Program:'."
)

#: the rest of the last line starting with "Program:", else a one-line output as a whole (shared with the suites)
FINQA_PROGRAM_PATTERN = r"(?ims)\A\s*(?:.*^[ \t]*program[ \t]*:[ \t]*)?(?P<answer>[^\n]*?\S)[ \t.]*\s*\Z"
_PROGRAM_RE = re.compile(FINQA_PROGRAM_PATTERN)


def render_report(pre_text: list[str], table: list[list[str]], post_text: list[str]) -> str:
    """The report part of a FinQA/ConvFinQA prompt: pre_text lines, the table as pipe rows, post_text lines."""
    parts = [
        "\n".join(s.strip() for s in pre_text if s.strip()),
        render_table(table),
        "\n".join(s.strip() for s in post_text if s.strip()),
    ]
    return "\n\n".join(p for p in parts if p)


def _exe_ans(v: Any, fld: str, probs: list[FieldProblem]) -> float | str | None:
    if isinstance(v, bool) or v is None:
        probs.append((fld, "missing" if v is None else "expected a number or yes/no, got boolean"))
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("yes", "no"):
            return s
        try:
            return float(s.replace(",", ""))
        except ValueError:
            pass
    probs.append((fld, f"expected a number or yes/no, got {v!r}"))
    return None


def _program(v: Any, fld: str, probs: list[FieldProblem]) -> str:
    if not isinstance(v, str) or not v.strip():
        probs.append((fld, "missing" if v is None else f"expected a program string, got {type_name(v)}"))
        return ""
    try:
        parse_program(v)
    except FinQAProgramError as e:
        probs.append((fld, f"not a valid FinQA program: {e}"))
        return ""
    return v.strip()


def parse_finqa(d: dict[str, Any], as_text: bool) -> tuple[Example | None, list[FieldProblem]]:
    """Parse one FinQA record (see the module docstring for the layout and the rendering)."""
    probs: list[FieldProblem] = []
    pre = need_text_list(d, "pre_text", probs, as_text)
    post = need_text_list(d, "post_text", probs, as_text)
    table = need_table(d.get("table"), "table", probs, as_text) if "table" in d else []
    if "table" not in d:
        probs.append(("table", "missing"))
    ex_id = record_id(d, "id", probs)
    qa = maybe_json(d.get("qa"), as_text)
    if not isinstance(qa, dict):
        probs.append(("qa", "missing" if qa is None else f"expected an object, got {type_name(qa)}"))
        return None, probs
    question = need_text(qa, "question", probs, where="qa.")
    program = _program(qa.get("program"), "qa.program", probs)
    exe = _exe_ans(qa.get("exe_ans"), "qa.exe_ans", probs)
    if probs or exe is None:
        return None, probs
    user = f"{FINQA_INSTRUCTION}\n\n{render_report(pre, table, post)}\n\nQuestion: {question.strip()}"
    meta = {
        "task": "finqa",
        "domain": "finance",
        "source": "finqa",
        "benchmark": "finqa",
        "scorer": "finqa_program",
        "answer_type": "program",
        "gold": exe,
        "exe_ans": exe,
        "program": program,
        "table": table,
        "question": question.strip(),
    }
    if isinstance(qa.get("gold_inds"), dict | list):
        meta["gold_inds"] = qa["gold_inds"]
    return single_turn(ex_id, user, f"Program: {program}", meta), probs


def extract_program(text: str) -> str | None:
    """The program in a model output under :data:`FINQA_PROGRAM_PATTERN` (``None`` when there is none).

    The same pattern serves the shipped suites' ``extract.pattern``, so both read the same program.
    """
    if not isinstance(text, str):
        return None
    m = _PROGRAM_RE.search(text)
    if m is None:
        return None
    return m.group("answer").strip() or None


def score_finqa(prediction_text: str, example: Example) -> dict[str, float]:
    """Score one FinQA (or ConvFinQA turn) output by FinQA's official rules.

    Rules (FinQA ``code/evaluate/evaluate.py``): execution accuracy — the predicted program is executed and its
    result, rounded to 5 decimals, must equal ``exe_ans`` ("yes"/"no" for ``greater`` answers); operands "x%"
    are x/100. Program accuracy — the predicted program is symbolically equivalent to the gold program. Both
    via :func:`tunelab.scoring.execution_accuracy` and :func:`tunelab.scoring.program_accuracy`; a
    malformed program scores 0 on both.

    Args:
        prediction_text: the raw model output.
        example: the item (meta ``exe_ans``, ``program``, ``table``).

    Returns:
        ``{"execution_accuracy", "program_accuracy", "extracted"}``, each 0.0 or 1.0.
    """
    prog = extract_program(prediction_text)
    if prog is None:
        return {"execution_accuracy": 0.0, "program_accuracy": 0.0, "extracted": 0.0}
    meta = example.meta
    exe = float(execution_accuracy(prog, meta["exe_ans"], meta.get("table")))
    pa = float(program_accuracy(prog, str(meta["program"])))
    return {"execution_accuracy": exe, "program_accuracy": pa, "extracted": 1.0}


register_benchmark(
    "finqa",
    parse_finqa,
    detect=lambda k: {"pre_text", "post_text", "table", "qa"} <= set(k),
    turns_field="qa.program",
)
