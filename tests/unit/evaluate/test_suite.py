"""Suites: every shipped suite loads; bad keys name the file, line and key; suites build from Python."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunelab.errors import InputError
from tunelab.evaluate._suite import DataSpec, Suite, list_suites, load_suite, suites_dir
from tunelab.generation import Decoding


def test_every_shipped_suite_loads() -> None:
    names = list_suites()
    assert {"fin_sentiment", "general_ppl", "synth_medcalc", "synth_finqa", "medcalc", "finqa"} <= set(names)
    for name in names:
        s = load_suite(name)
        assert s.name == name
        assert s.source == str(suites_dir() / f"{name}.yaml")
        assert s.to_dict()["decoding"]["mode"] in ("greedy", "sampling")
    assert load_suite("fin_sentiment").decoding.greedy  # evaluation decodes greedily unless told otherwise


def test_suite_from_python() -> None:
    s = Suite(name="x", data=[DataSpec(task="fin_sentiment", n=3)], decoding=Decoding(max_new_tokens=5))
    assert s.to_dict()["decoding"]["max_new_tokens"] == 5
    with pytest.raises(InputError, match="metrics"):
        Suite(name="x", data=[DataSpec(task="fin_sentiment")], metrics=["bleu4"])
    with pytest.raises(InputError, match=r"data\[0\]"):
        Suite(name="x", data=[DataSpec(task="fin_sentiment", path="a.jsonl")])


@pytest.mark.parametrize(
    ("body", "field", "line"),
    [
        (
            "name: s\ndata: [{task: fin_sentiment}]\ndecoding:\n  max_new_tokenz: 5\n",
            "decoding.max_new_tokenz",
            4,
        ),
        (
            "name: s\ndata: [{task: fin_sentiment}]\ndecoding:\n  max_new_tokens: many\n",
            "decoding.max_new_tokens",
            4,
        ),
        (
            "name: s\ndata: [{task: fin_sentiment}]\ndecoding:\n  max_new_tokens: 0\n",
            "decoding.max_new_tokens",
            4,
        ),
        ("name: s\ndata:\n  - task: fin_sentiment\n    templatez: heldout\n", "data[0].templatez", 4),
        ("name: s\nkind: generate\ndata: [{task: fin_sentiment}]\nmetrics: [bleu4]\n", "metrics", 4),
        ("name: s\ndata: [{task: fin_sentiment}]\nextract: {method: regex}\n", "extract.pattern", None),
        ("name: s\ndata: [{task: fin_sentiment}]\nprompt: {format: markdown}\n", "prompt.format", 3),
        ("name: s\ndata: [{task: fin_sentiment}]\nmetricz: [bleu]\n", "metricz", 3),
    ],
)
def test_bad_suite_names_file_line_and_key(tmp_path: Path, body: str, field: str, line: int | None) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(body, encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_suite(str(p))
    prob = e.value.problems[0]
    assert prob.file == str(p)
    assert prob.field == field
    if line is not None:
        assert prob.line == line
    assert str(p) in str(e.value) and field in str(e.value)


def test_unknown_suite_name() -> None:
    with pytest.raises(InputError, match="fin_sentiment"):
        load_suite("no_such_suite")
