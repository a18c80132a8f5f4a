"""Writing and reading final answers: number formatting, answer extraction, number parsing.

The same functions serve the generators (to write answers), the verifiers (to read them back)
and evaluators (to extract a model's answer the way the template asked for it). Numbers are read
with :func:`tunelab.scoring.parse_number`.
"""

from __future__ import annotations

from tunelab.scoring import ANSWER_FORMATS, extract_formatted

__all__ = ["ANSWER_FORMATS", "extract_answer", "fmt_num", "fmt_thousands"]


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

    The evaluation's answer-format rule (:func:`tunelab.scoring.extract_formatted`, the one the evaluation
    runner applies to ``meta["answer_format"]``), so that generators, verifiers and evaluation read answers
    one way.

    Args:
        text: the response.
        answer_format: one of :data:`ANSWER_FORMATS`.
        labels: the closed label set (required for ``label``).

    Returns:
        The answer string, or ``None`` when the response does not follow the form.

    Raises:
        ValueError: an unknown ``answer_format``, or ``label`` without ``labels``.
    """
    return extract_formatted(text, answer_format, labels)
