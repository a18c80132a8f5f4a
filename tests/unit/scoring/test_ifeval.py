"""tunelab's IFEval checkers agree with the reference (lm-evaluation-harness's ``ifeval`` task) on the same
responses, strict and loose, for every covered type that needs no downloaded nltk data:

length_constraints:number_words, length_constraints:number_paragraphs, change_case:english_lowercase,
change_case:english_capital, detectable_format:json_format, detectable_format:number_bullet_lists,
detectable_format:title, detectable_format:number_highlighted_sections, detectable_format:multiple_sections,
detectable_format:constrained_response, detectable_content:postscript, detectable_content:number_placeholders,
keywords:existence, keywords:forbidden_words, keywords:frequency, keywords:letter_frequency,
startend:end_checker, startend:quotation, punctuation:no_comma, combination:repeat_prompt.
"""

from __future__ import annotations

import itertools
import random

import pytest

from tunelab.scoring import IFEVAL_TYPES, check_instruction, ifeval_score
from tunelab.synth import CONSTRAINT_TYPES, instruction_following_items

ref_utils = pytest.importorskip("lm_eval.tasks.ifeval.utils")

PROMPT = "Write a short note about the weekly meeting."
COVERED: dict[str, list[dict]] = {
    "length_constraints:number_words": [
        {"relation": "less than", "num_words": 12},
        {"relation": "at least", "num_words": 12},
    ],
    "length_constraints:number_paragraphs": [{"num_paragraphs": 2}, {"num_paragraphs": 3}],
    "change_case:english_lowercase": [{}],
    "change_case:english_capital": [{}],
    "detectable_format:json_format": [{}],
    "detectable_format:number_bullet_lists": [{"num_bullets": 2}, {"num_bullets": 3}],
    "detectable_format:title": [{}],
    "detectable_format:number_highlighted_sections": [{"num_highlights": 1}, {"num_highlights": 2}],
    "detectable_format:multiple_sections": [{"section_spliter": "Section", "num_sections": 2}],
    "detectable_format:constrained_response": [{}],
    "detectable_content:postscript": [{"postscript_marker": "P.S."}, {"postscript_marker": "P.P.S"}],
    "detectable_content:number_placeholders": [{"num_placeholders": 1}, {"num_placeholders": 2}],
    "keywords:existence": [{"keywords": ["meeting", "thursday"]}],
    "keywords:forbidden_words": [{"forbidden_words": ["very", "meeting"]}],
    "keywords:frequency": [
        {"keyword": "meeting", "frequency": 2, "relation": "at least"},
        {"keyword": "meeting", "frequency": 2, "relation": "less than"},
    ],
    "keywords:letter_frequency": [
        {"letter": "e", "let_frequency": 10, "let_relation": "at least"},
        {"letter": "z", "let_frequency": 1, "let_relation": "less than"},
    ],
    "startend:end_checker": [{"end_phrase": "Any other questions?"}],
    "startend:quotation": [{}],
    "punctuation:no_comma": [{}],
    "combination:repeat_prompt": [{"prompt_to_repeat": PROMPT}],
}

# English responses (the reference's case checkers also run langdetect, which must say "en")
BASE_RESPONSES = [
    "The weekly meeting moves to Thursday, and everyone should bring their notes to the meeting room.",
    "the weekly meeting moves to thursday and everyone should bring their notes to the meeting room",
    "THE WEEKLY MEETING MOVES TO THURSDAY AND EVERYONE SHOULD BRING THEIR NOTES TO THE MEETING ROOM",
    '{"title": "Meeting", "text": "The weekly meeting moves to Thursday."}',
    '```json\n{"summary": "The meeting moves."}\n```',
    "Here is the note:\n* The meeting moves to Thursday.\n* Bring your notes.\nThanks!",
    "- First point about the meeting\n- Second point\n- Third point",
    "<<Meeting Note>>\nThe weekly meeting moves to Thursday. Any other questions?",
    "*Important*: the meeting moves. **Bring notes** to the room.\nP.S. Coffee will be served.",
    "Section 1\nThe meeting moves.\nSection 2\nBring your notes.",
    "First paragraph about the meeting.\n***\nSecond paragraph about the notes.",
    "First paragraph.\n***\n\n***\nThird.",
    "My answer is yes. The meeting moves to Thursday.",
    "Please meet at [place] on [day] for the meeting.",
    '"The weekly meeting moves to Thursday."',
    PROMPT + " The meeting moves to Thursday.",
    "Note: The meeting moves to Thursday\nP.P.S see you there",
    "Sure!\nthe meeting moves to thursday and we will discuss the budget for the coming quarter\nBye!",
    "   ",
]


def _variants(text: str, r: random.Random) -> list[str]:
    words = text.split(" ")
    cut = " ".join(words[: r.randint(1, len(words))])
    return [text, text.lower(), cut, f"**{text}**", "Sure, here it is:\n" + text + "\nHope this helps."]


def _reference(
    ids: list[str], kwargs: list[dict], response: str, prompt: str
) -> tuple[list[bool], list[bool]]:
    inp = ref_utils.InputExample(key=0, instruction_id_list=ids, prompt=prompt, kwargs=kwargs)
    strict = ref_utils.test_instruction_following_strict(inp, response).follow_instruction_list
    loose = ref_utils.test_instruction_following_loose(inp, response).follow_instruction_list
    return strict, loose


def test_every_covered_type_is_implemented() -> None:
    assert set(COVERED) <= set(IFEVAL_TYPES)
    # every type the constraint generator emits is checked here, except tunelab's own json_keys
    assert set(CONSTRAINT_TYPES) - {"tunelab:json_keys"} <= set(COVERED)


@pytest.mark.parametrize("instruction_id", sorted(COVERED))
def test_agrees_with_reference(instruction_id: str) -> None:
    r = random.Random(0)
    responses = [v for t in BASE_RESPONSES for v in _variants(t, r)]
    n_true = 0
    for kw, resp in itertools.product(COVERED[instruction_id], responses):
        ref_strict, ref_loose = _reference([instruction_id], [kw], resp, PROMPT)
        ours = ifeval_score([instruction_id], [kw], resp)
        assert list(ours.strict) == ref_strict, (kw, resp)
        assert list(ours.loose) == ref_loose, (kw, resp)
        n_true += ours.strict[0]
    # the responses exercise both outcomes for every type
    assert 0 < n_true < len(COVERED[instruction_id]) * len(responses)


def test_generated_items_prompt_and_instruction_level_agree() -> None:
    items = instruction_following_items(60, seed=3)
    r = random.Random(1)
    for ex in items:
        ids, kwargs = ex.meta["instruction_id_list"], ex.meta["kwargs"]
        ref_ids = [i for i in ids if i != "tunelab:json_keys"]
        ref_kw = [k for i, k in zip(ids, kwargs) if i != "tunelab:json_keys"]
        for resp in _variants(r.choice(BASE_RESPONSES), r):
            ours = ifeval_score(ids, kwargs, resp)
            mask = [i != "tunelab:json_keys" for i in ids]
            if ref_ids:
                s, lo = _reference(ref_ids, ref_kw, resp, ex.messages[0]["content"])
                assert [x for x, m in zip(ours.strict, mask) if m] == s
                assert [x for x, m in zip(ours.loose, mask) if m] == lo


def test_json_keys_and_errors() -> None:
    kw = {"keys": ["title", "text"]}
    assert check_instruction("tunelab:json_keys", kw, '{"title": "a", "text": "b"}')
    assert not check_instruction("tunelab:json_keys", kw, '{"title": "a"}')
    assert not check_instruction("tunelab:json_keys", kw, '["title", "text"]')
    with pytest.raises(ValueError, match="unknown instruction type"):
        check_instruction("nope", {}, "x")
