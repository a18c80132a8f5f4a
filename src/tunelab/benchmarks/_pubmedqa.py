"""PubMedQA (Jin et al., EMNLP 2019): ``ori_pqal.json`` (and ``ori_pqaa.json``/``ori_pqau.json``) as released.

Layout: one JSON object keyed by PMID; each value holds ``QUESTION``, ``CONTEXTS`` (abstract sections),
``LABELS`` (their section names), ``LONG_ANSWER``, ``final_decision`` (yes/no/maybe), ``MESHES``, ``YEAR``,
``reasoning_required_pred``, ``reasoning_free_pred``. :func:`read_pubmedqa` yields one record per PMID with the
line of its key. The Hugging Face ``pubmed_qa`` layout (``pubid``, ``question``, ``context: {contexts,
labels}``, ``long_answer``, ``final_decision``; JSONL/Parquet/saved dataset) is read too.

Prompt: an instruction line, the abstract sections as ``LABEL: text`` lines, then ``Question: ...`` last.
Reference answer: the ``final_decision``. Scoring: strict label (the whole output is yes, no or maybe),
accuracy and macro-F1 as in the paper.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tunelab.benchmarks._common import (
    iter_json_object_items,
    maybe_json,
    need_text,
    register_benchmark,
    single_turn,
    type_name,
)
from tunelab.benchmarks._labels import score_label
from tunelab.data import Example, FieldProblem, RawRecord, file_kind, read_records
from tunelab.errors import Problem

__all__ = ["PUBMEDQA_LABELS", "parse_pubmedqa", "read_pubmedqa", "score_pubmedqa"]

PUBMEDQA_LABELS = ("yes", "no", "maybe")
PUBMEDQA_INSTRUCTION = "Read the abstract and answer the research question with one word: yes, no or maybe."
_PMID = "__pmid__"


def read_pubmedqa(path: str | os.PathLike[str]) -> Iterator[RawRecord]:
    """One raw record per PMID of a released ``ori_pq*.json`` file (other containers: the generic readers).

    Raises:
        InputError: the file does not exist.
    """
    p = Path(path)
    if (
        p.is_dir()
        or file_kind(p) != "json"
        or p.read_bytes()[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")[:1] != b"{"
    ):
        yield from read_records(path)
        return
    for item in iter_json_object_items(p):
        if isinstance(item, RawRecord):
            yield item
            continue
        key, value, line = item
        if not isinstance(value, dict):
            prob = Problem(f"expected an object for PMID {key}, got {type_name(value)}", str(p), line, key)
            yield RawRecord(str(p), line, None, [prob])
            continue
        yield RawRecord(str(p), line, {**value, _PMID: key})


def parse_pubmedqa(d: dict[str, Any], as_text: bool) -> tuple[Example | None, list[FieldProblem]]:
    """Parse one PubMedQA record, released (upper-case keys) or Hugging Face layout."""
    probs: list[FieldProblem] = []
    if "QUESTION" in d or _PMID in d:
        question = need_text(d, "QUESTION", probs)
        contexts, labels = maybe_json(d.get("CONTEXTS"), as_text), maybe_json(d.get("LABELS", []), as_text)
        ctx_field, ex_id, long_key = "CONTEXTS", str(d.get(_PMID, "")), "LONG_ANSWER"
    else:
        question = need_text(d, "question", probs)
        ctx = maybe_json(d.get("context"), as_text)
        ctx = ctx if isinstance(ctx, dict) else {}
        contexts, labels = ctx.get("contexts"), ctx.get("labels", [])
        ctx_field, ex_id, long_key = "context.contexts", str(d.get("pubid", "")), "long_answer"
    if not isinstance(contexts, list) or not contexts or not all(isinstance(c, str) for c in contexts):
        probs.append((ctx_field, f"expected a non-empty array of strings, got {type_name(contexts)}"))
        contexts = []
    if not isinstance(labels, list):
        labels = []
    decision = need_text(d, "final_decision", probs)
    if decision and decision.strip().lower() not in PUBMEDQA_LABELS:
        probs.append(("final_decision", f"expected yes, no or maybe, got {decision!r}"))
    if probs:
        return None, probs
    lines = [
        f"{str(lab).strip()}: {c.strip()}" if i < len(labels) and str(lab).strip() else c.strip()
        for i, (c, lab) in enumerate(zip(contexts, list(labels) + [""] * len(contexts)))
    ]
    user = f"{PUBMEDQA_INSTRUCTION}\n\nAbstract:\n" + "\n".join(lines) + f"\n\nQuestion: {question.strip()}"
    gold = decision.strip().lower()
    meta = {
        "task": "pubmedqa",
        "domain": "medical",
        "source": "pubmedqa",
        "benchmark": "pubmedqa",
        "scorer": "label",
        "answer_type": "label",
        "answer_format": "label",
        "labels": list(PUBMEDQA_LABELS),
        "gold": gold,
        "long_answer": d.get(long_key, ""),
        "question": question.strip(),
    }
    return single_turn(ex_id, user, gold, meta), probs


def score_pubmedqa(prediction_text: str, example: Example) -> dict[str, float]:
    """Score one PubMedQA output: the whole output must be yes, no or maybe (case-insensitive), compared with
    ``final_decision`` (PubMedQA reports accuracy and macro-F1 over these labels; macro-F1 is a set metric, see
    :func:`tunelab.benchmarks.score_set`).

    Returns:
        ``{"accuracy", "extracted"}``.
    """
    return score_label(prediction_text, example)


register_benchmark(
    "pubmedqa",
    parse_pubmedqa,
    detect=lambda k: "final_decision" in k and ("QUESTION" in k or "question" in k),
    read=read_pubmedqa,
    turns_field="final_decision",
)
