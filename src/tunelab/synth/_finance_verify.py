"""Independent verifiers of the finance tasks.

Each ``derive_*`` parses the table rows (``| name | v1 | v2 |``) and the question out of the rendered
prompt text and recomputes the answer in plain Python: it does not run the FinQA program (the
caller checks the program separately, so a wrong program and a wrong table reading cannot hide
each other).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tunelab.synth._types import Derived

__all__ = ["DERIVERS", "parse_text_table"]

_I = re.IGNORECASE
_ROW = r"(?P<row>[a-z' ]+?)"


def _cell(s: str) -> float:
    s = s.strip().replace(",", "").replace("$", "")
    if s.startswith("(") and s.endswith(")"):
        return -float(s[1:-1])
    return float(s)


def parse_text_table(text: str) -> tuple[list[int], dict[str, list[float]]]:
    """Years and named rows of the first ``| year | ... |`` table in ``text``.

    Raises:
        ValueError: when the text holds no such table.
    """
    years: list[int] = []
    rows: dict[str, list[float]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not (line.startswith("|") and line.endswith("|")):
            continue
        cells = [c.strip() for c in line[1:-1].split("|")]
        if cells[0].lower() == "year":
            years = [int(c) for c in cells[1:]]
        elif years:
            rows[cells[0].lower()] = [_cell(c) for c in cells[1:]]
    if not years or not rows:
        raise ValueError("the text holds no table")
    return years, rows


def _search(pattern: str, text: str, what: str) -> re.Match[str]:
    m = re.search(pattern, text, _I)
    if m is None:
        raise ValueError(f"the text does not state the {what}")
    return m


def _value(text: str, row: str, year: str | int) -> float:
    years, rows = parse_text_table(text)
    if row.lower() not in rows:
        raise ValueError(f"no table row {row!r}")
    return rows[row.lower()][years.index(int(year))]


def _r5(x: float) -> Derived:
    return Derived(round(x, 5))


def derive_percent_change(text: str) -> Derived:
    m = _search(
        rf"(?:percentage change in|percent did) {_ROW} (?:change )?(?:from|between) (\d{{4}}) (?:to|and) (\d{{4}})",
        text,
        "question",
    )
    a, b = _value(text, m.group("row"), m.group(2)), _value(text, m.group("row"), m.group(3))
    return _r5(b / a - 1)


def derive_cagr(text: str) -> Derived:
    m = _search(rf"compound annual growth rate of {_ROW} from (\d{{4}}) to (\d{{4}})", text, "question")
    a, b = _value(text, m.group("row"), m.group(2)), _value(text, m.group("row"), m.group(3))
    n = int(m.group(3)) - int(m.group(2))
    return _r5((b / a) ** (1.0 / n) - 1)


def _year(pattern: str, text: str) -> int:
    return int(_search(pattern, text, "question").group(1))


def derive_gross_margin(text: str) -> Derived:
    y = _year(r"gross margin in (\d{4})", text)
    rev = _value(text, "revenue", y)
    return _r5(1 - _value(text, "cost of revenue", y) / rev)


def derive_operating_margin(text: str) -> Derived:
    y = _year(r"operating margin in (\d{4})", text)
    rev = _value(text, "revenue", y)
    return _r5((rev - _value(text, "cost of revenue", y) - _value(text, "operating expenses", y)) / rev)


def derive_net_margin(text: str) -> Derived:
    y = _year(r"net profit margin in (\d{4})", text)
    return _r5(_value(text, "net income", y) / _value(text, "revenue", y))


def derive_current_ratio(text: str) -> Derived:
    y = _year(r"current ratio at the end of (\d{4})", text)
    return _r5(_value(text, "total current assets", y) / _value(text, "total current liabilities", y))


def derive_debt_to_equity(text: str) -> Derived:
    y = _year(r"debt-to-equity ratio in (\d{4})", text)
    return _r5(_value(text, "total debt", y) / _value(text, "shareholders' equity", y))


def derive_eps(text: str) -> Derived:
    y = _year(r"earnings per share in (\d{4})", text)
    return _r5(_value(text, "net income", y) / _value(text, "weighted average shares", y))


def _money(pattern: str, text: str, what: str) -> float:
    return float(_search(pattern, text, what).group(1).replace(",", ""))


def derive_compound_interest(text: str) -> Derived:
    p = _money(r"deposits \$([\d,]+)", text, "principal")
    rate = _money(r"paying ([\d.]+)% annual interest", text, "rate") / 100
    freq = _search(r"compounded (annually|quarterly|monthly)", text, "compounding").group(1).lower()
    years = _money(r"for (\d+) years", text, "term")
    periods = {"annually": 1, "quarterly": 4, "monthly": 12}[freq]
    balance = p
    for _ in range(int(years * periods)):
        balance *= 1 + rate / periods
    return _r5(balance)


def derive_loan_payment(text: str) -> Derived:
    p = _money(r"loan of \$([\d,]+)", text, "principal")
    r = _money(r"interest rate of ([\d.]+)%", text, "rate") / 1200
    n = int(_money(r"(\d+)-year loan", text, "term")) * 12
    # annuity: the payment that amortizes p over n months, written as p*r*g/(g-1) with g = (1+r)^n
    g = (1 + r) ** n
    return _r5(p * r * g / (g - 1))


def derive_row_average(text: str) -> Derived:
    row = _search(rf"average {_ROW} across the years shown", text, "question").group("row").lower()
    _, rows = parse_text_table(text)
    vals = rows[row]
    return _r5(sum(vals) / len(vals))


def derive_difference(text: str) -> Derived:
    m = _search(rf"by how much did {_ROW} change from (\d{{4}}) to (\d{{4}})", text, "question")
    return _r5(_value(text, m.group("row"), m.group(3)) - _value(text, m.group("row"), m.group(2)))


def derive_greater(text: str) -> Derived:
    m = _search(rf"was {_ROW} in (\d{{4}}) greater than in (\d{{4}})", text, "question")
    later, earlier = _value(text, m.group("row"), m.group(2)), _value(text, m.group("row"), m.group(3))
    return Derived("yes" if later > earlier else "no")


def derive_share_of_total(text: str) -> Derived:
    m = _search(rf"share of total revenue in (\d{{4}}) came from {_ROW}\?", text, "question")
    return _r5(_value(text, m.group("row"), m.group(1)) / _value(text, "total revenue", m.group(1)))


DERIVERS: dict[str, Callable[[str], Derived]] = {
    "percent_change": derive_percent_change,
    "cagr": derive_cagr,
    "gross_margin": derive_gross_margin,
    "operating_margin": derive_operating_margin,
    "net_margin": derive_net_margin,
    "current_ratio": derive_current_ratio,
    "debt_to_equity": derive_debt_to_equity,
    "earnings_per_share": derive_eps,
    "compound_interest": derive_compound_interest,
    "loan_payment": derive_loan_payment,
    "row_average": derive_row_average,
    "difference": derive_difference,
    "greater_comparison": derive_greater,
    "share_of_total": derive_share_of_total,
}
