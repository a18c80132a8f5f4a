"""Independent verifiers of the simple classification and extraction tasks."""

from __future__ import annotations

import re
from collections.abc import Callable

from tunelab.synth._finance_verify import parse_text_table
from tunelab.synth._types import Derived

__all__ = ["DERIVERS"]

_I = re.IGNORECASE

# cue lexicon (word stems), kept apart from the generator's phrase lists on purpose
_POS_CUES = r"\b(surg|soar|jump|rall|climb|record|upgrade|beat|raise|strong)\w*"
_NEG_CUES = r"\b(plung|slump|tumbl|sink|drop|warning|weak|downgrade|miss|cut|lawsuit|loss)\w*"


def _line(pattern: str, text: str, what: str) -> str:
    m = re.search(pattern, text, _I)
    if m is None:
        raise ValueError(f"the text does not state the {what}")
    return m.group(1)


def derive_fin_sentiment(text: str) -> Derived:
    headline = _line(r"Headline: (.+)", text, "headline")
    pos, neg = len(re.findall(_POS_CUES, headline, _I)), len(re.findall(_NEG_CUES, headline, _I))
    if pos and neg:
        raise ValueError("the headline mixes positive and negative cues")
    return Derived("positive" if pos else "negative" if neg else "neutral")


_EMERGENT_CUES = r"chest pain|slurred speech|facial droop|seizure|difficulty breathing|unresponsive"
_URGENT_CUES = r"vomiting|laceration|chills|swollen|flank pain"


def derive_triage(text: str) -> Derived:
    complaint = _line(r"Chief complaint: ([^\n]+)", text, "complaint")
    hr = float(_line(r"\bHR (\d+)", text, "heart rate"))
    sbp = float(_line(r"\bBP (\d+)/\d+", text, "blood pressure"))
    spo2 = float(_line(r"SpO2 (\d+)%", text, "oxygen saturation"))
    temp = float(_line(r"temperature (\d+(?:\.\d+)?)", text, "temperature"))
    if re.search(_EMERGENT_CUES, complaint, _I) or spo2 < 90 or sbp < 90 or hr > 130:
        return Derived("emergent")
    if re.search(_URGENT_CUES, complaint, _I) or temp >= 39.0 or hr >= 110 or spo2 < 94:
        return Derived("urgent")
    return Derived("non-urgent")


def derive_extract_dose(text: str) -> Derived:
    doses = re.findall(r"(\d+(?:\.\d+)?)\s*mg\b", _line(r"Prescription: ([^\n]+)", text, "prescription"))
    if len(doses) != 1:
        raise ValueError(f"expected one dose in mg, found {len(doses)}")
    return Derived(float(doses[0]))


def derive_highest_revenue_year(text: str) -> Derived:
    years, rows = parse_text_table(text)
    rev = rows["revenue"]
    top = max(rev)
    if rev.count(top) != 1:
        raise ValueError("two years tie for the highest revenue")
    return Derived(str(years[rev.index(top)]))


def derive_revenue_trend(text: str) -> Derived:
    m = re.search(r"Figure: ([a-z ]+?), from (\d{4}) to (\d{4})", text, _I)
    if m is None:
        raise ValueError("the text does not state the question")
    years, rows = parse_text_table(text)
    vals = rows[m.group(1).lower()]
    a, b = vals[years.index(int(m.group(2)))], vals[years.index(int(m.group(3)))]
    if a == b:
        raise ValueError("no change")
    return Derived("increase" if b > a else "decrease")


def derive_lb_to_kg(text: str) -> Derived:
    lb = float(_line(r"(\d+(?:\.\d+)?)\s*(?:lb|lbs|pounds)\b", text, "weight in pounds"))
    kg = lb / 2.2046226218
    return Derived(int(kg + 0.5))


# the verifier's own copy of the reference table: a wrong entry in the generator's copy then fails
# verification instead of being checked against itself
_MEANINGS = {
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


def derive_med_abbrev(text: str) -> Derived:
    abbr = _line(r"Abbreviation: (\w+)", text, "abbreviation").lower()
    if abbr not in _MEANINGS:
        raise ValueError(f"unknown abbreviation {abbr!r}")
    return Derived(_MEANINGS[abbr])


DERIVERS: dict[str, Callable[[str], Derived]] = {
    "fin_sentiment": derive_fin_sentiment,
    "triage_level": derive_triage,
    "extract_dose": derive_extract_dose,
    "highest_revenue_year": derive_highest_revenue_year,
    "revenue_trend": derive_revenue_trend,
    "lb_to_kg": derive_lb_to_kg,
    "med_abbrev": derive_med_abbrev,
}
