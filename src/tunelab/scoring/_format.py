"""Answer-format rules: how an answer is read from an output, given the form a template asked for.

Generators, verifiers and the evaluation runner read answers through this one module, so a template's
``answer_format`` means the same thing when data is written, checked and scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tunelab.scoring._extract import EXTRACTION_METHODS, extract_answer

__all__ = [
    "ANSWER_FORMATS",
    "EXTRACT_METHODS",
    "NO_ANSWER",
    "ExtractSpec",
    "extract_formatted",
    "read_answer",
]

#: answer forms a template can request (``meta["answer_format"]``)
ANSWER_FORMATS = ("number", "label", "text", "json", "reasoning_then_answer")
#: the label a failed extraction counts as in classification metrics (always wrong)
NO_ANSWER = "<no answer>"
#: ``auto`` reads the answer format / labels; ``none`` scores the stripped output as is
EXTRACT_METHODS = ("auto", "none", *EXTRACTION_METHODS)

# strict forms for each answer format (the synthetic tasks' template forms)
_LAST_ANSWER_LINE = r"(?msi).*^[ \t]*(?:final[ \t]+)?answer[ \t]*[:=][ \t]*(?P<answer>[^\n]*?)[ \t]*$"
_WHOLE_NUMBER = r"(?s)^\s*(?P<answer>[-+(]?\$?\s?(?:\d[\d,]*)?\.?\d+(?:\s?%)?\)?)\s*\.?\s*$"
_WHOLE_TEXT = r"(?s)^\s*(?P<answer>.*?\S)\s*$"


@dataclass
class ExtractSpec:
    """How the answer is read from the output (strict by default; see :func:`extract_answer`).

    Attributes:
        method: one of :data:`EXTRACT_METHODS`.
        pattern: the regular expression for ``regex``.
        field: the JSON field for ``json_field``.
        options: allowed letters for ``option_letter``.
        labels: the label set for ``label``/``label_first`` (else the item's labels).
    """

    method: str = "auto"
    pattern: str | None = None
    field: str | None = None
    options: str = "ABCDE"
    labels: list[str] | None = None


def read_answer(
    output: str,
    spec: ExtractSpec,
    answer_format: str | None = None,
    labels: Sequence[str] | None = None,
) -> tuple[str | None, str]:
    """Read the answer from one output.

    Args:
        output: the model output.
        spec: the extraction settings.
        answer_format: the form the item's template asked for (read by ``auto``).
        labels: the item's closed label set (``spec.labels`` wins when set).

    Returns:
        ``(answer or None, rule)`` where the rule names the method actually used.
    """
    label_set = [str(x) for x in (spec.labels or labels or [])] or None
    method = spec.method
    if method == "none":
        return (output.strip() or None), "none: the whole output, stripped"
    if method != "auto":
        ans = extract_answer(
            output,
            method,
            pattern=spec.pattern,
            field=spec.field,
            options=spec.options,
            labels=label_set,
        )
        return ans, method
    if answer_format == "json":
        return extract_answer(output, "json_field", field="answer"), "auto: json_field answer"
    if answer_format == "reasoning_then_answer":
        return extract_answer(output, "regex", pattern=_LAST_ANSWER_LINE), "auto: last 'Answer:' line"
    if answer_format == "label" or (answer_format is None and label_set):
        return extract_answer(output, "label", labels=label_set), "auto: label (strict, whole output)"
    if answer_format == "number":
        return extract_answer(output, "regex", pattern=_WHOLE_NUMBER), "auto: whole output is one number"
    return extract_answer(output, "regex", pattern=_WHOLE_TEXT), "auto: whole output, stripped"


def extract_formatted(
    text: str, answer_format: str, labels: list[str] | tuple[str, ...] | None = None
) -> str | None:
    """Extract the final answer from a response written in the form a template asked for.

    - ``json``: the whole response (optionally in a json fence) is one JSON object; its ``"answer"`` field.
    - ``reasoning_then_answer``: the last line starting with ``Answer:``.
    - ``label``: the whole response, stripped, equals one of ``labels`` (case-insensitively); returned as
      spelled in ``labels``.
    - ``number``: the whole response is one number; ``text``: the whole response, stripped.

    Args:
        text: the response.
        answer_format: one of :data:`ANSWER_FORMATS`.
        labels: the closed label set (required for ``label``).

    Returns:
        The answer string, or ``None`` when the response does not follow the form.

    Raises:
        ValueError: an unknown ``answer_format``, or ``label`` without ``labels``.
    """
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"unknown answer_format {answer_format!r}; expected one of {ANSWER_FORMATS}")
    if answer_format == "label" and not labels:
        raise ValueError("answer_format 'label' needs labels=[...]")
    answer, _rule = read_answer(text, ExtractSpec(method="auto"), answer_format, labels)
    # the whole-number pattern can capture the space before an absent "%": strip it
    return answer.strip() if answer is not None else None
