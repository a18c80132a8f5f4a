"""Every generated example passes its independent verifier, and corrupted examples are rejected."""

from __future__ import annotations

import copy
import re

import pytest

from tunelab.data import Example
from tunelab.synth import extract_answer, generate, generate_report, get_task, list_tasks, verify

ALL = [t.name for t in list_tasks()]
NUMERIC = [t.name for t in list_tasks() if t.answer_type in ("decimal", "integer")]


@pytest.mark.parametrize("task", ALL)
def test_thousand_examples_pass_the_verifier(task: str) -> None:
    report = generate_report(task, 1000, seed=7)
    assert report.verified == 1000 and len(report.examples) == 1000
    assert report.generated == report.verified + report.rejected
    for ex in report.examples:
        v = verify(Example.from_dict(ex.to_dict()))  # through plain dicts, as read back from JSONL
        assert v, (ex.id, v.reason)


def _with_meta(ex: Example, **changes: object) -> Example:
    d = copy.deepcopy(ex.to_dict())
    d["meta"].update(changes)
    return Example.from_dict(d)


def _wrong_gold(ex: Example) -> object:
    gold = ex.meta["gold"]
    labels = ex.meta.get("labels")
    if labels:
        return next(lab for lab in labels if lab != gold)
    if isinstance(gold, str):
        return str(int(gold) + 1)
    return gold + 1 if isinstance(gold, int) else gold * 1.1 + 1


@pytest.mark.parametrize("task", ALL)
def test_corrupted_gold_in_meta_is_rejected(task: str) -> None:
    for ex in generate(task, 20, seed=1):
        assert not verify(_with_meta(ex, gold=_wrong_gold(ex)))


@pytest.mark.parametrize("task", ALL)
def test_corrupted_answer_in_response_is_rejected(task: str) -> None:
    for ex in generate(task, 20, seed=2):
        d = copy.deepcopy(ex.to_dict())
        resp = d["messages"][-1]["content"]
        answer = extract_answer(resp, ex.meta["answer_format"], ex.meta.get("labels"))
        assert answer is not None
        if ex.meta.get("labels"):
            wrong = str(_wrong_gold(ex))
        else:
            first = re.search(r"\d", answer)
            assert first is not None
            wrong = answer[: first.start()] + ("1" if first.group(0) == "9" else "9") + answer[first.end() :]
        i = resp.lower().rfind(answer.lower())
        assert i >= 0
        d["messages"][-1]["content"] = resp[:i] + wrong + resp[i + len(answer) :]
        assert not verify(Example.from_dict(d)), (resp, wrong)


@pytest.mark.parametrize(
    "task",
    [t for t in NUMERIC if t != "cha2ds2_vasc"]
    + ["greater_comparison", "highest_revenue_year", "revenue_trend", "triage_level"],
)
def test_changing_the_facts_in_the_text_is_caught(task: str) -> None:
    """Multiplying each number of the prompt in turn: at least one change (a needed fact) is rejected."""
    for ex in generate(task, 10, seed=3):
        prompt = ex.messages[0]["content"]
        rejected = 0
        for m in re.finditer(r"\d+(?:\.\d+)?", prompt):
            old = m.group(0)
            new = (
                str(int(old) * 3 + 7)
                if "." not in old
                else f"{float(old) * 1.7 + 0.3:.{len(old.split('.')[1])}f}"
            )
            d = copy.deepcopy(ex.to_dict())
            d["messages"][0]["content"] = prompt[: m.start()] + new + prompt[m.end() :]
            rejected += not verify(Example.from_dict(d))
        assert rejected >= 1, prompt


def test_bmi_verifier_reads_weight_not_distractors() -> None:
    for ex in generate("bmi", 30, seed=4):
        prompt = ex.messages[0]["content"]
        kg = re.search(r"(\d+\.\d) kg", prompt)
        assert kg is not None
        d = copy.deepcopy(ex.to_dict())
        d["messages"][0]["content"] = prompt.replace(kg.group(0), f"{float(kg.group(1)) + 5:.1f} kg")
        assert not verify(Example.from_dict(d))
        temp = re.search(r"Temperature (\d+\.\d)", prompt)
        if temp:  # a distractor: changing it changes nothing
            d = copy.deepcopy(ex.to_dict())
            d["messages"][0]["content"] = prompt.replace(temp.group(0), "Temperature 39.9")
            assert verify(Example.from_dict(d))


def test_sentiment_cue_swap_is_caught() -> None:
    swaps = {"surge": "plunge", "soar": "slump", "record": "weak", "plunge": "surge", "downgrade": "upgrade"}
    checked = 0
    for ex in generate("fin_sentiment", 200, seed=5):
        prompt = ex.messages[0]["content"]
        for a, b in swaps.items():
            if f" {a}" in prompt:
                d = copy.deepcopy(ex.to_dict())
                d["messages"][0]["content"] = prompt.replace(f" {a}", f" {b}")
                assert not verify(Example.from_dict(d))
                checked += 1
                break
    assert checked > 10


def test_finqa_program_is_executed_and_checked() -> None:
    from tunelab.scoring import program_answer

    for task in [t.name for t in list_tasks() if t.scorer == "finqa"]:
        for ex in generate(task, 5, seed=6):
            assert program_answer(ex.meta["program"], ex.meta["table"]) == ex.meta["gold"]
            assert ex.meta["exe_ans"] == ex.meta["gold"]
            broken = _with_meta(
                ex,
                program=ex.meta["program"].replace("divide", "multiply").replace("greater(", "greater(0, ")
                + "",
            )
            if broken.meta["program"] != ex.meta["program"]:
                assert not verify(broken)
            assert not verify(_with_meta(ex, program="subtract(1, 2"))  # malformed


def test_medcalc_meta_and_tolerance_band() -> None:
    for task in [t.name for t in list_tasks() if t.scorer == "medcalc"]:
        ex = generate(task, 3, seed=8)[0]
        gold = ex.meta["gold"]
        assert ex.meta["lower_limit"] <= gold <= ex.meta["upper_limit"]
        if get_task(task).info.answer_type == "integer":
            assert isinstance(gold, int) and ex.meta["lower_limit"] == ex.meta["upper_limit"] == gold
        else:
            assert ex.meta["upper_limit"] == pytest.approx(max(gold * 1.05, gold * 0.95), abs=1e-4)


def test_bmi_category_is_checked() -> None:
    ex = generate("bmi", 1, seed=9)[0]
    other = "obese" if ex.meta["gold_detail"]["category"] != "obese" else "underweight"
    assert not verify(_with_meta(ex, gold_detail={"category": other}))


def test_unknown_task_and_missing_facts_are_rejected_with_a_reason() -> None:
    ex = generate("anion_gap", 1)[0]
    v = verify(_with_meta(ex, task="nope"))
    assert not v and "unknown task" in v.reason
    d = ex.to_dict()
    d["messages"][0]["content"] = "no facts here"
    v = verify(Example.from_dict(d))
    assert not v and "could not read" in v.reason


def test_cha2ds2_vasc_history_negation_and_sex_are_read() -> None:
    checked = 0
    for ex in generate("cha2ds2_vasc", 60, seed=10):
        prompt = ex.messages[0]["content"]
        d = copy.deepcopy(ex.to_dict())
        swapped = (
            re.sub(r"\b(man|male|gentleman)\b", "woman", prompt)
            if re.search(r"\b(man|male|gentleman)\b", prompt)
            else re.sub(r"\b(woman|female|lady)\b", "man", prompt)
        )
        d["messages"][0]["content"] = swapped
        assert not verify(Example.from_dict(d))  # sex is worth one point
        pmh = re.search(r"Past medical history: ([^.]*)\.", prompt)
        scored = r"diabet|\bDM\b|hypertension|\bHTN\b|high blood pressure|heart failure|\bCHF\b|stroke|\bTIA\b|transient|thromboembol|myocardial|peripheral|aortic"
        if pmh and re.search(scored, pmh.group(1)):
            d["messages"][0]["content"] = prompt.replace("Past medical history:", "No history of")
            assert not verify(Example.from_dict(d))  # negating the history removes scored conditions
            checked += 1
    assert checked > 10


def test_gold_tolerance_is_one_unit_in_the_last_place() -> None:
    ex = generate("bmi", 1, seed=12)[0]
    assert not verify(_with_meta(ex, gold=round(ex.meta["gold"] + 0.02, 2)))
    fin = generate("net_margin", 1, seed=12)[0]
    assert not verify(_with_meta(fin, gold=round(fin.meta["gold"] + 3e-5, 5)))
