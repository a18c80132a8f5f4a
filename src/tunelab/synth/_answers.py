"""Writing and reading final answers: number formatting, answer extraction, number parsing.

The same functions serve the generators (to write answers), the verifiers (to read them back)
and evaluators (to extract a model's answer the way the template asked for it). Numbers are read
with :func:`tunelab.evaluate.parse_number`.
"""

from __future__ import annotations

__all__ = ["ANSWER_FORMATS", "extract_answer", "fmt_num", "fmt_thousands"]

#: answer forms a template can request
ANSWER_FORMATS = ("number", "label", "text", "json", "reasoning_then_answer")


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

    A thin mapping from ``answer_format`` to the evaluation's strict extraction
    (:func:`tunelab.evaluate.extract_answer`, through the same per-format rule the evaluation runner applies
    to ``meta["answer_format"]``), so that generators, verifiers and evaluation read answers one way:

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
    from tunelab.data import Example
    from tunelab.evaluate._scoring import extract_item
    from tunelab.evaluate._suite import ExtractSpec

    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"unknown answer_format {answer_format!r}; expected one of {ANSWER_FORMATS}")
    if answer_format == "label" and not labels:
        raise ValueError("answer_format 'label' needs labels=[...]")
    meta: dict[str, object] = {"answer_format": answer_format}
    if labels:
        meta["labels"] = list(labels)
    answer, _rule = extract_item(text, Example(messages=[], meta=meta), ExtractSpec(method="auto"))
    # the evaluation's whole-number pattern can capture the space before an absent "%": strip it
    return answer.strip() if answer is not None else None
