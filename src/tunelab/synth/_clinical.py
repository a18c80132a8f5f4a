"""Building blocks of varied clinical text: patient introductions, vitals and lab sentences, distractors.

Distractor facts (other vitals, labs, history) are drawn from kinds the calling task excludes when
they would collide with the facts its verifier reads.
"""

from __future__ import annotations

import random

__all__ = ["intro", "note", "weight_sentence", "height_sentence", "NEUTRAL_HISTORY", "REASONS"]

REASONS = (
    "a routine follow-up visit",
    "progressive fatigue",
    "a productive cough for five days",
    "dizziness on standing",
    "swelling of both ankles",
    "preoperative assessment before knee surgery",
    "intermittent palpitations",
    "a medication review",
    "lower back pain",
    "shortness of breath on exertion",
)

# conditions that none of the medical verifiers score (safe as distractors everywhere)
NEUTRAL_HISTORY = (
    "hypothyroidism",
    "GERD",
    "osteoarthritis of the knees",
    "gout",
    "hyperlipidemia",
    "asthma",
    "depression",
    "migraine",
    "seasonal allergies",
    "glaucoma",
)

_NOUNS = {"M": ("man", "male", "gentleman"), "F": ("woman", "female", "lady")}


def intro(rng: random.Random, age: int, sex: str, reason: str | None = None) -> str:
    """A first sentence stating age and sex, e.g. ``A 67-year-old man presents with ...``."""
    noun = rng.choice(_NOUNS[sex])
    why = reason or rng.choice(REASONS)
    forms = (
        f"A {age}-year-old {noun} presents with {why}.",
        f"{age}-year-old {noun} seen in clinic for {why}.",
        f"The patient is a {age} y/o {noun} evaluated for {why}.",
        f"Patient: {noun}, aged {age}, referred for {why}.",
    )
    return rng.choice(forms)


def _distractor(rng: random.Random, kind: str) -> str:
    if kind == "hr":
        hr = rng.randint(58, 104)
        return rng.choice((f"Heart rate is {hr} bpm.", f"Pulse {hr}/min.", f"HR {hr} beats per minute."))
    if kind == "bp":
        s, d = rng.randint(104, 162), rng.randint(62, 96)
        return rng.choice((f"Blood pressure {s}/{d} mmHg.", f"BP measured at {s}/{d} mm Hg."))
    if kind == "temp":
        return f"Temperature {rng.uniform(36.1, 37.9):.1f} °C."
    if kind == "rr":
        return f"Respiratory rate {rng.randint(12, 22)} breaths/min."
    if kind == "spo2":
        return f"Oxygen saturation {rng.randint(93, 100)}% on room air."
    if kind == "potassium":
        return f"Potassium {rng.uniform(3.4, 5.1):.1f} mEq/L."
    if kind == "bun":
        return f"BUN {rng.randint(8, 28)} mg/dL."
    if kind == "glucose":
        return f"Random glucose {rng.randint(78, 190)} mg/dL."
    if kind == "hgb":
        return f"Hemoglobin {rng.uniform(10.5, 16.5):.1f} g/dL."
    if kind == "history":
        a, b = rng.sample(NEUTRAL_HISTORY, 2)
        return rng.choice((f"History is notable for {a} and {b}.", f"Past history includes {a} and {b}."))
    if kind == "social":
        return rng.choice(
            (
                "The patient quit smoking years ago.",
                "Lives alone and walks daily.",
                "Drinks alcohol socially.",
                "Works as an accountant.",
            )
        )
    raise ValueError(kind)


_KINDS = ("hr", "bp", "temp", "rr", "spo2", "potassium", "bun", "glucose", "hgb", "history", "social")


def note(
    rng: random.Random,
    first: str,
    facts: list[str],
    exclude: tuple[str, ...] = (),
    n_distractors: tuple[int, int] = (2, 4),
) -> str:
    """A patient note: the intro, then the task's facts mixed with distractors in random order."""
    kinds = [k for k in _KINDS if k not in exclude]
    extra = [_distractor(rng, k) for k in rng.sample(kinds, rng.randint(*n_distractors))]
    body = facts + extra
    rng.shuffle(body)
    return " ".join([first, *body])


def weight_sentence(rng: random.Random, kg: float) -> str:
    """A sentence stating the weight in kg with one decimal."""
    w = f"{kg:.1f}"
    return rng.choice((f"Weight {w} kg.", f"The patient weighs {w} kg.", f"Body weight is {w} kg."))


def height_sentence(rng: random.Random, cm: int, allow_m: bool = True, allow_ftin: bool = False) -> str:
    """A sentence stating the height in cm, in metres or in feet and inches (rounded inches)."""
    forms = [f"Height {cm} cm.", f"Stands {cm} cm tall."]
    if allow_m:
        forms.append(f"Height is {cm / 100:.2f} m.")
    if allow_ftin:
        inches = round(cm / 2.54)
        forms.append(f"Height {inches // 12} ft {inches % 12} in.")
    return rng.choice(forms)
