"""Simple classification and extraction tasks that a tiny (~3.5M-parameter) model can learn.

Labels follow from clear cues (sentiment words, triage thresholds, one dose in the sentence), so a
verifier can re-derive them from the text. The verifiers live in :mod:`tunelab.synth._simple_verify`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from tunelab.synth._answers import fmt_thousands
from tunelab.synth._finance import render_table
from tunelab.synth._types import Case

__all__ = ["MAKERS", "SENTIMENT_LABELS", "TRIAGE_LABELS", "ABBREVIATIONS", "TREND_LABELS"]

SENTIMENT_LABELS = ("positive", "negative", "neutral")
TRIAGE_LABELS = ("emergent", "urgent", "non-urgent")
TREND_LABELS = ("increase", "decrease")
ABBREVIATIONS = {
    "bid": "twice daily",
    "tid": "three times daily",
    "qid": "four times daily",
    "qd": "once daily",
    "prn": "as needed",
    "po": "by mouth",
    "iv": "intravenous",
    "im": "intramuscular",
    "sc": "subcutaneous",
    "hs": "at bedtime",
    "stat": "immediately",
    "npo": "nothing by mouth",
}

_CO_HEADS = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Wonka",
    "Nakatomi",
    "Oscorp",
    "Massive",
    "Virtucon",
    "Gringotts",
    "Monarch",
    "Aperture",
    "Blue Sun",
    "Dunder",
    "Pied Piper",
    "Sterling",
    "Prestige",
)
_CO_TAILS = (
    "Corp",
    "Bank",
    "Motors",
    "Retail",
    "Foods",
    "Energy",
    "Systems",
    "Holdings",
    "Airlines",
    "Pharma",
)
#: 240 company names: a tiny model must read the cue words, not memorize the companies
_COS = tuple(f"{h} {t}" for h in _CO_HEADS for t in _CO_TAILS)
#: endings with no sentiment cue, for variety
_TAILS = (
    "",
    "",
    "",
    " in early trading",
    " on Monday",
    " as investors react",
    " ahead of the open",
    " in a busy session",
    " this week",
    " in Asian markets",
)
_POS = (
    (
        "shares surge after",
        "shares soar after",
        "stock jumps after",
        "shares rally after",
        "stock climbs after",
    ),
    ("record quarterly profit", "strong sales growth", "an analyst upgrade", "earnings beat forecasts"),
)
_NEG = (
    (
        "shares plunge after",
        "shares slump after",
        "stock tumbles after",
        "shares sink after",
        "stock drops after",
    ),
    ("a profit warning", "weak holiday sales", "an analyst downgrade", "earnings miss forecasts"),
)
_NEU = (
    "{co} to hold annual shareholder meeting in {month}",
    "{co} appoints new chief financial officer",
    "{co} announces date of quarterly earnings call",
    "{co} to relocate headquarters to {city}",
    "{co} names new head of investor relations",
    "{co} publishes annual sustainability report",
)
_POS_SOLO = (
    "{co} raises full-year guidance",
    "{co} reports record revenue",
    "Analysts upgrade {co} on strong demand",
)
_NEG_SOLO = (
    "{co} cuts full-year guidance",
    "{co} faces lawsuit over data breach",
    "{co} reports quarterly loss",
)
_MONTHS = ("March", "April", "May", "June", "September", "October")
_CITIES = ("Denver", "Austin", "Toronto", "Dublin", "Singapore", "Atlanta")


def make_fin_sentiment(rng: random.Random) -> Case:
    label = rng.choice(SENTIMENT_LABELS)
    co = rng.choice(_COS)
    if label == "neutral":
        h = rng.choice(_NEU).format(co=co, month=rng.choice(_MONTHS), city=rng.choice(_CITIES))
        h += rng.choice(_TAILS)
        why = "The headline reports a routine corporate event with no positive or negative cue."
    else:
        verbs, events = _POS if label == "positive" else _NEG
        solo = _POS_SOLO if label == "positive" else _NEG_SOLO
        h = (
            rng.choice(solo).format(co=co)
            if rng.random() < 0.3
            else f"{co} {rng.choice(verbs)} {rng.choice(events)}"
        ) + rng.choice(_TAILS)
        why = (
            f"The headline uses {label} cue words (good news for the company)."
            if label == "positive"
            else "The headline uses negative cue words (bad news for the company)."
        )
    return Case(f"Headline: {h}", "What is the sentiment of this headline?", [why], label, label)


_EMERGENT = (
    "crushing chest pain radiating to the left arm",
    "sudden slurred speech and facial droop",
    "a seizure lasting five minutes",
    "severe difficulty breathing",
    "being found unresponsive",
)
_URGENT = (
    "abdominal pain with repeated vomiting",
    "a deep laceration to the hand",
    "high fever with chills",
    "a painful swollen ankle after a fall",
    "severe flank pain",
)
_MINOR = (
    "a sore throat for two days",
    "a mild rash on the forearm",
    "a request for a medication refill",
    "ear pain since yesterday",
    "a runny nose and mild cough",
)


def make_triage(rng: random.Random) -> Case:
    label = rng.choice(TRIAGE_LABELS)
    hr, sbp, spo2, temp = (
        rng.randint(62, 98),
        rng.randint(105, 148),
        rng.randint(95, 100),
        round(rng.uniform(36.2, 37.9), 1),
    )
    complaint = rng.choice(_MINOR)
    if label == "emergent":
        which = rng.choice(("complaint", "spo2", "sbp", "hr"))
        if which == "complaint":
            complaint = rng.choice(_EMERGENT)
        elif which == "spo2":
            spo2 = rng.randint(78, 89)
        elif which == "sbp":
            sbp = rng.randint(62, 89)
        else:
            hr = rng.randint(131, 170)
        reason = {
            "complaint": f"the complaint ({complaint}) is life-threatening",
            "spo2": f"SpO2 {spo2}% is below 90%",
            "sbp": f"systolic BP {sbp} is below 90",
            "hr": f"heart rate {hr} is above 130",
        }[which]
    elif label == "urgent":
        which = rng.choice(("complaint", "temp", "hr", "spo2"))
        if which == "complaint":
            complaint = rng.choice(_URGENT)
        elif which == "temp":
            temp = round(rng.uniform(39.0, 40.8), 1)
        elif which == "hr":
            hr = rng.randint(110, 130)
        else:
            spo2 = rng.randint(90, 93)
        reason = {
            "complaint": f"the complaint ({complaint}) needs prompt care",
            "temp": f"temperature {temp} °C is 39 or above",
            "hr": f"heart rate {hr} is 110-130",
            "spo2": f"SpO2 {spo2}% is 90-93%",
        }[which]
    else:
        reason = "the complaint is minor and all vital signs are in the normal range"
    dbp = rng.randint(sbp // 2, min(95, sbp - 15))
    ctx = (
        f"Chief complaint: {complaint}.\nVitals: HR {hr} bpm, BP {sbp}/{dbp} mmHg, SpO2 {spo2}%, "
        f"temperature {temp:.1f} °C."
    )
    return Case(ctx, "What is the triage level?", [f"The patient is {label} because {reason}."], label, label)


_DOSE_DRUGS = (
    "metoprolol",
    "lisinopril",
    "amoxicillin",
    "sertraline",
    "atorvastatin",
    "metformin",
    "prednisone",
    "gabapentin",
    "losartan",
    "furosemide",
)
_DOSES = (2.5, 5, 10, 12.5, 20, 25, 40, 50, 75, 100, 125, 250, 300, 500, 750, 850, 1000)


def make_extract_dose(rng: random.Random) -> Case:
    drug, dose = rng.choice(_DOSE_DRUGS), rng.choice(_DOSES)
    freq = rng.choice(("once daily", "twice daily", "every 8 hours", "at bedtime"))
    days, qty, age = rng.randint(3, 90), rng.randint(10, 120), rng.randint(18, 90)
    d = f"{dose:g}"
    s = rng.choice(
        (
            f"Start {drug} {d} mg by mouth {freq} for {days} days; dispense {qty} tablets.",
            f"Rx: {drug} {d} mg {freq} x {days} days, #{qty}, patient age {age}.",
            f"Patient ({age} years) to take {drug} {d} mg {freq}. Refills: {rng.randint(0, 5)}.",
            f"Prescribed {drug} {d} mg {freq}; review in {days} days.",
        )
    )
    return Case(
        f"Prescription: {s}",
        "What is the prescribed dose in mg?",
        [f"The sentence gives the dose as {d} mg of {drug}."],
        float(dose),
        d,
    )


def _revenue_table(rng: random.Random, k: int) -> tuple[list[int], dict[str, list[float]]]:
    start = rng.randint(2010, 2021)
    years = list(range(start, start + k))
    while True:
        rev = [float(rng.randint(300, 9000)) for _ in years]
        if len(set(rev)) == len(rev):
            break
    rows = {"revenue": rev}
    for name in rng.sample(["net income", "operating expenses", "employees"], rng.randint(1, 2)):
        rows[name] = [float(rng.randint(50, 12000)) for _ in years]
    names = list(rows)
    rng.shuffle(names)
    return years, {n: rows[n] for n in names}


def _table_text(years: list[int], rows: dict[str, list[float]]) -> str:
    table = [["year", *map(str, years)]] + [
        [n, *(fmt_thousands(v) for v in vals)] for n, vals in rows.items()
    ]
    return render_table(table)


def make_highest_revenue_year(rng: random.Random) -> Case:
    years, rows = _revenue_table(rng, rng.randint(3, 5))
    rev = rows["revenue"]
    best = years[rev.index(max(rev))]
    return Case(
        _table_text(years, rows),
        "Which year had the highest revenue?",
        [f"The largest revenue figure is {fmt_thousands(max(rev))}, in {best}."],
        str(best),
        str(best),
    )


def make_revenue_trend(rng: random.Random) -> Case:
    years, rows = _revenue_table(rng, rng.randint(2, 4))
    row = rng.choice([n for n in rows if n != "employees"])
    i, j = sorted(rng.sample(range(len(years)), 2))
    if rows[row][i] == rows[row][j]:
        rows[row][j] += 1
    label = "increase" if rows[row][j] > rows[row][i] else "decrease"
    ctx = f"{_table_text(years, rows)}\nFigure: {row}, from {years[i]} to {years[j]}."
    return Case(
        ctx,
        "Did this figure increase or decrease?",
        [f"{row.capitalize()} went from {fmt_thousands(rows[row][i])} to {fmt_thousands(rows[row][j])}."],
        label,
        label,
    )


def make_lb_to_kg(rng: random.Random) -> Case:
    while True:
        lb = rng.randint(70, 360)
        kg = lb * 0.45359237
        if abs(kg - int(kg) - 0.5) > 0.05:  # keep clear of the rounding boundary
            break
    s = rng.choice((f"The patient weighs {lb} lb.", f"Weight: {lb} pounds.", f"Reported weight {lb} lbs."))
    return Case(
        s,
        "What is the weight in kilograms, rounded to a whole number?",
        [f"{lb} lb × 0.4536 = {kg:.2f} kg, which rounds to {round(kg)}."],
        round(kg),
        str(round(kg)),
    )


def make_med_abbrev(rng: random.Random) -> Case:
    abbr = rng.choice(list(ABBREVIATIONS))
    drug, dose = rng.choice(_DOSE_DRUGS), rng.choice(_DOSES)
    route = abbr if abbr in ("po", "iv", "im", "sc") else rng.choice(("po", "iv"))
    freq = abbr if abbr not in ("po", "iv", "im", "sc") else rng.choice(("bid", "qd"))
    order = (
        f"{drug} {dose:g} mg {route.upper()} {freq}"
        if abbr != "npo"
        else f"NPO after midnight; {drug} {dose:g} mg {route.upper()} held"
    )
    meaning = ABBREVIATIONS[abbr]
    ctx = f'Order: "{order}"\nAbbreviation: {abbr.upper() if rng.random() < 0.5 else abbr}'
    return Case(
        ctx,
        "What does the abbreviation mean?",
        [f'"{abbr}" is Latin shorthand for "{meaning}".'],
        meaning,
        meaning,
    )


MAKERS: dict[str, Callable[[random.Random], Case]] = {
    "fin_sentiment": make_fin_sentiment,
    "triage_level": make_triage,
    "extract_dose": make_extract_dose,
    "highest_revenue_year": make_highest_revenue_year,
    "revenue_trend": make_revenue_trend,
    "lb_to_kg": make_lb_to_kg,
    "med_abbrev": make_med_abbrev,
}
