"""Seeded synthetic corpora for the metric agreement tests (prediction/reference pairs with overlaps)."""

from __future__ import annotations

import random

_WORDS = (
    "the a an revenue net income rose fell by percent patient dose kidney heart rate score year quarter cash "
    "flow margin debt equity blood pressure mg kg liver risk high low total increase decrease million 2019 "
    "2020 3.5 42 of in on to and with was is were cell table growth loss profit Report Clinical Doctor"
).split()
_PUNCT = [".", ",", "!", "?", ";", ""]


def sentence(rng: random.Random, lo: int = 3, hi: int = 12) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(lo, hi))]
    return " ".join(words) + rng.choice([".", "!", "?", "."])


def perturb(rng: random.Random, text: str) -> str:
    """Drop, replace, duplicate or swap some words; sometimes change case or punctuation."""
    words = text.split()
    out: list[str] = []
    for w in words:
        r = rng.random()
        if r < 0.1:
            continue
        if r < 0.2:
            out.append(rng.choice(_WORDS))
        elif r < 0.25:
            out.extend([w, w])
        elif r < 0.3:
            out.append(w.upper())
        else:
            out.append(w + (rng.choice(_PUNCT) if rng.random() < 0.05 else ""))
    if len(out) > 2 and rng.random() < 0.3:
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    return " ".join(out)


def pairs(
    n: int, seed: int, n_sentences: tuple[int, int] = (1, 1)
) -> tuple[list[str], list[str], list[list[str]]]:
    """``n`` (prediction, reference) pairs; also returns each prediction's sentences (for ROUGE-Lsum).

    About 10% of predictions are unrelated to their reference, 5% are identical, the rest are perturbed copies.
    """
    rng = random.Random(seed)
    preds, refs, pred_sents = [], [], []
    for _ in range(n):
        ref_s = [sentence(rng) for _ in range(rng.randint(*n_sentences))]
        r = rng.random()
        if r < 0.1:
            p_s = [sentence(rng) for _ in range(rng.randint(*n_sentences))]
        elif r < 0.15:
            p_s = list(ref_s)
        else:
            p_s = [perturb(rng, s) for s in ref_s]
            p_s = [s for s in p_s if s] or ["empty"]
        refs.append(" ".join(ref_s))
        preds.append(" ".join(p_s))
        pred_sents.append(p_s)
    return preds, refs, pred_sents
