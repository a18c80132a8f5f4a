"""Template banks, determinism and answer extraction."""

from __future__ import annotations

import json
import random
import re

import pytest

import tunelab.synth as synth
from tunelab.errors import InputError
from tunelab.synth import (
    BANKS,
    extract_answer,
    generate,
    get_task,
    list_tasks,
    templates_for,
    verify,
)
from tunelab.synth._templates import render_messages

ALL = [t.name for t in list_tasks()]


def test_task_catalogue_covers_the_required_tasks() -> None:
    infos = list_tasks()
    medcalc = [t for t in infos if t.scorer == "medcalc"]
    finqa = [t for t in infos if t.scorer == "finqa"]
    assert len(medcalc) >= 12 and len(finqa) >= 12
    names = {t.name for t in infos}
    assert {"fin_sentiment", "triage_level", "extract_dose", "highest_revenue_year"} <= names
    assert {t.name for t in infos if t.scorer in ("label", "exact_match", "numeric")} >= {
        "lb_to_kg",
        "med_abbrev",
    }
    for t in infos:
        assert t.domain in ("medical", "finance")
        assert (t.labels is not None) == (t.answer_type == "label")
        assert t.to_dict()["name"] == t.name


@pytest.mark.parametrize("task", ALL)
def test_every_task_has_ten_templates_with_a_disjoint_heldout_subset(task: str) -> None:
    spec = get_task(task)
    train, held = templates_for(spec, "train"), templates_for(spec, "heldout")
    assert len(train) + len(held) >= 10 and len(held) >= 3 and len(train) >= 7
    assert not {t.id for t in train} & {t.id for t in held}
    assert {t.form for t in templates_for(spec, "all")} == {"answer_only", "json", "reasoning_then_answer"}


@pytest.mark.parametrize("task", ALL)
def test_every_template_renders_a_verifiable_example(task: str) -> None:
    spec = get_task(task)
    rng = random.Random(0)
    for template in templates_for(spec, "all"):
        case = spec.make(rng)
        messages, fmt = render_messages(spec, case, template)
        ex = synth.generate(task, 1)[0]
        ex.messages, ex.meta = messages, {**ex.meta, **case.extra, "gold": case.gold, "answer_format": fmt}
        assert verify(ex), (template.id, verify(ex).reason)
        assert extract_answer(messages[1]["content"], fmt, spec.info.labels) is not None


def test_template_texts_hold_no_digits_and_unique_ids() -> None:
    for bank in BANKS.values():
        assert len({t.id for t in bank}) == len(bank)
        for t in bank:
            assert not re.search(r"\d", t.text), t.id


@pytest.mark.parametrize("which", ["train", "heldout"])
def test_generation_uses_only_the_requested_subset(which: str) -> None:
    for task in ("bmi", "fin_sentiment", "percent_change", "extract_dose"):
        allowed = {t.id for t in templates_for(get_task(task), which)}
        exs = generate(task, 60, seed=1, templates=which)
        used = {e.meta["template_id"] for e in exs}
        assert used <= allowed and len(used) >= 2
        assert all(e.meta["template_set"] == which for e in exs)


def test_finetune_format_is_fixed() -> None:
    exs = generate("fin_sentiment", 20, seed=2, templates="finetune")
    for e in exs:
        assert e.meta["template_id"] == "finetune"
        assert re.fullmatch(r"Headline: .+\nSentiment:", e.messages[0]["content"])
        assert e.messages[1]["content"] == " " + e.meta["gold"]
        assert e.meta["answer_format"] == "label" and e.meta["labels"] == ["positive", "negative", "neutral"]


def test_classification_answer_only_has_no_rationale() -> None:
    for e in generate("triage_level", 50, seed=3):
        if e.meta["answer_format"] == "label":
            assert e.messages[1]["content"] == e.meta["gold"]


def test_meta_has_the_required_keys() -> None:
    for task in ALL:
        e = generate(task, 1, seed=4)[0]
        for key in (
            "gold",
            "answer_type",
            "scorer",
            "task",
            "domain",
            "template_id",
            "generator",
            "version",
            "seed",
            "answer_format",
        ):
            assert key in e.meta, (task, key)
        json.loads(e.to_json())


@pytest.mark.parametrize("task", ALL)
def test_same_seed_same_bytes_different_seed_different_data(task: str) -> None:
    a = [e.to_json() for e in generate(task, 30, seed=11)]
    b = [e.to_json() for e in generate(task, 30, seed=11)]
    c = [e.to_json() for e in generate(task, 30, seed=12)]
    assert a == b
    assert a != c
    assert len({e.messages[0]["content"] for e in generate(task, 30, seed=11)}) > 5


def test_get_task_suggests_the_closest_name() -> None:
    with pytest.raises(InputError, match="did you mean 'cha2ds2_vasc'"):
        get_task("cha2ds2vasc")
    with pytest.raises(InputError):
        generate("bmi", 3, templates="dev")


def test_extract_answer_forms() -> None:
    assert extract_answer('{"answer": 24.2}', "json") == "24.2"
    assert extract_answer('reasoning {"x": 1} then {"answer": 24.2}', "json") is None  # strict: JSON only
    assert extract_answer("not json", "json") is None
    assert extract_answer("step one\nAnswer: 5\nmore\nAnswer: 7 mL/h", "reasoning_then_answer") == "7 mL/h"
    assert extract_answer("no final line", "reasoning_then_answer") is None
    labels = ("positive", "negative", "neutral")
    assert extract_answer(" Positive\n", "label", labels) == "positive"
    assert extract_answer("neutral positive", "label", labels) is None  # strict: unstopped generations miss
    assert extract_answer("  12.5 ", "number") == "12.5"
    assert extract_answer("about 12.5", "number") is None
    with pytest.raises(ValueError):
        extract_answer("x", "yaml")


@pytest.mark.parametrize(
    ("text", "fmt", "labels"),
    [
        ('{"answer": "1.64%"}', "json", None),
        ('```json\n{"answer": 3}\n```', "json", None),
        ('Sure: {"answer": 3}', "json", None),
        ("a\nAnswer: 12\nAnswer: 13", "reasoning_then_answer", None),
        ("Final answer = neutral", "reasoning_then_answer", None),
        ("Neutral", "label", ("positive", "negative", "neutral")),
        ("neutral.", "label", ("positive", "negative", "neutral")),
        (" 5,829 ", "number", None),
        ("(134)", "number", None),
        ("  free text  ", "text", None),
    ],
)
def test_extract_answer_is_the_evaluation_rule(text: str, fmt: str, labels: tuple[str, ...] | None) -> None:
    """One implementation: the synth extraction equals the evaluation runner's strict per-format rule."""
    from tunelab.data import Example
    from tunelab.evaluate._scoring import extract_item
    from tunelab.scoring import ExtractSpec

    meta = {"answer_format": fmt, **({"labels": list(labels)} if labels else {})}
    expected, _ = extract_item(text, Example(messages=[], meta=meta), ExtractSpec())
    assert extract_answer(text, fmt, labels) == (expected.strip() if expected is not None else None)
