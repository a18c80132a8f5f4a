"""IFEval-style verifiable instruction checkers (Zhou et al. 2023), tunelab's own implementation.

Each instruction type has the id and keyword arguments of the reference (lm-evaluation-harness's ``ifeval``
task), so the same items can be scored by both. *Strict* checks the response as written; *loose* also accepts
the response with its first line, its last line or both removed, each with and without markdown asterisks
(the reference's definition). Prompt-level: every instruction of a prompt followed; instruction-level: the
share of instructions followed.

Differences from the reference, on purpose: ``change_case:english_lowercase`` / ``english_capital`` check the
case only (the reference also runs ``langdetect`` and requires English). Word counts use ``\\w+`` tokens, as
the reference's ``RegexpTokenizer(r"\\w+")`` does. Types that need nltk's punkt data (sentences, capital word
frequency, first word of the n-th paragraph) are not implemented. ``tunelab:json_keys`` (valid JSON object
holding given keys) has no reference counterpart.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["IFEVAL_TYPES", "IFEvalResult", "check_instruction", "ifeval_score"]

Check = Callable[[str, dict[str, Any]], bool]


def _compare(actual: int, relation: str, n: int) -> bool:
    if relation == "less than":
        return actual < n
    if relation == "at least":
        return actual >= n
    raise ValueError(f"relation must be 'less than' or 'at least', not {relation!r}")


def _number_words(v: str, kw: dict[str, Any]) -> bool:
    return _compare(len(re.findall(r"\w+", v)), kw["relation"], int(kw["num_words"]))


def _bullets(v: str, kw: dict[str, Any]) -> bool:
    star = re.findall(r"^\s*\*[^\*].*$", v, flags=re.MULTILINE)
    dash = re.findall(r"^\s*-.*$", v, flags=re.MULTILINE)
    return len(star) + len(dash) == int(kw["num_bullets"])


def _json_body(v: str) -> str:
    v = v.strip()
    for prefix in ("```json", "```Json", "```JSON", "```"):
        v = v.removeprefix(prefix)
    return v.removesuffix("```").strip()


def _json_format(v: str, kw: dict[str, Any]) -> bool:
    try:
        json.loads(_json_body(v))
    except ValueError:
        return False
    return True


def _json_keys(v: str, kw: dict[str, Any]) -> bool:
    try:
        obj = json.loads(_json_body(v))
    except ValueError:
        return False
    return isinstance(obj, dict) and all(k in obj for k in kw["keys"])


def _existence(v: str, kw: dict[str, Any]) -> bool:
    return all(re.search(re.escape(k), v, flags=re.IGNORECASE) for k in kw["keywords"])


def _forbidden(v: str, kw: dict[str, Any]) -> bool:
    return not any(
        re.search(r"\b" + re.escape(w) + r"\b", v, flags=re.IGNORECASE) for w in kw["forbidden_words"]
    )


def _frequency(v: str, kw: dict[str, Any]) -> bool:
    n = len(re.findall(re.escape(kw["keyword"]), v, flags=re.IGNORECASE))
    return _compare(n, kw["relation"], int(kw["frequency"]))


def _letter_frequency(v: str, kw: dict[str, Any]) -> bool:
    n = Counter(v.lower())[str(kw["letter"]).lower()]
    return _compare(n, kw["let_relation"], int(kw["let_frequency"]))


def _end(v: str, kw: dict[str, Any]) -> bool:
    return v.strip().strip('"').lower().endswith(str(kw["end_phrase"]).strip().lower())


def _quotation(v: str, kw: dict[str, Any]) -> bool:
    v = v.strip()
    return len(v) > 1 and v[0] == '"' and v[-1] == '"'


def _title(v: str, kw: dict[str, Any]) -> bool:
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", v))


def _postscript(v: str, kw: dict[str, Any]) -> bool:
    marker = str(kw["postscript_marker"])
    pattern = {"P.P.S": r"\s*p\.\s?p\.\s?s.*$", "P.S.": r"\s*p\.\s?s\..*$"}.get(
        marker, r"\s*" + re.escape(marker.lower()) + r".*$"
    )
    return bool(re.findall(pattern, v.lower(), flags=re.MULTILINE))


def _placeholders(v: str, kw: dict[str, Any]) -> bool:
    return len(re.findall(r"\[.*?\]", v)) >= int(kw["num_placeholders"])


def _highlights(v: str, kw: dict[str, Any]) -> bool:
    single = [h for h in re.findall(r"\*[^\n\*]*\*", v) if h.strip("*").strip()]
    double = [
        h for h in re.findall(r"\*\*[^\n\*]*\*\*", v) if h.removeprefix("**").removesuffix("**").strip()
    ]
    return len(single) + len(double) >= int(kw["num_highlights"])


def _sections(v: str, kw: dict[str, Any]) -> bool:
    parts = re.split(r"\s?" + re.escape(str(kw["section_spliter"])) + r"\s?\d+\s?", v)
    return len(parts) - 1 >= int(kw["num_sections"])


def _paragraphs(v: str, kw: dict[str, Any]) -> bool:
    parts = re.split(r"\s?\*\*\*\s?", v)
    n = len(parts)
    for i, p in enumerate(parts):
        if not p.strip():
            if i in (0, len(parts) - 1):
                n -= 1
            else:
                return False
    return n == int(kw["num_paragraphs"])


_CONSTRAINED = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


def _constrained(v: str, kw: dict[str, Any]) -> bool:
    return any(c in v.strip() for c in _CONSTRAINED)


def _repeat_prompt(v: str, kw: dict[str, Any]) -> bool:
    return v.strip().lower().startswith(str(kw["prompt_to_repeat"]).strip().lower())


#: instruction id -> checker(response, kwargs); ids and kwargs as in the IFEval reference
IFEVAL_TYPES: dict[str, Check] = {
    "length_constraints:number_words": _number_words,
    "length_constraints:number_paragraphs": _paragraphs,
    "change_case:english_lowercase": lambda v, kw: v.islower(),
    "change_case:english_capital": lambda v, kw: v.isupper(),
    "detectable_format:json_format": _json_format,
    "detectable_format:number_bullet_lists": _bullets,
    "detectable_format:title": _title,
    "detectable_format:number_highlighted_sections": _highlights,
    "detectable_format:multiple_sections": _sections,
    "detectable_format:constrained_response": _constrained,
    "detectable_content:postscript": _postscript,
    "detectable_content:number_placeholders": _placeholders,
    "keywords:existence": _existence,
    "keywords:forbidden_words": _forbidden,
    "keywords:frequency": _frequency,
    "keywords:letter_frequency": _letter_frequency,
    "startend:end_checker": _end,
    "startend:quotation": _quotation,
    "punctuation:no_comma": lambda v, kw: "," not in v,
    "combination:repeat_prompt": _repeat_prompt,
    "tunelab:json_keys": _json_keys,
}


def check_instruction(instruction_id: str, kwargs: dict[str, Any], response: str) -> bool:
    """Strict check of one instruction on one response (an empty response follows nothing).

    Raises:
        ValueError: unknown instruction id.
    """
    check = IFEVAL_TYPES.get(instruction_id)
    if check is None:
        raise ValueError(f"unknown instruction type {instruction_id!r} (known: {sorted(IFEVAL_TYPES)})")
    return bool(response.strip()) and check(response, kwargs)


def _loose_variants(response: str) -> list[str]:
    lines = response.split("\n")
    cut = ["\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    return [response, response.replace("*", ""), *cut, *(c.replace("*", "") for c in cut)]


@dataclass(frozen=True)
class IFEvalResult:
    """One response against its instructions: per-instruction strict and loose results."""

    strict: tuple[bool, ...]
    loose: tuple[bool, ...]

    @property
    def prompt_strict(self) -> bool:
        return all(self.strict)

    @property
    def prompt_loose(self) -> bool:
        return all(self.loose)


def ifeval_score(
    instruction_ids: Sequence[str], kwargs: Sequence[dict[str, Any]], response: str
) -> IFEvalResult:
    """Score one response against its instructions, strict and loose (IFEval's definitions).

    Args:
        instruction_ids: the prompt's instruction ids (keys of :data:`IFEVAL_TYPES`).
        kwargs: one keyword dict per instruction.
        response: the model's response (already cut at the end of its turn).

    Returns:
        The :class:`IFEvalResult`.
    """
    if len(instruction_ids) != len(kwargs):
        raise ValueError("one kwargs dict per instruction id")
    strict = tuple(check_instruction(i, k, response) for i, k in zip(instruction_ids, kwargs))
    variants = _loose_variants(response)
    loose = tuple(any(check_instruction(i, k, v) for v in variants) for i, k in zip(instruction_ids, kwargs))
    return IFEvalResult(strict, loose)
