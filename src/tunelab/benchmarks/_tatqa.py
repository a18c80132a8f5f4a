"""TAT-QA (Zhu et al., ACL 2021): ``tatqa_dataset_{train,dev,test_gold}.json`` as released.

Layout: a JSON array of contexts ``{"table": {"uid", "table": [rows]}, "paragraphs": [{"uid", "order",
"text"}], "questions": [{"uid", "order", "question", "answer", "derivation", "answer_type", "answer_from",
"scale", "rel_paragraphs", "req_comparison"}]}``. One Example per question (:func:`read_tatqa` splits each
context into one record per question, keeping the context's line; fields are named
``questions[i].answer`` and so on).

Prompt: an instruction line, the table as pipe rows, the paragraphs in their ``order``, then ``Question: ...``
last. Reference answer: ``{"answer": ..., "scale": ...}`` as JSON (a list for multi-span answers).

Scoring (:func:`score_tatqa`): the output must be that JSON object (optionally in a ```json fence); the
answer and scale go to :func:`tunelab.scoring.tatqa_em_f1`, the official rule (numbers rounded to 2 places
then multiplied by the scale, so a wrong scale makes a number wrong; "(134)" is -134; F1 = EM for
arithmetic and count answers).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from tunelab.benchmarks._common import (
    maybe_json,
    need_table,
    need_text,
    register_benchmark,
    render_table,
    single_turn,
    type_name,
)
from tunelab.data import Example, FieldProblem, RawRecord, read_records
from tunelab.scoring import extract_answer, tatqa_em_f1

__all__ = [
    "TATQA_ANSWER_TYPES",
    "TATQA_INSTRUCTION",
    "TATQA_SCALES",
    "extract_tatqa",
    "parse_tatqa",
    "read_tatqa",
    "score_tatqa",
]

TATQA_ANSWER_TYPES = ("span", "multi-span", "arithmetic", "count")
TATQA_SCALES = ("", "thousand", "million", "billion", "percent")
TATQA_INSTRUCTION = (
    "Answer the question using the table and the paragraphs below. Reply with one JSON object "
    '{"answer": ..., "scale": ...}: the answer is a number, a text span, or a list of spans; the scale is one of '
    '"", "thousand", "million", "billion", "percent".'
)
_QKEY = "__tatqa_question__"
_QINDEX = "__tatqa_index__"


def read_tatqa(path: str | os.PathLike[str]) -> Iterator[RawRecord]:
    """One raw record per TAT-QA question: the context's fields plus the question (line = the context's).

    Raises:
        InputError: the file cannot be read.
    """
    for rec in read_records(path):
        if rec.data is None:
            yield rec
            continue
        questions = rec.data.get("questions")
        if not isinstance(questions, list) or not questions:
            yield rec  # the parser reports the missing/empty questions
            continue
        for i, q in enumerate(questions):
            data = {k: v for k, v in rec.data.items() if k != "questions"}
            data[_QKEY], data[_QINDEX] = q, i
            yield RawRecord(rec.file, rec.line, data, structured_as_text=rec.structured_as_text)


def _answer(v: Any, answer_type: str, fld: str, probs: list[FieldProblem]) -> Any:
    if answer_type == "multi-span":
        if not isinstance(v, list) or not v or not all(isinstance(x, str | int | float) for x in v):
            probs.append((fld, f"a multi-span answer is a non-empty array, got {type_name(v)}"))
        return v
    if isinstance(v, list) and len(v) >= 1 and all(isinstance(x, str | int | float) for x in v):
        return v  # span answers are released as one-element lists
    if isinstance(v, bool) or not isinstance(v, str | int | float) or (isinstance(v, str) and not v.strip()):
        probs.append(
            (fld, "missing" if v is None else f"expected a string, number or array, got {type_name(v)}")
        )
    return v


def parse_tatqa(d: dict[str, Any], as_text: bool) -> tuple[Example | None, list[FieldProblem]]:
    """Parse one TAT-QA question record as yielded by :func:`read_tatqa`."""
    probs: list[FieldProblem] = []
    if _QKEY not in d:
        qs = d.get("questions")
        probs.append(
            ("questions", "missing" if qs is None else f"expected a non-empty array, got {type_name(qs)}")
        )
        return None, probs
    i = d.get(_QINDEX, 0)
    where = f"questions[{i}]."
    q = maybe_json(d[_QKEY], as_text)
    if not isinstance(q, dict):
        return None, [(where.rstrip("."), f"expected an object, got {type_name(q)}")]
    tab = maybe_json(d.get("table"), as_text)
    rows: list[list[str]] = []
    if not isinstance(tab, dict) or "table" not in tab:
        probs.append(("table", "expected an object with uid and table"))
    else:
        rows = need_table(tab["table"], "table.table", probs, as_text)
    paras = maybe_json(d.get("paragraphs"), as_text)
    texts: list[tuple[float, str]] = []
    if not isinstance(paras, list):
        probs.append(("paragraphs", f"expected an array, got {type_name(paras)}"))
    else:
        for k, p in enumerate(paras):
            if not isinstance(p, dict) or not isinstance(p.get("text"), str):
                probs.append((f"paragraphs[{k}].text", "expected an object with a text string"))
                continue
            order = p.get("order", k + 1)
            texts.append((float(order) if isinstance(order, int | float) else k + 1.0, p["text"]))
    question = need_text(q, "question", probs, where=where)
    atype = need_text(q, "answer_type", probs, where=where)
    if atype and atype not in TATQA_ANSWER_TYPES:
        probs.append(
            (f"{where}answer_type", f"unknown answer type {atype!r} ({', '.join(TATQA_ANSWER_TYPES)})")
        )
    scale = q.get("scale", "")
    if not isinstance(scale, str) or scale not in TATQA_SCALES:
        probs.append(
            (f"{where}scale", f"unknown scale {scale!r} (one of {', '.join(map(repr, TATQA_SCALES))})")
        )
    if "answer" not in q:
        probs.append((f"{where}answer", "missing"))
        return None, probs
    answer = _answer(q["answer"], atype, f"{where}answer", probs)
    if probs:
        return None, probs
    body = "\n\n".join(t.strip() for _, t in sorted(texts, key=lambda x: x[0]) if t.strip())
    user = f"{TATQA_INSTRUCTION}\n\n{render_table(rows)}\n\n{body}\n\nQuestion: {question.strip()}"
    meta = {
        "task": "tatqa",
        "domain": "finance",
        "source": "tatqa",
        "benchmark": "tatqa",
        "scorer": "tatqa",
        "answer_type": atype,
        "gold": answer,
        "scale": scale,
        "answer_from": q.get("answer_from"),
        "derivation": q.get("derivation", ""),
        "question": question.strip(),
    }
    ex_id = str(q.get("uid") or "")
    return single_turn(
        ex_id, user, json.dumps({"answer": answer, "scale": scale}, ensure_ascii=False), meta
    ), probs


def extract_tatqa(text: str) -> tuple[Any, str] | None:
    """``(answer, scale)`` from an output that is one JSON object with ``answer`` (and optionally ``scale``).

    A ```json fence around the object is accepted; anything else (prose around the JSON, a missing answer, a
    scale outside TAT-QA's five) is no answer.
    """
    if not isinstance(text, str):
        return None
    raw = extract_answer(text, "json_field", field="answer")
    if raw is None:
        return None
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").strip()
        body = body[4:] if body.lower().startswith("json") else body
    try:
        obj = json.loads(body)
    except json.JSONDecodeError:
        return None
    scale = obj.get("scale", "")
    scale = "" if scale is None else str(scale).strip().lower()
    if scale not in TATQA_SCALES:
        return None
    answer = obj["answer"]
    if isinstance(answer, list) and len(answer) == 1:
        answer = answer[0]
    return answer, scale


def score_tatqa(prediction_text: str, example: Example) -> dict[str, float]:
    """Score one TAT-QA output by the official ``TaTQAEmAndF1`` rule (:func:`tunelab.scoring.tatqa_em_f1`).

    The answer and the scale are read by :func:`extract_tatqa`; numbers are rounded to 2 decimals and
    multiplied by their scale before comparison, so "1.5" thousand is not "1.5" million; "(134)" is -134 and
    "12%" is 0.12; for ``arithmetic`` and ``count`` answers F1 equals EM. No extracted answer scores 0.

    Args:
        prediction_text: the raw model output.
        example: the item (meta ``gold``, ``scale``, ``answer_type``).

    Returns:
        ``{"tatqa_em", "tatqa_f1", "extracted"}``.
    """
    got = extract_tatqa(prediction_text)
    if got is None:
        return {"tatqa_em": 0.0, "tatqa_f1": 0.0, "extracted": 0.0}
    answer, scale = got
    meta = example.meta
    gold = meta["gold"]
    em, f1 = tatqa_em_f1(
        answer if isinstance(answer, list) else str(answer),
        scale,
        gold if isinstance(gold, list) else str(gold),
        str(meta.get("scale", "")),
        str(meta.get("answer_type", "span")),
    )
    return {"tatqa_em": float(em), "tatqa_f1": float(f1), "extracted": 1.0}


register_benchmark("tatqa", parse_tatqa, detect=None, read=read_tatqa, turns_field="questions")
