"""Strict answer extraction."""

from __future__ import annotations

import pytest

from tunelab.scoring import extract_answer


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("B", "B"),
        (" b ", "B"),
        ("(C)", "C"),
        ("D.", "D"),
        ("A)", "A"),
        ("Answer: B", "B"),
        ("The answer is (E).", "E"),
        ("Let me think.\nA is wrong because...\nFinal answer: C", "C"),
        ("Answer: C\nanswer: (c)", "C"),
        ("I think A or B", None),  # a letter in passing is not an answer
        ("A and B", None),
        ("Answer: A\nAnswer: B", None),  # two different answers
        ("F", None),  # not an option
        ("The answer is probably B because of A", None),
        ("", None),
    ],
)
def test_option_letter_is_strict(text: str, letter: str | None) -> None:
    assert extract_answer(text, "option_letter") == letter


def test_option_letter_custom_options() -> None:
    assert extract_answer("F", "option_letter", options="ABCDEF") == "F"


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("The answer is 1,234.5.", "1,234.5"),
        ("from 3 to -7", "-7"),
        ("growth of 53.1%", "53.1%"),
        ("a loss of (134) thousand", "(134)"),
        ("costs $ 12 in total", "$ 12"),
        ("no numbers here", None),
        ("version v2 only", None),
    ],
)
def test_last_number(text: str, number: str | None) -> None:
    assert extract_answer(text, "last_number") == number


def test_labels_strict_and_first_label_mode() -> None:
    labels = ["positive", "negative", "neutral"]
    assert extract_answer(" Positive\n", "label", labels=labels) == "positive"
    assert extract_answer("neutral positive", "label", labels=labels) is None  # unstopped generation
    assert extract_answer("positive.", "label", labels=labels) is None
    assert extract_answer("neutral positive", "label_first", labels=labels) == "neutral"
    assert extract_answer("It is NEGATIVE, not positive", "label_first", labels=labels) == "negative"
    assert extract_answer("nonpositive", "label_first", labels=labels) is None  # whole words only
    assert extract_answer("maybe not", "label_first", labels=["no", "not sure", "maybe not"]) == "maybe not"


def test_regex_and_json_field() -> None:
    assert extract_answer("so x = 42 then", "regex", pattern=r"x = (\d+)") == "42"
    assert extract_answer("so x = 42", "regex", pattern=r"x = (?P<answer>\d+)") == "42"
    assert extract_answer("nothing", "regex", pattern=r"x = (\d+)") is None
    assert extract_answer('{"answer": 5, "why": "..."}', "json_field", field="answer") == "5"
    assert extract_answer('```json\n{"a": {"b": "yes"}}\n```', "json_field", field="a.b") == "yes"
    assert extract_answer('Sure! {"answer": 5}', "json_field", field="answer") is None  # strict: JSON only
    assert extract_answer('{"other": 5}', "json_field", field="answer") is None
    assert extract_answer('{"answer": null}', "json_field", field="answer") is None


def test_bad_method_or_missing_option() -> None:
    with pytest.raises(ValueError, match="unknown extraction method"):
        extract_answer("x", "first_letter")
    with pytest.raises(ValueError):
        extract_answer("x", "regex")
    with pytest.raises(ValueError):
        extract_answer("x", "label")
    assert extract_answer(None, "last_number") is None  # type: ignore[arg-type]
