"""Descriptive statistics of a data set: sizes, lengths, label balance, duplicates.

Token lengths use a tokenizer the caller loads and passes in; nothing here loads a model or tokenizer.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from tunelab.data._dedup import dedup_exact
from tunelab.data._encode import plain_prompt
from tunelab.data._example import Example

__all__ = ["describe"]


def _dist(values: Sequence[int]) -> dict[str, float]:
    if not values:
        return {"min": 0, "mean": 0.0, "p50": 0, "p90": 0, "p99": 0, "max": 0}
    s = sorted(values)

    def pct(q: float) -> float:
        # nearest-rank percentile: the smallest value with at least q% of the data at or below it
        return s[max(0, math.ceil(q / 100 * len(s)) - 1)]

    return {
        "min": s[0],
        "mean": round(sum(s) / len(s), 2),
        "p50": pct(50),
        "p90": pct(90),
        "p99": pct(99),
        "max": s[-1],
    }


def _token_length(tok: Any, ex: Example) -> int:
    """Tokens of the example as training renders it: the chat template, else the plain format (prompt, then
    the final response)."""
    msgs = [{"role": m["role"], "content": m["content"]} for m in ex.messages]
    if getattr(tok, "chat_template", None):
        texts = [tok.apply_chat_template(msgs, tokenize=False)]
    else:
        texts = [plain_prompt(msgs), ex.response or ""]
    return sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)


def describe(
    examples: Sequence[Example],
    format: str | None = None,
    tokenizer: Any = None,
    max_length: int | None = None,
) -> dict[str, Any]:
    """Statistics of a list of examples.

    Args:
        examples: the examples.
        format: the shape they were read from (``classification`` adds label balance).
        tokenizer: measure lengths in tokens of the chat rendering; without one, in words and characters.
        max_length: count examples longer than this (in the primary length unit).

    Returns:
        A JSON-serializable dict: ``examples``, ``turns``, ``length`` (``unit`` and distribution),
        ``chars``, ``labels`` (classification), ``exact_duplicates``, ``over_max_length``.
    """
    turns = [len(ex.messages) for ex in examples]
    chars = [sum(len(m["content"]) for m in ex.messages) for ex in examples]
    if tokenizer is not None:
        unit, lengths = "tokens", [_token_length(tokenizer, ex) for ex in examples]
    else:
        unit, lengths = "words", [sum(len(m["content"].split()) for m in ex.messages) for ex in examples]
    out: dict[str, Any] = {
        "examples": len(examples),
        "format": format,
        "turns": {**_dist(turns), "total": sum(turns)},
        "ending_with_assistant": sum(1 for ex in examples if ex.response is not None),
        "length": {"unit": unit, **_dist(lengths)},
        "chars": _dist(chars),
        "exact_duplicates": len(dedup_exact(examples).removed),
    }
    labelled = format == "classification" or any("label" in ex.meta for ex in examples)
    if labelled:
        counts = Counter(str(ex.meta.get("label", ex.response)) for ex in examples)
        total = sum(counts.values()) or 1
        out["labels"] = {k: {"count": v, "fraction": round(v / total, 4)} for k, v in counts.most_common()}
    if max_length is not None:
        out["max_length"] = max_length
        out["over_max_length"] = sum(1 for n in lengths if n > max_length)
    return out
