"""MedCalc-Bench style calculator tasks: patient notes with distractors, a question, a worked rationale.

Each ``make_*`` draws from ``random.Random`` only. Decimal answers are rounded to 2 places and carry
MedCalc-Bench's 5 % tolerance band (``lower_limit``/``upper_limit``); integer scores are exact.
The independent verifiers live in :mod:`tunelab.synth._medical_verify`.
"""

from __future__ import annotations

import math
import random

from tunelab.synth._answers import fmt_num
from tunelab.synth._clinical import NEUTRAL_HISTORY, height_sentence, intro, note, weight_sentence
from tunelab.synth._types import Case

__all__ = ["MAKERS", "bmi_category"]


def _sex(rng: random.Random) -> str:
    return rng.choice("MF")


def _decimal_case(
    context: str, question: str, steps: list[str], value: float, unit: str, **extra: object
) -> Case:
    gold = round(value, 2)
    lo, hi = sorted((gold * 0.95, gold * 1.05))
    return Case(
        context=context,
        question=question,
        steps=steps,
        gold=gold,
        answer_text=fmt_num(gold, 2),
        extra={"unit": unit, "lower_limit": round(lo, 4), "upper_limit": round(hi, 4), **extra},
    )


def bmi_category(bmi: float) -> str:
    """WHO adult BMI category."""
    if bmi < 18.5:
        return "underweight"
    if bmi < 25:
        return "normal weight"
    if bmi < 30:
        return "overweight"
    return "obese"


def make_bmi(rng: random.Random) -> Case:
    sex, age = _sex(rng), rng.randint(18, 88)
    kg, cm = round(rng.uniform(42, 140), 1), rng.randint(148, 198)
    m = cm / 100
    bmi = kg / m**2
    cat = bmi_category(round(bmi, 2))
    ctx = note(rng, intro(rng, age, sex), [weight_sentence(rng, kg), height_sentence(rng, cm)])
    steps = [
        f"The patient weighs {kg:.1f} kg and is {cm} cm ({m:.2f} m) tall.",
        f"BMI = weight / height² = {kg:.1f} / {m:.2f}² = {kg:.1f} / {m * m:.4f} = {bmi:.2f} kg/m².",
        f"A BMI of {bmi:.2f} kg/m² is in the {cat} category.",
    ]
    return _decimal_case(
        ctx,
        "What is the patient's body mass index (BMI) in kg/m²?",
        steps,
        bmi,
        "kg/m²",
        gold_detail={"category": cat},
    )


def make_bsa(rng: random.Random) -> Case:
    sex, age = _sex(rng), rng.randint(18, 88)
    kg, cm = round(rng.uniform(40, 140), 1), rng.randint(145, 200)
    bsa = math.sqrt(cm * kg / 3600)
    ctx = note(rng, intro(rng, age, sex), [weight_sentence(rng, kg), height_sentence(rng, cm)])
    steps = [
        f"Height is {cm} cm and weight is {kg:.1f} kg.",
        f"Mosteller: BSA = sqrt(height × weight / 3600) = sqrt({cm} × {kg:.1f} / 3600) = sqrt({cm * kg / 3600:.4f}) = {bsa:.2f} m².",
    ]
    return _decimal_case(
        ctx, "What is the patient's body surface area in m² by the Mosteller formula?", steps, bsa, "m²"
    )


def make_map(rng: random.Random) -> Case:
    sex, age = _sex(rng), rng.randint(18, 92)
    sbp, dbp = rng.randint(82, 210), 0
    dbp = rng.randint(max(40, sbp // 2 - 10), min(130, sbp - 20))
    bp = rng.choice(
        (
            f"Blood pressure is {sbp}/{dbp} mmHg.",
            f"BP {sbp}/{dbp} mm Hg.",
            f"Blood pressure was recorded at {sbp}/{dbp} mmHg.",
        )
    )
    ctx = note(rng, intro(rng, age, sex), [bp], exclude=("bp",))
    value = (sbp + 2 * dbp) / 3
    steps = [
        f"Systolic pressure is {sbp} mmHg and diastolic pressure is {dbp} mmHg.",
        f"MAP = (SBP + 2 × DBP) / 3 = ({sbp} + 2 × {dbp}) / 3 = {sbp + 2 * dbp} / 3 = {value:.2f} mmHg.",
    ]
    return _decimal_case(ctx, "What is the patient's mean arterial pressure in mmHg?", steps, value, "mmHg")


def make_anion_gap(rng: random.Random) -> Case:
    sex, age = _sex(rng), rng.randint(18, 90)
    na, cl, hco3 = rng.randint(124, 152), rng.randint(88, 116), rng.randint(8, 32)
    if rng.random() < 0.5:
        labs = [f"Labs: sodium {na} mEq/L, chloride {cl} mEq/L, bicarbonate {hco3} mEq/L."]
    else:
        labs = [f"Na {na} mmol/L.", f"Cl {cl} mmol/L.", f"HCO3 {hco3} mmol/L."]
    ctx = note(rng, intro(rng, age, sex), labs)
    value = na - (cl + hco3)
    steps = [
        f"Sodium is {na} mEq/L, chloride {cl} mEq/L and bicarbonate {hco3} mEq/L.",
        f"Anion gap = Na - (Cl + HCO3) = {na} - ({cl} + {hco3}) = {value} mEq/L.",
    ]
    return _decimal_case(ctx, "What is the patient's serum anion gap in mEq/L?", steps, value, "mEq/L")


def make_corrected_calcium(rng: random.Random) -> Case:
    sex, age = _sex(rng), rng.randint(18, 90)
    ca, alb = round(rng.uniform(6.5, 11.5), 1), round(rng.uniform(1.5, 4.8), 1)
    facts = [
        rng.choice((f"Serum calcium {ca:.1f} mg/dL.", f"Total calcium is {ca:.1f} mg/dL.")),
        rng.choice((f"Albumin {alb:.1f} g/dL.", f"Serum albumin measured at {alb:.1f} g/dL.")),
    ]
    ctx = note(rng, intro(rng, age, sex), facts)
    value = ca + 0.8 * (4.0 - alb)
    steps = [
        f"Measured calcium is {ca:.1f} mg/dL and albumin is {alb:.1f} g/dL; normal albumin is taken as 4 g/dL.",
        f"Corrected Ca = Ca + 0.8 × (4 - albumin) = {ca:.1f} + 0.8 × (4 - {alb:.1f}) = {value:.2f} mg/dL.",
    ]
    return _decimal_case(
        ctx, "What is the patient's albumin-corrected calcium in mg/dL?", steps, value, "mg/dL"
    )


def make_crcl(rng: random.Random) -> Case:
    sex, age = _sex(rng), rng.randint(20, 92)
    kg, cr = round(rng.uniform(40, 130), 1), round(rng.uniform(0.5, 4.0), 2)
    facts = [
        weight_sentence(rng, kg),
        rng.choice((f"Serum creatinine {cr:.2f} mg/dL.", f"Creatinine is {cr:.2f} mg/dL.")),
    ]
    ctx = note(rng, intro(rng, age, sex), facts)
    factor = 0.85 if sex == "F" else 1.0
    value = (140 - age) * kg / (72 * cr) * factor
    steps = [
        f"The patient is {age} years old, {'female' if sex == 'F' else 'male'}, weighs {kg:.1f} kg, creatinine {cr:.2f} mg/dL.",
        f"Cockcroft-Gault: CrCl = (140 - age) × weight / (72 × Cr) = (140 - {age}) × {kg:.1f} / (72 × {cr:.2f}) = {value / factor:.2f} mL/min.",
    ]
    if sex == "F":
        steps.append(f"For a woman multiply by 0.85: {value / factor:.2f} × 0.85 = {value:.2f} mL/min.")
    return _decimal_case(
        ctx,
        "What is the patient's creatinine clearance in mL/min by the Cockcroft-Gault equation?",
        steps,
        value,
        "mL/min",
    )


def _qtc(rng: random.Random, kind: str) -> Case:
    sex, age = _sex(rng), rng.randint(18, 90)
    hr, qt = rng.randint(45, 140), rng.randint(300, 520)
    facts = [
        rng.choice((f"Heart rate {hr} bpm.", f"Pulse is {hr}/min.", f"HR {hr} beats per minute.")),
        rng.choice(
            (
                f"ECG shows a QT interval of {qt} ms.",
                f"QT interval {qt} ms on the ECG.",
                f"The measured QT is {qt} ms.",
            )
        ),
    ]
    ctx = note(rng, intro(rng, age, sex), facts, exclude=("hr",))
    rr = 60 / hr
    if kind == "bazett":
        value = qt / math.sqrt(rr)
        formula = f"QTc = QT / sqrt(RR) = {qt} / sqrt({rr:.4f}) = {value:.2f} ms."
    else:
        value = qt / rr ** (1 / 3)
        formula = f"QTc = QT / RR^(1/3) = {qt} / {rr:.4f}^(1/3) = {value:.2f} ms."
    steps = [f"Heart rate is {hr} bpm, so RR = 60 / {hr} = {rr:.4f} s; QT is {qt} ms.", formula]
    name = "Bazett" if kind == "bazett" else "Fridericia"
    return _decimal_case(
        ctx, f"What is the patient's corrected QT interval in ms by the {name} formula?", steps, value, "ms"
    )


def make_qtc_bazett(rng: random.Random) -> Case:
    return _qtc(rng, "bazett")


def make_qtc_fridericia(rng: random.Random) -> Case:
    return _qtc(rng, "fridericia")


_CHA_ITEMS = {
    "chf": (("congestive heart failure", "heart failure with reduced ejection fraction", "CHF"), 1),
    "htn": (("hypertension", "HTN", "high blood pressure"), 1),
    "stroke": (("prior stroke", "transient ischemic attack", "TIA", "thromboembolism"), 2),
    "vascular": (("myocardial infarction", "peripheral artery disease", "aortic plaque"), 1),
    "dm": (("type 2 diabetes mellitus", "diabetes", "DM"), 1),
}


def make_cha2ds2_vasc(rng: random.Random) -> Case:
    sex, age = _sex(rng), rng.randint(40, 95)
    present = [k for k in _CHA_ITEMS if rng.random() < 0.4]
    absent = [k for k in _CHA_ITEMS if k not in present]
    pos_terms = [rng.choice(_CHA_ITEMS[k][0]) for k in present] + rng.sample(
        NEUTRAL_HISTORY, rng.randint(0, 2)
    )
    rng.shuffle(pos_terms)
    facts = ["Newly diagnosed atrial fibrillation on ECG."]
    if pos_terms:
        facts.append(f"Past medical history: {', '.join(pos_terms)}.")
    neg = [rng.choice(_CHA_ITEMS[k][0]) for k in rng.sample(absent, rng.randint(0, len(absent)))]
    if neg:
        facts.append(rng.choice(("No history of ", "Denies ")) + " or ".join(neg) + ".")
    ctx = note(rng, intro(rng, age, sex, "palpitations"), facts, exclude=("history",))
    age_pts = 2 if age >= 75 else 1 if age >= 65 else 0
    sex_pts = 1 if sex == "F" else 0
    score = age_pts + sex_pts + sum(_CHA_ITEMS[k][1] for k in present)
    steps = [f"Age {age}: {age_pts} point(s). Sex {'female' if sex == 'F' else 'male'}: {sex_pts} point(s)."]
    for k in _CHA_ITEMS:
        label = {
            "chf": "Heart failure",
            "htn": "Hypertension",
            "stroke": "Stroke/TIA/thromboembolism",
            "vascular": "Vascular disease",
            "dm": "Diabetes",
        }[k]
        pts = _CHA_ITEMS[k][1] if k in present else 0
        steps.append(f"{label}: {'present' if k in present else 'absent'}, {pts} point(s).")
    steps.append(f"Total CHA2DS2-VASc score = {score}.")
    return Case(
        ctx,
        "What is the patient's CHA2DS2-VASc score?",
        steps,
        score,
        str(score),
        {"unit": "points", "lower_limit": score, "upper_limit": score},
    )


_DRUGS = (
    ("vancomycin", 15),
    ("acetaminophen", 15),
    ("ceftriaxone", 50),
    ("gentamicin", 5),
    ("amoxicillin", 25),
    ("ibuprofen", 10),
    ("acyclovir", 10),
    ("cefazolin", 30),
)


def make_weight_dose(rng: random.Random) -> Case:
    sex, age = _sex(rng), rng.randint(18, 85)
    drug, per_kg = rng.choice(_DRUGS)
    kg = round(rng.uniform(40, 120), 1)
    order = rng.choice(
        (
            f"The team plans to give {drug} at {per_kg} mg/kg per dose.",
            f"Order: {drug} {per_kg} mg/kg IV.",
            f"{drug.capitalize()} is to be dosed at {per_kg} mg/kg.",
        )
    )
    ctx = note(rng, intro(rng, age, sex), [weight_sentence(rng, kg), order])
    value = per_kg * kg
    steps = [
        f"The ordered dose is {per_kg} mg/kg and the patient weighs {kg:.1f} kg.",
        f"Dose = {per_kg} mg/kg × {kg:.1f} kg = {value:.2f} mg.",
    ]
    return _decimal_case(
        ctx, f"What single dose of {drug} in mg should the patient receive?", steps, value, "mg"
    )


def make_maintenance_fluids(rng: random.Random) -> Case:
    sex = _sex(rng)
    kg = round(rng.uniform(3, 90), 1)
    age = max(1, int(kg / 4))
    child = {"M": "boy", "F": "girl"}[sex] if kg < 45 else {"M": "man", "F": "woman"}[sex]
    first = rng.choice(
        (
            f"A {age}-year-old {child} is admitted with vomiting and poor oral intake.",
            f"{age}-year-old {child} admitted for dehydration.",
        )
    )
    ctx = note(rng, first, [weight_sentence(rng, kg)], exclude=("history",))
    a, b, c = min(kg, 10), min(max(kg - 10, 0), 10), max(kg - 20, 0)
    value = 4 * a + 2 * b + c
    steps = [
        f"Weight is {kg:.1f} kg.",
        f"4-2-1 rule: 4 mL/kg/h for the first 10 kg ({4 * a:.1f}), 2 mL/kg/h for the next 10 kg ({2 * b:.1f}), "
        f"1 mL/kg/h for the rest ({c:.1f}).",
        f"Total = {4 * a:.1f} + {2 * b:.1f} + {c:.1f} = {value:.2f} mL/h.",
    ]
    return _decimal_case(
        ctx,
        "What is the patient's maintenance IV fluid rate in mL/h by the 4-2-1 rule?",
        steps,
        value,
        "mL/h",
    )


def make_ibw_devine(rng: random.Random) -> Case:
    sex, age = _sex(rng), rng.randint(18, 90)
    if rng.random() < 0.5:
        cm = rng.randint(153, 198)
        inches = cm / 2.54
        hs = rng.choice((f"Height {cm} cm.", f"Stands {cm} cm tall."))
        conv = f"Height {cm} cm = {cm} / 2.54 = {inches:.2f} in."
    else:
        total = rng.randint(61, 78)
        inches = float(total)
        hs = f"Height {total // 12} ft {total % 12} in."
        conv = f"Height {total // 12} ft {total % 12} in = {total} in."
    base = 50.0 if sex == "M" else 45.5
    value = base + 2.3 * (inches - 60)
    ctx = note(rng, intro(rng, age, sex), [hs, weight_sentence(rng, round(rng.uniform(45, 130), 1))])
    steps = [
        conv,
        f"Devine: IBW = {base} + 2.3 × (height in inches - 60) for a {'man' if sex == 'M' else 'woman'}.",
        f"IBW = {base} + 2.3 × ({inches:.2f} - 60) = {value:.2f} kg.",
    ]
    return _decimal_case(
        ctx, "What is the patient's ideal body weight in kg by the Devine formula?", steps, value, "kg"
    )


def make_convert_lb_kg(rng: random.Random) -> Case:
    sex, age = _sex(rng), rng.randint(18, 90)
    lb = round(rng.uniform(90, 330), 1)
    ws = rng.choice(
        (f"Weight {lb:.1f} lb.", f"The patient weighs {lb:.1f} lbs.", f"Reported weight is {lb:.1f} pounds.")
    )
    ctx = note(rng, intro(rng, age, sex), [ws])
    value = lb * 0.45359237
    steps = ["One pound is 0.45359237 kg.", f"{lb:.1f} lb × 0.45359237 = {value:.2f} kg."]
    return _decimal_case(ctx, "What is the patient's weight in kilograms?", steps, value, "kg")


def make_convert_glucose(rng: random.Random) -> Case:
    sex, age = _sex(rng), rng.randint(18, 90)
    mg = rng.randint(40, 600)
    gs = rng.choice(
        (
            f"Fasting glucose {mg} mg/dL.",
            f"Blood glucose measured at {mg} mg/dL.",
            f"Point-of-care glucose is {mg} mg/dL.",
        )
    )
    ctx = note(rng, intro(rng, age, sex), [gs], exclude=("glucose",))
    value = mg / 18.016
    steps = [
        "Glucose has a molar mass of 180.16 g/mol, so 1 mmol/L = 18.016 mg/dL.",
        f"{mg} mg/dL / 18.016 = {value:.2f} mmol/L.",
    ]
    return _decimal_case(ctx, "What is the patient's blood glucose in mmol/L?", steps, value, "mmol/L")


MAKERS = {
    "bmi": make_bmi,
    "bsa_mosteller": make_bsa,
    "mean_arterial_pressure": make_map,
    "anion_gap": make_anion_gap,
    "corrected_calcium": make_corrected_calcium,
    "crcl_cockcroft_gault": make_crcl,
    "qtc_bazett": make_qtc_bazett,
    "qtc_fridericia": make_qtc_fridericia,
    "cha2ds2_vasc": make_cha2ds2_vasc,
    "weight_based_dose": make_weight_dose,
    "maintenance_fluids": make_maintenance_fluids,
    "ibw_devine": make_ibw_devine,
    "convert_lb_to_kg": make_convert_lb_kg,
    "convert_glucose_mmol": make_convert_glucose,
}
