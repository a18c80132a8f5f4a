"""Strict, lenient and format scores per item, on real generated items: right answer in the wrong form is told
apart from a wrong answer, and listing every option earns nothing."""

from __future__ import annotations

import pytest

from tunelab.evaluate import three_scores
from tunelab.scoring import ExtractSpec
from tunelab.synth import generate


def _item(task: str, templates: str) -> object:
    return generate(task, 1, seed=3, templates=templates)[0]


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("negative", (1.0, 1.0, 1.0)),
        (" Negative ", (1.0, 1.0, 1.0)),
        ("The sentiment of this headline is negative.", (0.0, 1.0, 0.0)),  # right answer, wrong form
        ("positive", (0.0, 0.0, 1.0)),  # right form, wrong answer
        ("The sentiment is positive.", (0.0, 0.0, 0.0)),
        ("positive, negative or neutral", (0.0, 0.0, 0.0)),  # every label named: no answer
        ("", (0.0, 0.0, 0.0)),
    ],
)
def test_label_item(output: str, expected: tuple[float, float, float]) -> None:
    ex = _item("fin_sentiment", "finetune")
    assert ex.meta["gold"] == "negative"
    s = three_scores(output, ex, ExtractSpec())
    assert (s["strict"], s["lenient"], s["format"]) == expected
    assert "label" in s["lenient_rule"]


def test_nested_labels_count_once() -> None:
    ex = _item("med_abbrev", "train")
    assert ex.meta["gold"] == "four times daily"
    assert three_scores("It means four times daily.", ex, ExtractSpec())["lenient"] == 1.0
    # "by mouth" inside "nothing by mouth" is one label, not two; and it is the wrong one
    s = three_scores("nothing by mouth", ex, ExtractSpec())
    assert (s["strict"], s["lenient"]) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("-28.02%", (1.0, 1.0, 1.0)),
        ("The net income fell by -28.02% over the period.", (0.0, 1.0, 0.0)),
        ("From 8,191 to 5,896 the change is -28.02%", (0.0, 1.0, 0.0)),  # the last number
        ("From 8,191 to 5,896 the change is -28.1%", (0.0, 0.0, 0.0)),  # outside the task tolerance
        ("-28.02% or maybe 12%", (0.0, 0.0, 0.0)),  # the last number counts
        ("The figure decreased.", (0.0, 0.0, 0.0)),
        ("-31%", (0.0, 0.0, 1.0)),
    ],
)
def test_numeric_item(output: str, expected: tuple[float, float, float]) -> None:
    ex = _item("percent_change", "heldout")
    assert ex.meta["answer_text"] == "-28.02%"
    s = three_scores(output, ex, ExtractSpec())
    assert (s["strict"], s["lenient"], s["format"]) == expected, s
