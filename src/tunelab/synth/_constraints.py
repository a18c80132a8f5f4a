"""General requests with verifiable constraints, IFEval-style (Zhou et al. 2023): "write a short note about X"
plus one or two constraints a checker can verify (at most N words, all lowercase, JSON with given keys, exactly
N bullet points, include or avoid words, end with a phrase, no commas...). Scored by
:func:`tunelab.scoring.ifeval_score`; the ids and keyword arguments are the IFEval reference's.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from tunelab.data import Example

__all__ = ["CONSTRAINT_TYPES", "instruction_following_items"]

_REQUESTS = (
    "Write a short note to a colleague about moving the weekly meeting to Thursday.",
    "Describe what makes a good cup of tea.",
    "Explain why people enjoy walking in the park.",
    "Write a brief welcome message for new members of a book club.",
    "Give advice to someone starting to learn the guitar.",
    "Describe a quiet morning in a small town.",
    "Explain how to plan a picnic for a family.",
    "Write a short thank-you message to a neighbour who watered your plants.",
    "Describe the benefits of keeping a daily journal.",
    "Explain to a child why the sky looks blue.",
    "Write a short product description for a reusable water bottle.",
    "Give tips for packing a suitcase for a weekend trip.",
    "Describe your ideal weekend.",
    "Write a short announcement that the office kitchen will be cleaned on Friday.",
    "Explain why sleep is important for students.",
    "Describe how to make a simple sandwich.",
    "Write a short review of a film you enjoyed.",
    "Give three reasons to learn a second language.",
    "Describe the changing of the seasons in autumn.",
    "Write a polite reminder that the library books are due next week.",
)
_WORDS = ("friendly", "simple", "today", "people", "time", "good", "important", "plan", "help", "small")
_AVOID = ("very", "really", "thing", "nice", "great", "just")
_ENDINGS = ("Is there anything else I can help with?", "Any other questions?", "That is all.")


def _number_words(r: random.Random) -> tuple[str, dict[str, Any]]:
    n = r.choice((20, 30, 40, 50))
    return f"Answer in fewer than {n} words.", {"relation": "less than", "num_words": n}


def _bullets(r: random.Random) -> tuple[str, dict[str, Any]]:
    n = r.choice((2, 3, 4))
    return (
        f"Your answer must contain exactly {n} bullet points. Use the markdown bullet points such as:\n"
        "* This is point 1.",
        {"num_bullets": n},
    )


def _json_keys(r: random.Random) -> tuple[str, dict[str, Any]]:
    keys = r.choice((["title", "text"], ["summary", "mood"], ["topic", "answer"]))
    return (
        "Wrap your entire output in JSON format: one JSON object with the keys "
        + " and ".join(f'"{k}"' for k in keys)
        + ".",
        {"keys": keys},
    )


def _keywords(r: random.Random) -> tuple[str, dict[str, Any]]:
    kw = r.sample(_WORDS, 2)
    return f"Include the keywords {kw[0]} and {kw[1]} in the response.", {"keywords": kw}


def _forbidden(r: random.Random) -> tuple[str, dict[str, Any]]:
    fw = r.sample(_AVOID, 2)
    return f"Do not include the words {fw[0]} or {fw[1]} in the response.", {"forbidden_words": fw}


def _ending(r: random.Random) -> tuple[str, dict[str, Any]]:
    e = r.choice(_ENDINGS)
    return (
        f"Finish your response with this exact phrase: {e} No other words should follow this phrase.",
        {"end_phrase": e},
    )


CONSTRAINT_TYPES: dict[str, Callable[[random.Random], tuple[str, dict[str, Any]]]] = {
    "length_constraints:number_words": _number_words,
    "change_case:english_lowercase": lambda r: (
        "Your entire response should be in English, and in all lowercase letters. No capital letters are "
        "allowed.",
        {},
    ),
    "change_case:english_capital": lambda r: (
        "Your entire response should be in English, and in all capital letters.",
        {},
    ),
    "tunelab:json_keys": _json_keys,
    "detectable_format:json_format": lambda r: (
        "Entire output should be wrapped in JSON format. You can use markdown ticks such as ```.",
        {},
    ),
    "detectable_format:number_bullet_lists": _bullets,
    "keywords:existence": _keywords,
    "keywords:forbidden_words": _forbidden,
    "startend:end_checker": _ending,
    "punctuation:no_comma": lambda r: (
        "In your entire response, refrain from the use of any commas.",
        {},
    ),
    "startend:quotation": lambda r: ("Wrap your entire response with double quotation marks.", {}),
    "detectable_format:title": lambda r: (
        "Your answer must contain a title, wrapped in double angular brackets, such as <<poem of joy>>.",
        {},
    ),
    "detectable_content:postscript": lambda r: (
        "At the end of your response, please explicitly add a postscript starting with P.S.",
        {"postscript_marker": "P.S."},
    ),
}

# pairs that cannot both hold, never drawn together
_CLASH = {
    frozenset({"change_case:english_lowercase", "change_case:english_capital"}),
    frozenset({"tunelab:json_keys", "detectable_format:number_bullet_lists"}),
    frozenset({"detectable_format:json_format", "detectable_format:number_bullet_lists"}),
    frozenset({"tunelab:json_keys", "startend:quotation"}),
    frozenset({"detectable_format:json_format", "startend:quotation"}),
    frozenset({"tunelab:json_keys", "startend:end_checker"}),
    frozenset({"detectable_format:json_format", "startend:end_checker"}),
    frozenset({"tunelab:json_keys", "punctuation:no_comma"}),
    frozenset({"startend:quotation", "startend:end_checker"}),
    frozenset({"startend:quotation", "detectable_content:postscript"}),
    frozenset({"startend:end_checker", "detectable_content:postscript"}),
    frozenset({"change_case:english_lowercase", "detectable_content:postscript"}),
    frozenset({"change_case:english_capital", "startend:end_checker"}),
    frozenset({"change_case:english_lowercase", "startend:end_checker"}),
    frozenset({"tunelab:json_keys", "detectable_format:json_format"}),
}


def instruction_following_items(n: int, seed: int = 0, max_constraints: int = 2) -> list[Example]:
    """``n`` general requests, each with 1..``max_constraints`` verifiable constraints (seeded).

    Returns:
        Examples with one user turn; ``meta`` holds ``instruction_id_list`` and ``kwargs`` (IFEval's names),
        ``task="instruction_following"`` and ``scorer="ifeval"``.
    """
    r = random.Random(seed)
    types = sorted(CONSTRAINT_TYPES)
    out: list[Example] = []
    for i in range(n):
        request = r.choice(_REQUESTS)
        chosen: list[str] = []
        for _ in range(r.randint(1, max_constraints)):
            options = [
                t for t in types if t not in chosen and all(frozenset({t, c}) not in _CLASH for c in chosen)
            ]
            chosen.append(r.choice(options))
        texts, kwargs = [], []
        for t in chosen:
            txt, kw = CONSTRAINT_TYPES[t](r)
            texts.append(str(txt))
            kwargs.append(kw)
        prompt = request + " " + " ".join(texts)
        out.append(
            Example(
                messages=[{"role": "user", "content": prompt}],
                id=f"ifeval-s{seed}-{i:05d}",
                meta={
                    "task": "instruction_following",
                    "scorer": "ifeval",
                    "instruction_id_list": chosen,
                    "kwargs": kwargs,
                    "source": "tunelab.synth.instruction_following_items",
                },
            )
        )
    return out
