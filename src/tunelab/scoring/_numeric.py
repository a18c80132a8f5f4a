"""Numbers in model answers and the official numeric scoring rules.

- :func:`parse_number`: one number written the way reports write them ("$ 1,234", "(134)", "53.1%",
  "1.2 million", "−5").
- :func:`medcalc_correct`: MedCalc-Bench's rule (decimal within 5 % of the ground truth, integer by rounding,
  dates and (weeks, days) exact).
- :func:`tatqa_em_f1`: TAT-QA's exact match and DROP-style F1 with scales.
- :func:`numeric_match`: a tolerant comparator whose result names the rule it applied.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date

__all__ = [
    "SCALES",
    "NumericMatch",
    "medcalc_correct",
    "numeric_match",
    "parse_number",
    "tatqa_em_f1",
]

#: Scale words and their multipliers (TAT-QA's scales plus "trillion").
SCALES: dict[str, float] = {
    "": 1.0,
    "thousand": 1e3,
    "million": 1e6,
    "billion": 1e9,
    "trillion": 1e12,
    "percent": 0.01,
}

_MINUS_CHARS = str.maketrans({"\u2212": "-", "\u2012": "-", "\u2013": "-", "\ufe63": "-", "\uff0d": "-"})
_CURRENCY = "$€£¥"
_NUMBER_RE = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d*)(?:\.\d*)?(?:[eE][+-]?\d+)?$")
_SCALE_SUFFIX_RE = re.compile(r"\s*\b(thousand|million|billion|trillion)s?$", re.IGNORECASE)
_PERCENT_WORD_RE = re.compile(r"\s*\bper\s?cent$", re.IGNORECASE)


def parse_number(text: str | float | int, percent_as_fraction: bool = True) -> float | None:
    """Parse one number written as in financial and clinical text.

    The whole string must be one number (this is not extraction, see :func:`tunelab.scoring.extract_answer`).
    Accepted: thousands commas in valid groups ("1,234,567"), a currency sign ("$ 1,234", "-$5"), parentheses
    for negatives ("(134)" is -134), a sign including the unicode minus, scientific notation, a trailing "%" or
    "percent" (divided by 100 unless ``percent_as_fraction`` is false) and a trailing scale word
    ("1.2 million" is 1.2e6; thousand, million, billion, trillion).

    Args:
        text: the string (numbers are returned as floats; booleans are rejected).
        percent_as_fraction: "53.1%" -> 0.531 when true (the MedCalc-Bench and TAT-QA convention), 53.1 when false.

    Returns:
        The value, or ``None`` when ``text`` is not one number.
    """
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        value = float(text)
        return value if math.isfinite(value) else None
    s = str(text).translate(_MINUS_CHARS).strip()
    negative = False
    multiplier = 1.0
    seen_sign = seen_paren = seen_pct = seen_scale = False
    for _ in range(8):  # peel decorations in any order; each kind at most once
        s = s.strip()
        if not s:
            return None
        m = _SCALE_SUFFIX_RE.search(s)
        if m and not seen_scale:
            multiplier *= SCALES[m.group(1).lower()]
            s, seen_scale = s[: m.start()], True
            continue
        m = _PERCENT_WORD_RE.search(s)
        if (s.endswith("%") or m) and not seen_pct:
            s = s[:-1] if s.endswith("%") else s[: m.start()]  # type: ignore[union-attr]
            if percent_as_fraction:
                multiplier *= 0.01
            seen_pct = True
            continue
        if s[0] in _CURRENCY:
            s = s[1:]
            continue
        if s[-1] in _CURRENCY:
            s = s[:-1]
            continue
        if s[0] == "(" and s[-1] == ")" and not seen_paren and not seen_sign:
            s, negative, seen_paren = s[1:-1], not negative, True
            continue
        if s[0] in "+-" and not seen_sign:
            negative = negative != (s[0] == "-")
            s, seen_sign = s[1:], True
            continue
        break
    if not _NUMBER_RE.match(s) or not any(c.isdigit() for c in s.split("e")[0].split("E")[0]):
        return None
    value = float(s.replace(",", "")) * multiplier
    if not math.isfinite(value):
        return None
    return -value if negative else value


def _parse_date(text: str) -> date | None:
    m = re.fullmatch(r"\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*", str(text))
    if not m:
        return None
    try:
        return date(int(m.group(3)), int(m.group(1)), int(m.group(2)))
    except ValueError:
        return None


_WEEKS_DAYS_RE = re.compile(
    r"^\s*\(?\s*['\"]?\s*(\d+)\s*(?:weeks?)?\s*['\"]?\s*,\s*['\"]?\s*(\d+)\s*(?:days?)?\s*['\"]?\s*\)?\s*$",
    re.IGNORECASE,
)


def _parse_weeks_days(value: str | tuple[int, int] | list[int]) -> tuple[int, int] | None:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            return None
        parts = [_parse_weeks_days_part(v) for v in value]
        return (parts[0], parts[1]) if parts[0] is not None and parts[1] is not None else None
    m = _WEEKS_DAYS_RE.match(str(value))
    return (int(m.group(1)), int(m.group(2))) if m else None


def _parse_weeks_days_part(v: object) -> int | None:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    m = re.fullmatch(r"\s*(\d+)\s*(?:weeks?|days?)?\s*", str(v), re.IGNORECASE)
    return int(m.group(1)) if m else None


def medcalc_correct(pred: object, gold: object, output_type: str) -> bool:
    """Score one MedCalc-Bench answer by the benchmark's rule.

    Rules (MedCalc-Bench ``evaluation/evaluate.py``; the data set's Lower/Upper Limit columns are
    ``gt * 0.95`` and ``gt * 1.05``):

    - ``decimal``: correct when ``abs(pred - gt) <= 0.05 * abs(gt)``. The absolute value keeps the band valid for
      negative ground truths (0.95·gt > 1.05·gt there, so comparing against the raw limit columns would mark every
      answer wrong).
    - ``integer``: correct when ``round(pred) == gt`` (Python's round: halves go to the even integer).
    - ``date``: the same calendar date written ``mm/dd/yyyy`` (leading zeros optional).
    - ``weeks_days`` (also accepted: ``"(weeks, days)"``, ``"tuple"``): weeks and days both equal; accepts
      ``(4, 2)``, ``"(4 weeks, 2 days)"`` and ``"('4 weeks', '2 days')"``.

    Numbers go through :func:`parse_number`, so "53.1%" is 0.531.

    Args:
        pred: the extracted predicted answer (string or number).
        gold: the ground truth.
        output_type: ``decimal``, ``integer``, ``date`` or ``weeks_days``.

    Returns:
        Whether the answer is correct. An unparsable prediction is wrong, never an exception.

    Raises:
        ValueError: unknown ``output_type`` or an unparsable ground truth (that is a data error).
    """
    kind = output_type.strip().lower()
    if kind in ("decimal", "integer"):
        gt = parse_number(gold if isinstance(gold, (int, float)) else str(gold))
        if gt is None:
            raise ValueError(f"medcalc: ground truth {gold!r} is not a number")
        p = parse_number(pred) if isinstance(pred, (str, int, float)) else None
        if p is None:
            return False
        if kind == "decimal":
            return abs(p - gt) <= 0.05 * abs(gt)
        return round(p) == gt
    if kind == "date":
        gd = _parse_date(str(gold))
        if gd is None:
            raise ValueError(f"medcalc: ground truth {gold!r} is not a mm/dd/yyyy date")
        return _parse_date(str(pred)) == gd
    if kind in ("weeks_days", "(weeks, days)", "tuple", "weeks-days"):
        gwd = _parse_weeks_days(gold)  # type: ignore[arg-type]
        if gwd is None:
            raise ValueError(f"medcalc: ground truth {gold!r} is not a (weeks, days) pair")
        if not isinstance(pred, (str, tuple, list)):
            return False
        return _parse_weeks_days(pred) == gwd
    raise ValueError(f"medcalc: unknown output type {output_type!r} (decimal, integer, date, weeks_days)")


@dataclass(frozen=True)
class NumericMatch:
    """The result of :func:`numeric_match`: whether it matched and by which rule.

    Attributes:
        correct: the verdict.
        rule: the rule that decided, e.g. ``"rel_tol=1e-06"``, ``"decimals=2"``, ``"percent_variant"``,
            ``"unparsable_pred"``.
        pred_value: the parsed prediction (``None`` when unparsable).
        gold_value: the parsed gold answer.
    """

    correct: bool
    rule: str
    pred_value: float | None
    gold_value: float | None

    def __bool__(self) -> bool:
        return self.correct


def numeric_match(
    pred: str | float,
    gold: str | float,
    rel_tol: float = 1e-6,
    abs_tol: float = 0.0,
    decimals: int | None = None,
    percent_variants: bool = False,
) -> NumericMatch:
    """A tolerant numeric comparison that says which rule it used.

    Checks, in order: ``math.isclose(pred, gold, rel_tol, abs_tol)``; if ``decimals`` is given, equality after
    rounding both to that many places; if ``percent_variants``, a prediction off by exactly a factor of 100
    ("12" for a gold "12%" = 0.12, or "0.12" for a gold 12) under the same tolerance. This is a convenience, not
    an official benchmark rule: reports name ``rule`` beside the official score.

    Args:
        pred: the predicted answer (a string goes through :func:`parse_number`).
        gold: the gold answer.
        rel_tol: relative tolerance.
        abs_tol: absolute tolerance.
        decimals: optional rounding comparison.
        percent_variants: accept a factor-of-100 percent confusion.

    Returns:
        A :class:`NumericMatch`.

    Raises:
        ValueError: ``gold`` is not a number.
    """
    g = parse_number(gold)
    if g is None:
        raise ValueError(f"numeric_match: gold {gold!r} is not a number")
    p = parse_number(pred)
    if p is None:
        return NumericMatch(False, "unparsable_pred", None, g)
    if math.isclose(p, g, rel_tol=rel_tol, abs_tol=abs_tol):
        return NumericMatch(True, f"rel_tol={rel_tol:g},abs_tol={abs_tol:g}", p, g)
    if decimals is not None and round(p, decimals) == round(g, decimals):
        return NumericMatch(True, f"decimals={decimals}", p, g)
    if percent_variants and any(
        math.isclose(p * k, g, rel_tol=rel_tol, abs_tol=abs_tol) for k in (0.01, 100.0)
    ):
        return NumericMatch(True, "percent_variant", p, g)
    return NumericMatch(False, "no_rule_matched", p, g)


# ---------------------------------------------------------------------------------------------- TAT-QA

_TATQA_ARTICLES_RE = re.compile(r"\b(a|an|the)\b", re.IGNORECASE)
_PUNCT = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _tatqa_answer_str(answers: list[str | float | int], scale: str) -> str:
    # TAT-QA get_answer_str: sort the answers; a number becomes "%.4f" of (round(x, 2) * scale), a percent
    # written with "%" becomes its fraction; text gets the scale word appended; all joined by spaces.
    parts = []
    for ans in sorted(answers, key=str):
        s = str(ans)
        num = parse_number(s)
        if num is None:
            parts.append(f"{s} {scale}" if scale else s)
        elif "%" in s:
            parts.append(f"{num:.4f}")
        else:
            parts.append(f"{round(num, 2) * SCALES[scale]:.4f}")
    return " ".join(parts)


def _tatqa_tokens(text: str) -> list[str]:
    # DROP splits on spaces and hyphens; a hyphen that starts a number is a sign and is kept here.
    out = []
    for token in re.split(r"\s+|-(?!\d)", text):
        num = parse_number(token)
        if num is None:
            token = "".join(ch for ch in token.lower() if ch not in _PUNCT)
        else:
            token = str(num)
        token = " ".join(_TATQA_ARTICLES_RE.sub(" ", token).split())
        if token:
            out.append(token)
    return out


def _drop_em_f1(pred: str, gold: str) -> tuple[float, float]:
    p, g = _tatqa_tokens(pred), _tatqa_tokens(gold)
    em = 1.0 if " ".join(p) == " ".join(g) else 0.0
    pb, gb = set(p), set(g)
    gold_numbers = {t for t in gb if parse_number(t) is not None}
    pred_numbers = {t for t in pb if parse_number(t) is not None}
    if gold_numbers and not gold_numbers & pred_numbers:
        return em, 0.0
    inter = len(pb & gb)
    precision = inter / len(pb) if pb else 1.0
    recall = inter / len(gb) if gb else 1.0
    f1 = 0.0 if precision == recall == 0.0 else 2 * precision * recall / (precision + recall)
    return em, round(f1, 2)


def tatqa_em_f1(
    pred: str | float | list[str | float],
    pred_scale: str,
    gold: str | float | list[str | float],
    gold_scale: str,
    answer_type: str,
    strict_scale: bool = False,
) -> tuple[float, float]:
    """TAT-QA exact match and DROP-style F1 for one answer (the official ``TaTQAEmAndF1`` rule).

    Each side becomes one string: answers sorted; a number is rounded to 2 decimals, multiplied by its scale
    (thousand, million, billion, percent = 0.01) and written ``%.4f``; a number written with "%" is its fraction
    ("12%" is 0.12); text gets its scale word appended. A single unscaled numeric prediction is also tried as
    written (the official ``add_percent_pred``). EM compares the normalized strings; F1 is the DROP bag-of-tokens
    F1 (0 when the gold has numbers and none of them is predicted), rounded to 2 places; for ``arithmetic`` and
    ``count`` answers F1 = EM. Because the scale multiplies the value, a wrong scale makes a number wrong
    ("1.5" thousand is not "1.5" million); ``strict_scale`` also rejects equal values with different scales.
    Deviation: hyphens before digits are kept as minus signs (DROP's tokenizer drops them, so -134 would
    match 134).

    Args:
        pred: the predicted answer (a list for multi-span).
        pred_scale: the predicted scale ("" if none).
        gold: the gold answer (``answer`` field).
        gold_scale: the gold ``scale`` field.
        answer_type: ``span``, ``multi-span``, ``arithmetic`` or ``count``.
        strict_scale: a scale mismatch is wrong even when the scaled values agree.

    Returns:
        ``(exact_match, f1)`` each in [0, 1].

    Raises:
        ValueError: an unknown scale.
    """
    for s in (pred_scale, gold_scale):
        if s not in SCALES or s == "trillion":
            raise ValueError(f"tatqa: unknown scale {s!r} (use '', thousand, million, billion, percent)")
    preds = pred if isinstance(pred, list) else [pred]
    golds = gold if isinstance(gold, list) else [gold]
    if not preds or all(str(p).strip() == "" for p in preds):
        return 0.0, 0.0
    if strict_scale and pred_scale != gold_scale:
        return 0.0, 0.0
    gold_str = _tatqa_answer_str(golds, gold_scale)
    pred_strs = [_tatqa_answer_str(preds, pred_scale)]
    if len(preds) == 1 and not pred_scale and "%" not in str(preds[0]):
        num = parse_number(str(preds[0]))
        if num is not None:
            pred_strs.append(f"{num:.4f}")
    em, f1 = max(_drop_em_f1(p, gold_str) for p in pred_strs)
    if answer_type in ("arithmetic", "count"):
        f1 = em
    return em, f1
