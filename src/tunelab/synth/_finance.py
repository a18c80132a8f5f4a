"""FinQA / TAT-QA style tasks: a small table rendered as text rows plus report sentences, a question,
a worked rationale and a FinQA-DSL program.

The gold answer is what :func:`tunelab.scoring.program_answer` returns for the program (FinQA's
``exe_ans``: the value rounded to 5 places, or ``yes``/``no`` for ``greater``). The independent
verifiers live in :mod:`tunelab.synth._finance_verify`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from tunelab.scoring import program_answer
from tunelab.synth._answers import fmt_num, fmt_thousands
from tunelab.synth._types import Case

__all__ = ["MAKERS", "render_table"]

_COMPANIES = (
    "Northwind Corp",
    "Bluepeak Inc",
    "Harbor Foods",
    "Cobalt Systems",
    "Redwood Retail",
    "Atlas Logistics",
    "Meridian Health",
    "Sable Energy",
    "Orchid Pharma",
    "Kestrel Media",
)
_SCALES = (
    ("million", "Amounts are in millions of dollars."),
    ("thousand", "(dollars in thousands)"),
    ("million", "All figures in $ millions."),
)


def render_table(table: list[list[str]]) -> str:
    """Rows as ``| year | 2019 | 2020 |`` lines."""
    return "\n".join("| " + " | ".join(row) + " |" for row in table)


def _years(rng: random.Random, k: int) -> list[int]:
    start = rng.randint(2011, 2021)
    return list(range(start, start + k))


def _filler(rng: random.Random, company: str, years: list[int]) -> str:
    y = rng.choice(years)
    return rng.choice(
        (
            f"{company} had {rng.randint(120, 9000):,} employees at the end of {y}.",
            f"In {y}, {company} opened {rng.randint(2, 40)} new locations.",
            f"{company} operates in {rng.randint(3, 60)} countries.",
            f"The board approved a dividend of ${rng.randint(5, 95) / 100:.2f} per share in {y}.",
        )
    )


def _context(
    rng: random.Random, company: str, table: list[list[str]], scale_note: str, years: list[int]
) -> str:
    parts = [
        f"{company} reported the following figures. {scale_note}",
        render_table(table),
        _filler(rng, company, years),
    ]
    return "\n".join(parts)


def _table(years: list[int], rows: dict[str, list[float]]) -> list[list[str]]:
    return [["year", *map(str, years)]] + [
        [name, *(fmt_thousands(v) for v in vals)] for name, vals in rows.items()
    ]


def _case(
    question: str,
    steps: list[str],
    program: str,
    table: list[list[str]] | None,
    context: str,
    kind: str,
    scale: str = "",
) -> Case:
    gold = program_answer(program, table)
    if isinstance(gold, str):
        text = gold
    elif kind == "percent":
        text = fmt_num(gold * 100, 2) + "%"
    else:
        text = fmt_num(gold, 2)
    steps = [*steps, f"Program: {program}"]
    extra = {
        "program": program,
        "table": table,
        "exe_ans": gold,
        "scale": "percent" if kind == "percent" else scale,
    }
    return Case(context, question, steps, gold, text, extra)


def _series(rng: random.Random, k: int, lo: int, hi: int) -> list[float]:
    base = rng.randint(lo, hi)
    out = [float(base)]
    for _ in range(k - 1):
        out.append(float(max(1, round(out[-1] * rng.uniform(0.8, 1.3)))))
    return out


def _row_table(rng: random.Random, k: int) -> tuple[str, list[int], dict[str, list[float]], str, str]:
    company = rng.choice(_COMPANIES)
    years = _years(rng, k)
    names = ["revenue", "operating expenses", "net income", "capital expenditures", "cash and equivalents"]
    rows = {n: _series(rng, k, 200, 20000) for n in rng.sample(names, 3)}
    scale, note = rng.choice(_SCALES)
    return company, years, rows, scale, note


def make_percent_change(rng: random.Random) -> Case:
    company, years, rows, scale, note = _row_table(rng, rng.randint(2, 4))
    row = rng.choice(list(rows))
    i, j = sorted(rng.sample(range(len(years)), 2))
    a, b = rows[row][i], rows[row][j]
    table = _table(years, rows)
    q = rng.choice(
        (
            f"What was the percentage change in {row} from {years[i]} to {years[j]}?",
            f"By what percent did {row} change between {years[i]} and {years[j]}?",
        )
    )
    steps = [
        f"{row.capitalize()} was {fmt_thousands(a)} in {years[i]} and {fmt_thousands(b)} in {years[j]}.",
        f"Change = {b:.0f} - {a:.0f} = {b - a:.0f}; percentage change = {b - a:.0f} / {a:.0f} = {(b - a) / a * 100:.2f}%.",
    ]
    return _case(
        q,
        steps,
        f"subtract({b:.0f}, {a:.0f}), divide(#0, {a:.0f})",
        table,
        _context(rng, company, table, note, years),
        "percent",
    )


def make_cagr(rng: random.Random) -> Case:
    company, years, rows, scale, note = _row_table(rng, rng.randint(3, 5))
    row = rng.choice(list(rows))
    a, b, n = rows[row][0], rows[row][-1], len(years) - 1
    table = _table(years, rows)
    q = f"What was the compound annual growth rate of {row} from {years[0]} to {years[-1]}?"
    steps = [
        f"{row.capitalize()} went from {fmt_thousands(a)} in {years[0]} to {fmt_thousands(b)} in {years[-1]}, {n} years.",
        f"CAGR = ({b:.0f} / {a:.0f})^(1/{n}) - 1 = {((b / a) ** (1 / n) - 1) * 100:.2f}%.",
    ]
    program = f"divide({b:.0f}, {a:.0f}), divide(const_1, {n}), exp(#0, #1), subtract(#2, const_1)"
    return _case(q, steps, program, table, _context(rng, company, table, note, years), "percent")


def _pl_table(
    rng: random.Random, extra_rows: tuple[str, ...] = ()
) -> tuple[str, list[int], dict[str, list[float]], str]:
    company = rng.choice(_COMPANIES)
    k = rng.randint(2, 3)
    years = _years(rng, k)
    rev = _series(rng, k, 800, 30000)
    rows = {
        "revenue": rev,
        "cost of revenue": [float(round(r * rng.uniform(0.35, 0.75))) for r in rev],
        "operating expenses": [float(round(r * rng.uniform(0.05, 0.2))) for r in rev],
        "net income": [float(round(r * rng.uniform(0.02, 0.15))) for r in rev],
    }
    for name in extra_rows:
        rows[name] = [float(rng.randint(50, 3000)) for _ in rev]
    _, note = rng.choice(_SCALES)
    return company, years, rows, note


def _margin(rng: random.Random, kind: str) -> Case:
    company, years, rows, note = _pl_table(rng)
    i = rng.randrange(len(years))
    y = years[i]
    rev, cogs, opex, ni = (
        rows[n][i] for n in ("revenue", "cost of revenue", "operating expenses", "net income")
    )
    table = _table(years, rows)
    if kind == "gross":
        q = f"What was the gross margin in {y}?"
        steps = [
            f"In {y} revenue was {fmt_thousands(rev)} and cost of revenue {fmt_thousands(cogs)}.",
            f"Gross margin = ({rev:.0f} - {cogs:.0f}) / {rev:.0f} = {(rev - cogs) / rev * 100:.2f}%.",
        ]
        program = f"subtract({rev:.0f}, {cogs:.0f}), divide(#0, {rev:.0f})"
    elif kind == "operating":
        q = f"What was the operating margin in {y}?"
        op = rev - cogs - opex
        steps = [
            f"In {y} revenue was {fmt_thousands(rev)}, cost of revenue {fmt_thousands(cogs)}, operating expenses {fmt_thousands(opex)}.",
            f"Operating income = {rev:.0f} - {cogs:.0f} - {opex:.0f} = {op:.0f}.",
            f"Operating margin = {op:.0f} / {rev:.0f} = {op / rev * 100:.2f}%.",
        ]
        program = f"subtract({rev:.0f}, {cogs:.0f}), subtract(#0, {opex:.0f}), divide(#1, {rev:.0f})"
    else:
        q = f"What was the net profit margin in {y}?"
        steps = [
            f"In {y} net income was {fmt_thousands(ni)} on revenue of {fmt_thousands(rev)}.",
            f"Net margin = {ni:.0f} / {rev:.0f} = {ni / rev * 100:.2f}%.",
        ]
        program = f"divide({ni:.0f}, {rev:.0f})"
    return _case(q, steps, program, table, _context(rng, company, table, note, years), "percent")


def _balance_ratio(rng: random.Random, num: str, den: str, question: str, label: str) -> Case:
    company = rng.choice(_COMPANIES)
    k = rng.randint(2, 3)
    years = _years(rng, k)
    rows = {
        num: _series(rng, k, 300, 20000),
        den: _series(rng, k, 300, 20000),
        rng.choice(("total assets", "inventories", "goodwill")): _series(rng, k, 300, 40000),
    }
    order = list(rows)
    rng.shuffle(order)
    rows = {n: rows[n] for n in order}
    _, note = rng.choice(_SCALES)
    i = rng.randrange(k)
    a, b = rows[num][i], rows[den][i]
    table = _table(years, rows)
    steps = [
        f"In {years[i]}, {num} was {fmt_thousands(a)} and {den} was {fmt_thousands(b)}.",
        f"{label} = {a:.0f} / {b:.0f} = {a / b:.4f}.",
    ]
    return _case(
        question.format(y=years[i]),
        steps,
        f"divide({a:.0f}, {b:.0f})",
        table,
        _context(rng, company, table, note, years),
        "ratio",
    )


def make_current_ratio(rng: random.Random) -> Case:
    return _balance_ratio(
        rng,
        "total current assets",
        "total current liabilities",
        "What was the current ratio at the end of {y}?",
        "Current ratio",
    )


def make_debt_to_equity(rng: random.Random) -> Case:
    return _balance_ratio(
        rng,
        "total debt",
        "shareholders' equity",
        "What was the debt-to-equity ratio in {y}?",
        "Debt-to-equity",
    )


def make_eps(rng: random.Random) -> Case:
    company, years, rows, _ = _pl_table(rng)
    rows["weighted average shares"] = [float(rng.randint(20, 900)) for _ in years]
    del rows["operating expenses"]
    i = rng.randrange(len(years))
    ni, sh = rows["net income"][i], rows["weighted average shares"][i]
    table = _table(years, rows)
    q = f"What were the earnings per share in {years[i]}?"
    steps = [
        f"In {years[i]} net income was {fmt_thousands(ni)} million and weighted average shares were {fmt_thousands(sh)} million.",
        f"EPS = {ni:.0f} / {sh:.0f} = {ni / sh:.4f} dollars per share.",
    ]
    return _case(
        q,
        steps,
        f"divide({ni:.0f}, {sh:.0f})",
        table,
        _context(rng, company, table, "Amounts in millions, except per-share data.", years),
        "ratio",
    )


_FREQ = {"annually": 1, "quarterly": 4, "monthly": 12}


def make_compound_interest(rng: random.Random) -> Case:
    p = rng.randint(10, 500) * 100
    rate = rng.randint(10, 120) / 20  # 0.5% .. 6.0% in steps of 0.05
    years = rng.randint(2, 30)
    freq = rng.choice(list(_FREQ))
    m = _FREQ[freq]
    name = rng.choice(("An investor", "A customer", "A pension fund", "Maria"))
    ctx = (
        f"{name} deposits ${p:,} in an account paying {rate:g}% annual interest, compounded {freq}. "
        f"No withdrawals are made for {years} years. The bank charges no fees."
    )
    if m == 1:
        program = f"add(const_1, {rate:g}%), exp(#0, {years}), multiply({p}, #1)"
    else:
        program = f"divide({rate:g}%, {m}), add(const_1, #0), multiply({years}, {m}), exp(#1, #2), multiply({p}, #3)"
    val = p * (1 + rate / 100 / m) ** (years * m)
    steps = [
        f"Principal {p}, rate {rate:g}% per year compounded {freq} ({m} period(s) a year) for {years} years.",
        f"Balance = {p} × (1 + {rate:g}% / {m})^({years} × {m}) = {val:.2f}.",
    ]
    return _case(
        "What is the account balance at the end of the period, in dollars?",
        steps,
        program,
        None,
        ctx,
        "money",
    )


def make_loan_payment(rng: random.Random) -> Case:
    p = rng.randint(20, 800) * 1000
    rate = rng.randint(40, 180) / 20  # 2% .. 9%
    term = rng.choice((5, 10, 15, 20, 25, 30))
    ctx = (
        f"A {term}-year loan of ${p:,} carries a fixed annual interest rate of {rate:g}%, repaid in equal monthly "
        f"payments. The property was appraised at ${round(p * rng.uniform(1.1, 1.6), -3):,.0f}."
    )
    program = (
        f"divide({rate:g}%, 12), add(const_1, #0), multiply({term}, 12), exp(#1, #2), divide(const_1, #3), "
        f"subtract(const_1, #4), multiply({p}, #0), divide(#6, #5)"
    )
    r, n = rate / 100 / 12, term * 12
    val = p * r / (1 - (1 + r) ** -n)
    steps = [
        f"Monthly rate r = {rate:g}% / 12 = {r:.6f}; number of payments n = {term} × 12 = {n}.",
        f"Payment = P × r / (1 - (1 + r)^-n) = {p} × {r:.6f} / (1 - {1 + r:.6f}^-{n}) = {val:.2f}.",
    ]
    return _case("What is the monthly payment, in dollars?", steps, program, None, ctx, "money")


def make_row_average(rng: random.Random) -> Case:
    company, years, rows, scale, note = _row_table(rng, rng.randint(2, 5))
    row = rng.choice(list(rows))
    vals = rows[row]
    table = _table(years, rows)
    q = f"What was the average {row} across the years shown?"
    steps = [
        f"{row.capitalize()}: " + ", ".join(f"{fmt_thousands(v)} ({y})" for v, y in zip(vals, years)) + ".",
        f"Average = {sum(vals):.0f} / {len(vals)} = {sum(vals) / len(vals):.2f}.",
    ]
    return _case(
        q,
        steps,
        f"table_average({row}, none)",
        table,
        _context(rng, company, table, note, years),
        "amount",
        scale,
    )


def _pair(rng: random.Random) -> tuple[str, list[int], dict[str, list[float]], str, str, str, int, int]:
    company, years, rows, scale, note = _row_table(rng, rng.randint(2, 4))
    row = rng.choice(list(rows))
    i, j = sorted(rng.sample(range(len(years)), 2))
    return company, years, rows, scale, note, row, i, j


def make_difference(rng: random.Random) -> Case:
    company, years, rows, scale, note, row, i, j = _pair(rng)
    a, b = rows[row][i], rows[row][j]
    table = _table(years, rows)
    q = f"By how much did {row} change from {years[i]} to {years[j]}?"
    steps = [
        f"{row.capitalize()} was {fmt_thousands(a)} in {years[i]} and {fmt_thousands(b)} in {years[j]} ({scale}s).",
        f"Change = {b:.0f} - {a:.0f} = {b - a:.0f} {scale}.",
    ]
    return _case(
        q,
        steps,
        f"subtract({b:.0f}, {a:.0f})",
        table,
        _context(rng, company, table, note, years),
        "amount",
        scale,
    )


def make_greater(rng: random.Random) -> Case:
    company, years, rows, scale, note, row, i, j = _pair(rng)
    a, b = rows[row][i], rows[row][j]
    if a == b:
        rows[row][j] = b = a + 1
    table = _table(years, rows)
    q = f"Was {row} in {years[j]} greater than in {years[i]}?"
    steps = [
        f"{row.capitalize()} was {fmt_thousands(b)} in {years[j]} and {fmt_thousands(a)} in {years[i]}.",
        f"{b:.0f} {'>' if b > a else '<='} {a:.0f}, so the answer is {'yes' if b > a else 'no'}.",
    ]
    return _case(
        q, steps, f"greater({b:.0f}, {a:.0f})", table, _context(rng, company, table, note, years), "label"
    )


def make_share_of_total(rng: random.Random) -> Case:
    company = rng.choice(_COMPANIES)
    k = rng.randint(1, 3)
    years = _years(rng, k)
    segs = rng.sample(
        ["cloud services", "hardware", "consulting", "licensing", "advertising", "retail stores"], 3
    )
    rows = {s: _series(rng, k, 100, 9000) for s in segs}
    rows["total revenue"] = [sum(rows[s][t] for s in segs) for t in range(k)]
    _, note = rng.choice(_SCALES)
    i, seg = rng.randrange(k), rng.choice(segs)
    a, tot = rows[seg][i], rows["total revenue"][i]
    table = _table(years, rows)
    q = f"What share of total revenue in {years[i]} came from {seg}?"
    steps = [
        f"In {years[i]}, {seg} revenue was {fmt_thousands(a)} out of total revenue {fmt_thousands(tot)}.",
        f"Share = {a:.0f} / {tot:.0f} = {a / tot * 100:.2f}%.",
    ]
    return _case(
        q, steps, f"divide({a:.0f}, {tot:.0f})", table, _context(rng, company, table, note, years), "percent"
    )


MAKERS: dict[str, Callable[[random.Random], Case]] = {
    "percent_change": make_percent_change,
    "cagr": make_cagr,
    "gross_margin": lambda rng: _margin(rng, "gross"),
    "operating_margin": lambda rng: _margin(rng, "operating"),
    "net_margin": lambda rng: _margin(rng, "net"),
    "current_ratio": make_current_ratio,
    "debt_to_equity": make_debt_to_equity,
    "earnings_per_share": make_eps,
    "compound_interest": make_compound_interest,
    "loan_payment": make_loan_payment,
    "row_average": make_row_average,
    "difference": make_difference,
    "greater_comparison": make_greater,
    "share_of_total": make_share_of_total,
}
