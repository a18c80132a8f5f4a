"""Benchmark scorers on hand-written outputs whose official verdicts are known."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.metrics import accuracy_score, f1_score

import tunelab.benchmarks as bench
from tunelab.data import Example

FIX = Path(bench.__file__).resolve().parent / "fixtures"


def _load(fmt: str, rel: str) -> list[Example]:
    return bench.load_benchmark(FIX / rel, fmt)


def test_every_fixture_reference_scores_full_marks() -> None:
    for fmt, rel in [
        ("medcalc", "medcalc/test_data.csv"),
        ("finqa", "finqa/train.json"),
        ("convfinqa", "convfinqa/train_turn.json"),
        ("tatqa", "tatqa/tatqa_dataset_train.json"),
        ("pubmedqa", "pubmedqa/ori_pqal.json"),
        ("medqa", "medqa/US_train.jsonl"),
        ("medmcqa", "medmcqa/train.json"),
        ("phrasebank", "phrasebank/Sentences_AllAgree.txt"),
    ]:
        for ex in _load(fmt, rel):
            assert set(bench.score_example(ex.response or "", ex).values()) == {1.0}, (fmt, ex.id)


def test_finqa_execution_and_program_accuracy() -> None:
    ex = _load("finqa", "finqa/train.json")[0]  # gold: subtract(1250, 1000), divide(#0, 1000) = 0.25
    s = bench.score_finqa
    assert (
        s("Let me compute.\nProgram: subtract(1250, 1000), divide(#0, 1000)", ex)["program_accuracy"] == 1.0
    )
    # same value, different program: execution right, program wrong
    other = s("Program: divide(250, 1000)", ex)
    assert (other["execution_accuracy"], other["program_accuracy"]) == (1.0, 0.0)
    # percent operand: 25% is 0.25
    assert s("Program: add(25%, 0)", ex)["execution_accuracy"] == 1.0
    assert s("Program: add(25, 0)", ex)["execution_accuracy"] == 0.0
    # malformed programs are wrong, never an exception
    for bad in (
        "Program: subtract(1250, 1000",
        "Program: __import__('os').system('x')",
        "Program: add(#3, 1)",
        "Program: divide(1, 0)",
        "",
    ):
        assert s(bad, ex)["execution_accuracy"] == 0.0
    assert s("", ex)["extracted"] == 0.0
    # two lines after the marker: not one program
    assert s("Program: divide(250, 1000)\nAnswer: 0.25", ex)["extracted"] == 0.0


def test_finqa_table_ops_negative_cells_and_yes_no() -> None:
    exs = _load("finqa", "finqa/train.json")
    assert bench.score_finqa("table_average(output, none)", exs[1])["execution_accuracy"] == 1.0
    assert bench.score_finqa("Program: table_max(output, none)", exs[1])["execution_accuracy"] == 0.0
    assert (
        bench.score_finqa("Program: greater(50, (134))", exs[3])["execution_accuracy"] == 1.0
    )  # (134) = -134
    assert bench.score_finqa("Program: greater(-134, 50)", exs[3])["execution_accuracy"] == 0.0  # "no"


def test_finqa_interpreter_rejects_code_without_running_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("eval/exec must never be called")

    monkeypatch.setattr(builtins, "eval", boom)
    monkeypatch.setattr(builtins, "exec", boom)
    ex = _load("finqa", "finqa/train.json")[0]
    for bad in (
        "Program: __import__('os').getcwd()",
        "Program: add(1, 2); import os",
        "Program: pow(2, 3)",
        "Program: add(1, 2) or exec('x')",
    ):
        assert bench.score_finqa(bad, ex) == {
            "execution_accuracy": 0.0,
            "program_accuracy": 0.0,
            "extracted": 1.0,
        }


def test_convfinqa_bare_number_turns() -> None:
    turns = _load("convfinqa", "convfinqa/train_turn.json")
    assert bench.score_convfinqa("Program: 500", turns[0])["execution_accuracy"] == 1.0
    assert bench.score_convfinqa("Program: 400", turns[0])["execution_accuracy"] == 0.0
    assert bench.score_convfinqa("Program: add(250, 250)", turns[0]) == {
        "execution_accuracy": 1.0,
        "program_accuracy": 0.0,
        "extracted": 1.0,
    }
    assert (
        bench.score_convfinqa("Program: subtract(500, 400), divide(#0, 400)", turns[3])["program_accuracy"]
        == 1.0
    )


def test_tatqa_scale_and_negative_rules() -> None:
    exs = _load("tatqa", "tatqa/tatqa_dataset_train.json")
    s = bench.score_tatqa
    assert s('{"answer": "1500", "scale": "thousand"}', exs[0])["tatqa_em"] == 1.0
    assert s('{"answer": "1,500", "scale": "million"}', exs[0])["tatqa_em"] == 0.0  # scale mismatch
    assert s('{"answer": "1,500", "scale": "dozen"}', exs[0])["extracted"] == 0.0  # not a TAT-QA scale
    assert s('```json\n{"answer": 300, "scale": "thousand"}\n```', exs[1])["tatqa_em"] == 1.0
    assert s('{"answer": 300.5, "scale": "thousand"}', exs[1]) == {
        "tatqa_em": 0.0,
        "tatqa_f1": 0.0,
        "extracted": 1.0,
    }
    assert s('{"answer": "-134", "scale": "thousand"}', exs[3])["tatqa_em"] == 1.0  # gold "(134)"
    assert s('{"answer": "134", "scale": "thousand"}', exs[3])["tatqa_em"] == 0.0
    multi = s('{"answer": ["meters", "sensors"], "scale": ""}', exs[2])
    assert multi["tatqa_em"] == 1.0
    partial = s('{"answer": ["sensors"], "scale": ""}', exs[2])
    assert partial["tatqa_em"] == 0.0 and 0.0 < partial["tatqa_f1"] < 1.0
    assert s('{"answer": "0.25", "scale": ""}', exs[5])["tatqa_em"] == 1.0  # 25 percent = 0.25
    assert s("The answer is 1,500 thousand.", exs[0])["extracted"] == 0.0


def test_medcalc_rules() -> None:
    bmi, score, due, ga, neg = _load("medcalc", "medcalc/test_data.csv")
    s = bench.score_medcalc
    assert s("Step 1 ...\nAnswer: 20.9 kg/m^2", bmi)["medcalc_accuracy"] == 1.0  # within 5 %
    assert s("Answer: 21.1", bmi)["medcalc_accuracy"] == 0.0
    assert s('{"step_by_step_thinking": "...", "answer": "19.5"}', bmi)["medcalc_accuracy"] == 1.0
    assert (
        s("Answer: 4.4", score)["medcalc_accuracy"] == 1.0
        and s("Answer: 4.6", score)["medcalc_accuracy"] == 0.0
    )
    assert s("Answer: 10/17/2021", due)["medcalc_accuracy"] == 1.0
    assert s("Answer: 10/18/2021", due)["medcalc_accuracy"] == 0.0
    assert s("Answer: (8 weeks, 3 days)", ga)["medcalc_accuracy"] == 1.0
    assert s("Answer: (8, 4)", ga)["medcalc_accuracy"] == 0.0
    # negative ground truth -2.0: the band is |gt| * 5 % on either side (the raw limit columns are inverted)
    assert s("Answer: -2.05", neg)["medcalc_accuracy"] == 1.0
    assert s("Answer: -1.8", neg)["medcalc_accuracy"] == 0.0
    assert s("Answer: 2.0", neg)["medcalc_accuracy"] == 0.0
    assert s("I think about twenty.", bmi) == {"medcalc_accuracy": 0.0, "extracted": 0.0}


def test_medcalc_suite_pattern_is_the_scorer_pattern() -> None:
    from tunelab.scoring import extract_answer

    for out in ("Answer: 20.9 kg/m^2", "x\nanswer = (8 weeks, 3 days)", '{"answer": "10/17/2021"}'):
        assert extract_answer(out, "regex", pattern=bench.MEDCALC_ANSWER_PATTERN) == bench.extract_medcalc(
            out
        )
    for out in ("Program: add(1, 2)", "add(1, 2)", "a\nProgram: add(1, 2).\n"):
        assert extract_answer(out, "regex", pattern=bench.FINQA_PROGRAM_PATTERN) == bench.extract_program(out)


def test_strict_letters_and_labels() -> None:
    mq = _load("medqa", "medqa/US_train.jsonl")[0]  # gold B
    assert bench.score_medqa("B", mq)["accuracy"] == 1.0
    assert bench.score_medqa("The answer is (B)", mq)["accuracy"] == 1.0
    assert bench.score_medqa("A is wrong, C is wrong, so B", mq)["extracted"] == 0.0  # no lenient letter hunt
    assert bench.score_medqa("Answer: B\nAnswer: C", mq)["extracted"] == 0.0
    mm = _load("medmcqa", "medmcqa/train.json")[0]  # gold B
    assert bench.score_medmcqa("E", mm)["extracted"] == 0.0  # only A-D
    pub = _load("pubmedqa", "pubmedqa/ori_pqal.json")[2]  # maybe
    assert bench.score_pubmedqa(" Maybe \n", pub)["accuracy"] == 1.0
    assert bench.score_pubmedqa("maybe yes", pub)["extracted"] == 0.0
    pb = _load("phrasebank", "phrasebank/Sentences_AllAgree.txt")[0]  # positive
    assert bench.score_phrasebank("neutral positive", pb)["extracted"] == 0.0


def test_score_set_macro_f1_agrees_with_sklearn() -> None:
    exs = _load("phrasebank", "phrasebank/Sentences_AllAgree.txt")
    outputs = ["positive", "neutral", "neutral", "Positive", "I cannot tell"]
    got = bench.score_set(outputs, exs)
    y_true = [e.meta["gold"] for e in exs]
    y_pred = ["positive", "neutral", "neutral", "positive", bench.NO_ANSWER]
    assert got["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
    assert got["f1_macro"] == pytest.approx(
        f1_score(y_true, y_pred, average="macro", zero_division=0), abs=1e-12
    )
    assert got["extracted"] == pytest.approx(0.8)
    with pytest.raises(ValueError):
        bench.score_set(outputs[:2], exs)


def test_score_example_rejects_non_benchmark_items() -> None:
    with pytest.raises(ValueError, match="no benchmark scorer"):
        bench.score_example("x", Example(messages=[{"role": "user", "content": "q"}], meta={}))
