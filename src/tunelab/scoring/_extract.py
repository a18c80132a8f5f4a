"""Answer extraction from model output, strict by default.

Lenient extraction (take the first or last letter or label found anywhere) inflates scores: a model that
rambles through every option gets credit. Every method here is strict unless its name says otherwise
(``label_first``), and the name is reported beside the score.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["EXTRACTION_METHODS", "extract_answer"]

EXTRACTION_METHODS: tuple[str, ...] = (
    "regex",
    "last_number",
    "json_field",
    "option_letter",
    "label",
    "label_first",
)

# A number as written in answers: sign, currency, thousands groups, decimals, percent; "(134)" negatives.
_NUMBER_RE = re.compile(
    r"(?<![\w.])(?:\(\s*\$?\s*\d{1,3}(?:,\d{3})*(?:\.\d+)?\s*\)"
    r"|[-+\u2212]?\$?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s?%)?)(?![\w])"
)
_LETTER_FORM = r"\(?\s*([A-Za-z])\s*\)?\s*[.:]?"
_ANSWER_LINE_RE = re.compile(
    r"^\s*(?:the\s+)?(?:final\s+)?answer(?:\s+is)?\s*[:\-]?\s*" + _LETTER_FORM + r"\s*$", re.IGNORECASE
)
_FENCE_RE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?```\s*$", re.DOTALL)


def _regex(text: str, pattern: str | None) -> str | None:
    if not pattern:
        raise ValueError("method 'regex' needs pattern=...")
    m = re.search(pattern, text)
    if m is None:
        return None
    if "answer" in m.re.groupindex:
        return m.group("answer")
    return m.group(1) if m.re.groups else m.group(0)


def _last_number(text: str) -> str | None:
    found = _NUMBER_RE.findall(text)
    return found[-1].strip() if found else None


def _json_field(text: str, field: str | None) -> str | None:
    if not field:
        raise ValueError("method 'json_field' needs field=...")
    body = text.strip()
    fence = _FENCE_RE.match(body)
    if fence:
        body = fence.group(1).strip()
    try:
        obj: Any = json.loads(body)
    except json.JSONDecodeError:
        return None
    for key in field.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    if obj is None or isinstance(obj, (dict, list)):
        return None if obj is None else json.dumps(obj)
    return str(obj)


def _option_letter(text: str, options: str) -> str | None:
    allowed = {c.upper() for c in options}

    def letter_of(m: re.Match[str] | None) -> str | None:
        if m is None:
            return None
        letter = m.group(1).upper()
        return letter if letter in allowed else None

    whole = re.fullmatch(r"\s*" + _LETTER_FORM + r"\s*", text)
    if whole:
        return letter_of(whole)
    found = {letter_of(_ANSWER_LINE_RE.match(line)) for line in text.splitlines()}
    found.discard(None)
    # Exactly one "Answer: X" letter; two different ones is not an answer.
    return found.pop() if len(found) == 1 else None


def _label(text: str, labels: Sequence[str] | None, first: bool) -> str | None:
    if not labels:
        raise ValueError("methods 'label' and 'label_first' need labels=[...]")
    lowered = {lab.strip().lower(): lab for lab in labels}
    out = text.strip().lower()
    if not first:
        return lowered.get(out)
    best: tuple[int, int, str] | None = None
    for key, lab in lowered.items():
        m = re.search(r"(?<!\w)" + re.escape(key) + r"(?!\w)", out)
        if m and (best is None or (m.start(), -len(key)) < best[:2]):
            best = (m.start(), -len(key), lab)
    return best[2] if best else None


def extract_answer(
    text: str,
    method: str,
    *,
    pattern: str | None = None,
    field: str | None = None,
    options: str = "ABCDE",
    labels: Sequence[str] | None = None,
) -> str | None:
    """Extract the answer from a model's output.

    Methods:
        - ``regex``: the first match of ``pattern``: its ``answer`` group, else group 1, else the whole match.
        - ``last_number``: the last number in the text, as written ("1,234.5", "-3", "53.1%", "(134)", "$ 12").
        - ``json_field``: the output (optionally in a ```json fence) must be one JSON object; returns
          ``field`` (dots descend into nested objects) as a string.
        - ``option_letter`` (strict): the whole output is one allowed letter ("B", "(B)", "B.", "b"), or the
          output has "Answer: B"-style lines ("The answer is (B)", "Final answer: B") that all name the same
          letter. A letter mentioned in passing does not count.
        - ``label`` (strict): the output, stripped and lowercased, equals one label (case-insensitively).
        - ``label_first`` (lenient, named so reports show it): the label that occurs first as a whole word;
          at the same position, the longest label wins.

    Args:
        text: the model output.
        method: one of :data:`EXTRACTION_METHODS`.
        pattern: the regular expression for ``regex``.
        field: the field for ``json_field``.
        options: the allowed letters for ``option_letter``.
        labels: the label set for ``label`` and ``label_first`` (the returned label is spelled as given here).

    Returns:
        The extracted answer, or ``None`` when the output holds no answer under the method's rule.

    Raises:
        ValueError: an unknown method or a missing option the method needs.
    """
    if not isinstance(text, str):
        return None
    if method == "regex":
        return _regex(text, pattern)
    if method == "last_number":
        return _last_number(text)
    if method == "json_field":
        return _json_field(text, field)
    if method == "option_letter":
        return _option_letter(text, options)
    if method in ("label", "label_first"):
        return _label(text, labels, first=method == "label_first")
    raise ValueError(f"unknown extraction method {method!r}; known: {', '.join(EXTRACTION_METHODS)}")
