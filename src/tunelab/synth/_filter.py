"""Filters for generated instruction data; every one says what it removed and why.

The instruction filters are Self-Instruct's (Wang et al. 2023, section 2.4 and its released code): 4 to 150
words, no blacklisted words (the model cannot see or make images, files, audio...), not starting with
punctuation or a non-English character, and ROUGE-L <= 0.7 against every kept instruction. The output
filters drop empty outputs, outputs that copy the input and outputs cut by the token budget.
:func:`filter_examples` chains these with exact and near-duplicate removal (the data layer's), the verifiers
of the synthetic tasks and an optional LLM-judge gate; it backs ``tunelab synth filter``.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tunelab.data import Example, dedup_exact, dedup_near
from tunelab.synth._generate import verify as verify_example
from tunelab.synth._novelty import NoveltyIndex
from tunelab.synth._registry import list_tasks

__all__ = [
    "BLACKLIST",
    "Judge",
    "Rejections",
    "FilterReport",
    "instruction_problem",
    "output_problem",
    "instruction_text",
    "filter_examples",
]

#: An LLM judge gate: ``judge(instructions, responses, ids)`` grades each pair 1-10 and returns, per pair,
#: ``(rating or None when unparsable, the judge's raw output)``. :func:`tunelab.evaluate.rating_judge` builds one
#: from a backend (MT-Bench's single-answer prompt); ``synth`` itself never imports the evaluation package.
Judge = Callable[[Sequence[str], Sequence[str], Sequence[str]], Sequence[tuple[int | None, str]]]

#: Self-Instruct's blacklist: tasks a text-only model cannot do
BLACKLIST: tuple[str, ...] = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
    "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram",
)  # fmt: skip


def _blacklist_re(words: Sequence[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


_DEFAULT_BLACKLIST_RE = _blacklist_re(BLACKLIST)


class Rejections:
    """Rejected records with their reason, and counts per reason (in first-seen order)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.records: list[dict[str, Any]] = []

    def add(self, reason: str, record: Any, stage: str, detail: str = "") -> None:
        """Count one rejection and keep the record (an Example, a dict or a string) with its reason."""
        self.counts[reason] += 1
        body = record.to_dict() if isinstance(record, Example) else record
        self.records.append({"stage": stage, "reason": reason, "detail": detail, "record": body})

    def extend(self, rows: Sequence[dict[str, Any]]) -> None:
        """Add rows already in :meth:`add`'s form (replayed from a journal)."""
        for r in rows:
            self.counts[r["reason"]] += 1
            self.records.append(r)


def instruction_problem(
    text: str, min_words: int = 4, max_words: int = 150, blacklist: Sequence[str] | None = BLACKLIST
) -> tuple[str, str] | None:
    """Why an instruction fails Self-Instruct's heuristic filters, or ``None`` when it passes.

    Args:
        text: the instruction.
        min_words: fewer words than this fails.
        max_words: more words than this fails.
        blacklist: words or phrases that must not occur as whole words (case-insensitive); ``None`` or empty
            turns the check off.

    Returns:
        ``(reason, detail)``: a reason from a fixed set (counted) and the specifics (recorded).
    """
    words = text.split()
    if not words:
        return "empty instruction", ""
    if len(words) < min_words:
        return f"too short (< {min_words} words)", f"{len(words)} words"
    if len(words) > max_words:
        return f"too long (> {max_words} words)", f"{len(words)} words"
    pattern = _DEFAULT_BLACKLIST_RE if blacklist is BLACKLIST else _blacklist_re(blacklist or ())
    if pattern is not None:
        m = pattern.search(text)
        if m:
            return "blacklisted word", m.group(1).lower()
    first = text.strip()[0]
    if first in string.punctuation:
        return "starts with punctuation", first
    if not first.isascii():
        return "starts with a non-English character", first
    return None


def output_problem(input_text: str, output: str, finish_reason: str) -> tuple[str, str] | None:
    """Why a generated instance output fails (empty, copies the input, truncated), or ``None``.

    Args:
        input_text: the instance input ("" when the task takes none).
        output: the generated output.
        finish_reason: ``length`` when generation hit the token budget.
    """
    if finish_reason == "length":
        return "truncated output (hit max tokens)", ""
    if not output.strip():
        return "empty output", ""
    if input_text.strip() and output.strip() == input_text.strip():
        return "output copies the input", ""
    return None


def instruction_text(ex: Example) -> str:
    """The instruction of an example: its prompt turns' text (system and user), joined by newlines."""
    return "\n".join(m["content"] for m in ex.prompt_messages if m["role"] != "assistant")


@dataclass
class FilterReport:
    """The outcome of :func:`filter_examples`.

    Attributes:
        kept: examples that passed every filter, in input order.
        rejections: removed records with their reasons and counts per reason.
        n_in: examples read.
        steps: the filters applied, in order.
    """

    kept: list[Example]
    rejections: Rejections
    n_in: int
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Counts only, for printing."""
        return {
            "n_in": self.n_in,
            "kept": len(self.kept),
            "rejected": len(self.rejections.records),
            "reasons": dict(self.rejections.counts),
            "steps": list(self.steps),
        }


def _verifiable_tasks() -> set[str]:
    return {t.name for t in list_tasks()}


def _judge_gate(items: list[Example], judge: Judge, min_score: int, rej: Rejections) -> list[Example]:
    """Keep the examples the judge rates at least ``min_score``; record each rejection with its reason."""
    grades = judge(
        [instruction_text(ex) for ex in items],
        [ex.response or "" for ex in items],
        [ex.id or str(i) for i, ex in enumerate(items)],
    )
    passed = []
    for ex, (rating, raw) in zip(items, grades):
        if rating is None:
            rej.add("judge gave no parsable rating", ex, "judge", raw[-200:])
        elif rating < min_score:
            rej.add(f"judge rating < {min_score}", ex, "judge", f"rating {rating}")
        else:
            ex.meta["judge_rating"] = rating
            passed.append(ex)
    return passed


def filter_examples(
    examples: Sequence[Example],
    near_dup_threshold: float | None = 0.8,
    rouge_threshold: float | None = 0.7,
    min_words: int = 4,
    max_words: int = 150,
    blacklist: Sequence[str] | None = BLACKLIST,
    verify: bool = False,
    judge: Judge | None = None,
    judge_min_score: int = 7,
) -> FilterReport:
    """Filter generated examples: length, blacklist, exact and near duplicates, ROUGE-L novelty, verifier, judge.

    Cheap filters run first; each later filter sees only what the earlier ones kept. Duplicates keep the first
    occurrence.

    Args:
        examples: the examples, in order.
        near_dup_threshold: MinHash Jaccard threshold of :func:`tunelab.data.dedup_near` (``None``: off).
        rouge_threshold: drop an instruction whose ROUGE-L F against a kept one is above this (``None``: off).
        min_words: instruction length floor (words).
        max_words: instruction length ceiling (words).
        blacklist: Self-Instruct's blacklist (``None``: off).
        verify: check examples of verifiable synthetic tasks (``meta["task"]`` names one) with
            :func:`tunelab.synth.verify`; other examples pass this gate untouched.
        judge: an LLM judge (:data:`Judge`, e.g. :func:`tunelab.evaluate.rating_judge`): each (instruction,
            response) is graded 1-10 and kept when the rating is at least ``judge_min_score``; an unparsable
            rating rejects.
        judge_min_score: the rating floor.

    Returns:
        A :class:`FilterReport`.
    """
    rej = Rejections()
    steps: list[str] = []
    items = list(examples)

    steps.append(f"length {min_words}-{max_words} words" + (", blacklist" if blacklist else ""))
    passed = []
    for ex in items:
        problem = instruction_problem(instruction_text(ex), min_words, max_words, blacklist)
        if problem:
            rej.add(problem[0], ex, "heuristics", problem[1])
        else:
            passed.append(ex)
    items = passed

    steps.append("exact duplicates")
    res = dedup_exact(items)
    for r in res.removed:
        rej.add("exact duplicate", r.item, "dedup", f"repeats {r.duplicate_of}")
    items = list(res.kept)

    if near_dup_threshold is not None and items:
        steps.append(f"near duplicates (MinHash Jaccard >= {near_dup_threshold})")
        res = dedup_near(items, threshold=near_dup_threshold)
        for r in res.removed:
            rej.add("near duplicate", r.item, "dedup", f"{r.reason}; repeats {r.duplicate_of}")
        items = list(res.kept)

    if rouge_threshold is not None:
        steps.append(f"ROUGE-L novelty (F > {rouge_threshold} against a kept instruction)")
        index = NoveltyIndex(rouge_threshold)
        passed = []
        for ex in items:
            d = index.check_and_add(instruction_text(ex))
            if d.novel:
                passed.append(ex)
            else:
                rej.add(
                    f"ROUGE-L > {rouge_threshold} against a kept instruction",
                    ex,
                    "novelty",
                    f"ROUGE-L {d.score:.3f} vs {passed[d.match].id or d.match!r}",
                )
        items = passed

    if verify:
        steps.append("verifier (synthetic tasks)")
        known = _verifiable_tasks()
        passed = []
        for ex in items:
            if ex.meta.get("task") in known:
                verdict = verify_example(ex)
                if not verdict:
                    rej.add("failed verification", ex, "verify", verdict.reason)
                    continue
            passed.append(ex)
        items = passed

    if judge is not None and items:
        steps.append(f"LLM judge (rating >= {judge_min_score} of 10)")
        items = _judge_gate(items, judge, judge_min_score, rej)

    return FilterReport(items, rej, len(examples), steps)
