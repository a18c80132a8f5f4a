"""Independent verifiers of the medical calculator tasks.

Each ``derive_*`` reads the facts back out of the rendered prompt text with regular expressions and
recomputes the answer with its own arithmetic; nothing is taken from the generator.
"""

from __future__ import annotations

import math
import re

from tunelab.synth._types import Derived

__all__ = ["DERIVERS", "find_number", "find_sex", "find_age"]

_I = re.IGNORECASE
_NUM = r"(\d+(?:\.\d+)?)"


def find_number(pattern: str, text: str, what: str) -> float:
    """The first capture of ``pattern`` in ``text`` as a float.

    Raises:
        ValueError: when the text does not state it.
    """
    m = re.search(pattern, text, _I)
    if m is None:
        raise ValueError(f"the text does not state the {what}")
    return float(next(g for g in m.groups() if g is not None))


def find_sex(text: str) -> str:
    """``M`` or ``F`` from the first sex noun in the text."""
    m = re.search(r"\b(man|male|gentleman|boy|woman|female|lady|girl)\b", text, _I)
    if m is None:
        raise ValueError("the text does not state the sex")
    return "F" if m.group(1).lower() in ("woman", "female", "lady", "girl") else "M"


def find_age(text: str) -> int:
    """Age in years from ``67-year-old``, ``67 y/o`` or ``aged 67``."""
    return int(find_number(r"(\d+)-year-old|(\d+) y/o|aged (\d+)", text, "age"))


def _weight_kg(text: str) -> float:
    return find_number(_NUM + r"\s*kg\b", text, "weight")


def _height_cm(text: str) -> float:
    m = re.search(r"(\d+)\s*ft\s*(\d+)\s*in\b", text, _I)
    if m:
        return (int(m.group(1)) * 12 + int(m.group(2))) * 2.54
    m = re.search(r"(\d\.\d+)\s*m\b", text)
    if m:
        return float(m.group(1)) * 100
    return find_number(r"(\d+)\s*cm\b", text, "height")


def _round2(x: float) -> Derived:
    return Derived(round(x, 2))


def derive_bmi(text: str) -> Derived:
    kg, cm = _weight_kg(text), _height_cm(text)
    bmi = round(kg / (cm / 100) ** 2, 2)
    cat = (
        "underweight"
        if bmi < 18.5
        else "normal weight"
        if bmi < 25
        else "overweight"
        if bmi < 30
        else "obese"
    )
    return Derived(bmi, {"category": cat})


def derive_bsa(text: str) -> Derived:
    return _round2(math.sqrt(_height_cm(text) * _weight_kg(text) / 3600))


def derive_map(text: str) -> Derived:
    m = re.search(r"(\d{2,3})\s*/\s*(\d{2,3})\s*mm\s?Hg", text, _I)
    if m is None:
        raise ValueError("the text does not state the blood pressure")
    sbp, dbp = float(m.group(1)), float(m.group(2))
    return _round2(sbp / 3 + dbp * 2 / 3)


def derive_anion_gap(text: str) -> Derived:
    na = find_number(r"\b(?:sodium|Na)\b\D{0,12}?" + _NUM, text, "sodium")
    cl = find_number(r"\b(?:chloride|Cl)\b\D{0,12}?" + _NUM, text, "chloride")
    hco3 = find_number(r"\b(?:bicarbonate|HCO3)\b\D{0,12}?" + _NUM, text, "bicarbonate")
    return _round2(na - cl - hco3)


def derive_corrected_calcium(text: str) -> Derived:
    ca = find_number(r"calcium\D{0,20}?" + _NUM + r"\s*mg/dL", text, "calcium")
    alb = find_number(r"albumin\D{0,20}?" + _NUM + r"\s*g/dL", text, "albumin")
    return _round2(ca - 0.8 * alb + 3.2)


def derive_crcl(text: str) -> Derived:
    age, kg = find_age(text), _weight_kg(text)
    cr = find_number(r"creatinine\D{0,12}?" + _NUM, text, "creatinine")
    crcl = (140 - age) * kg / 72 / cr
    return _round2(crcl * 0.85 if find_sex(text) == "F" else crcl)


def _hr_qt(text: str) -> tuple[float, float]:
    hr = find_number(r"\b(?:heart rate|HR|pulse)\b\D{0,12}?(\d{2,3})", text, "heart rate")
    qt = find_number(r"\bQT\b(?: interval)?\D{0,20}?(\d{3})\s*ms", text, "QT interval")
    return hr, qt


def derive_qtc_bazett(text: str) -> Derived:
    hr, qt = _hr_qt(text)
    return _round2(qt * math.sqrt(hr / 60))


def derive_qtc_fridericia(text: str) -> Derived:
    hr, qt = _hr_qt(text)
    return _round2(qt * (hr / 60) ** (1 / 3))


_CHA = {
    "chf": (r"heart failure|\bchf\b|\bhfref\b", 1),
    "htn": (r"hypertension|\bhtn\b|high blood pressure", 1),
    "stroke": (r"stroke|transient ischemic attack|\btia\b|thromboembol|\bcva\b", 2),
    "vascular": (r"myocardial infarction|\bmi\b|peripheral arter|\bpad\b|aortic plaque", 1),
    "dm": (r"diabet|\bdm\b", 1),
}


def derive_cha2ds2_vasc(text: str) -> Derived:
    age, sex = find_age(text), find_sex(text)
    found: set[str] = set()
    for sentence in re.split(r"(?<=[.?!])\s+", text):
        s = sentence.strip().lower()
        if re.match(r"(no |denies |negative for |without )", s):
            continue
        found |= {k for k, (pat, _) in _CHA.items() if re.search(pat, s)}
    score = (2 if age >= 75 else 1 if age >= 65 else 0) + (sex == "F") + sum(_CHA[k][1] for k in found)
    return Derived(int(score), {"conditions": sorted(found)})


def derive_weight_dose(text: str) -> Derived:
    per_kg = find_number(_NUM + r"\s*mg/kg", text, "dose per kg")
    return _round2(per_kg * _weight_kg(text))


def derive_maintenance_fluids(text: str) -> Derived:
    kg = _weight_kg(text)
    if kg <= 10:
        rate = 4 * kg
    elif kg <= 20:
        rate = 40 + 2 * (kg - 10)
    else:
        rate = 60 + (kg - 20)
    return _round2(rate)


def derive_ibw_devine(text: str) -> Derived:
    m = re.search(r"(\d+)\s*ft\s*(\d+)\s*in\b", text, _I)
    inches = (
        int(m.group(1)) * 12 + int(m.group(2)) if m else find_number(r"(\d+)\s*cm\b", text, "height") / 2.54
    )
    return _round2((50.0 if find_sex(text) == "M" else 45.5) + 2.3 * (inches - 60))


def derive_convert_lb_kg(text: str) -> Derived:
    return _round2(find_number(_NUM + r"\s*(?:lb|lbs|pounds)\b", text, "weight in pounds") / 2.2046226218)


def derive_convert_glucose(text: str) -> Derived:
    return _round2(find_number(r"glucose\D{0,25}?(\d+)\s*mg/dL", text, "glucose") * 10 / 180.16)


DERIVERS = {
    "bmi": derive_bmi,
    "bsa_mosteller": derive_bsa,
    "mean_arterial_pressure": derive_map,
    "anion_gap": derive_anion_gap,
    "corrected_calcium": derive_corrected_calcium,
    "crcl_cockcroft_gault": derive_crcl,
    "qtc_bazett": derive_qtc_bazett,
    "qtc_fridericia": derive_qtc_fridericia,
    "cha2ds2_vasc": derive_cha2ds2_vasc,
    "weight_based_dose": derive_weight_dose,
    "maintenance_fluids": derive_maintenance_fluids,
    "ibw_devine": derive_ibw_devine,
    "convert_lb_to_kg": derive_convert_lb_kg,
    "convert_glucose_mmol": derive_convert_glucose,
}
