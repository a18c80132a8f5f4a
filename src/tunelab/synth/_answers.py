"""Writing and reading final answers: number formatting, answer extraction, number parsing.

The same functions serve the generators (to write answers), the verifiers (to read them back)
and evaluators (to extract a model's answer the way the template asked for it). Numbers are read
with :func:`tunelab.evaluate.parse_number`.
"""

from __future__ import annotations

import json
import re

__all__ = ["ANSWER_FORMATS", "extract_answer", "fmt_num", "fmt_thousands"]

#: answer forms a template can request
ANSWER_FORMATS = ("number", "label", "text", "json", "reasoning_then_answer")

_ANSWER_LINE_RE = re.compile(r"(?im)^\s*(?:final\s+)?answer\s*[:=]\s*(.+?)\s*$")


def fmt_num(x: float, decimals: int) -> str:
    """Write ``x`` with exactly ``decimals`` places (no thousands separator); ``-0.00`` becomes ``0.00``."""
    s = f"{x:.{decimals}f}"
    if s.startswith("-") and float(s) == 0:
        s = s[1:]
    return s


def fmt_thousands(x: float, decimals: int = 0) -> str:
    """Write ``x`` with a thousands separator (``5,829`` / ``1,234.50``)."""
    return f"{x:,.{decimals}f}"


def extract_answer(
    text: str, answer_format: str, labels: list[str] | tuple[str, ...] | None = None
) -> str | None:
    """Extract the final answer from a response written in the form a template asked for.

    The rules are strict on purpose (a lenient first-or-last-match inflates scores):

    - ``json``: the last ``{...}`` object in the text that parses and has an ``"answer"`` key.
    - ``reasoning_then_answer``: the last line starting with ``Answer:``.
    - ``label``: the whole response, stripped of whitespace, case and final punctuation, must be
      one of ``labels`` (when given).
    - ``number`` / ``text``: the whole response, stripped.

    Args:
        text: the response.
        answer_format: one of :data:`ANSWER_FORMATS`.
        labels: the closed label set, for ``label``.

    Returns:
        The answer string, or ``None`` when the response does not follow the form.

    Raises:
        ValueError: on an unknown ``answer_format``.
    """
    if answer_format == "json":
        for m in reversed(list(re.finditer(r"\{[^{}]*\}", text))):
            try:
                obj = json.loads(m.group(0))
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict) and "answer" in obj:
                return str(obj["answer"]).strip()
        return None
    if answer_format == "reasoning_then_answer":
        found = _ANSWER_LINE_RE.findall(text)
        return found[-1].strip() if found else None
    if answer_format == "label":
        cand = text.strip().strip(".!").strip().lower()
        if labels is not None and cand not in {lab.lower() for lab in labels}:
            return None
        return cand or None
    if answer_format in ("number", "text"):
        cand = text.strip()
        return cand or None
    raise ValueError(f"unknown answer_format {answer_format!r}; expected one of {ANSWER_FORMATS}")
