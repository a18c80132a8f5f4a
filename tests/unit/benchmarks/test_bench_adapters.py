"""Benchmark adapters: each bundled fixture (released layout, invented content) converts with the right count and
fields; a malformed record is reported with file, line and field (exit 2 through ``tunelab data validate``)."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import tunelab.benchmarks as bench
from tunelab.cli import cli
from tunelab.data import Format, load
from tunelab.errors import InputError
from tunelab.scoring import run_program

FIX = Path(bench.__file__).resolve().parent / "fixtures"
HAS_READ_HOOK = "read" in {f.name for f in dataclasses.fields(Format)}
needs_hook = pytest.mark.skipif(
    not HAS_READ_HOOK, reason="needs Format.read in tunelab.data (asked of the lead)"
)

CASES = [  # format, fixture, count, first id
    ("medcalc", "medcalc/test_data.csv", 5, "row-1"),
    ("finqa", "finqa/train.json", 4, "ACME/2019/page_12.pdf-1"),
    ("convfinqa", "convfinqa/train.json", 2, "Single_EPS/2019/page_2.pdf-1"),
    ("convfinqa", "convfinqa/train_turn.json", 4, "Single_EPS/2019/page_2.pdf-1_0"),
    ("tatqa", "tatqa/tatqa_dataset_train.json", 6, "q-001"),
    ("pubmedqa", "pubmedqa/ori_pqal.json", 3, "90000001"),
    ("medqa", "medqa/US_train.jsonl", 3, "US_train-1"),
    ("medmcqa", "medmcqa/train.json", 4, "00000000-aaaa-0001"),
    ("phrasebank", "phrasebank/Sentences_AllAgree.txt", 5, "Sentences_AllAgree-1"),
]


@pytest.mark.parametrize(("fmt", "rel", "count", "first"), CASES)
def test_fixture_converts(fmt: str, rel: str, count: int, first: str) -> None:
    exs = bench.load_benchmark(FIX / rel, fmt, training=True)
    assert len(exs) == count
    assert exs[0].id == first
    for ex in exs:
        assert ex.messages[-1]["role"] == "assistant" and ex.messages[0]["role"] == "user"
        for key in ("benchmark", "gold", "scorer", "answer_type", "task", "domain", "source"):
            assert key in ex.meta, (fmt, key)
        assert (
            ex.messages[-2]["content"]
            .rstrip()
            .split("\n")[-1]
            .startswith(("Question:", "Sentence:", "E.", "D."))
        )
    assert len({ex.id for ex in exs}) == count


@pytest.mark.parametrize(
    ("fmt", "rel", "count", "first"), [c for c in CASES if c[0] in ("medcalc", "finqa", "convfinqa", "medqa")]
)
def test_generic_loader_path(fmt: str, rel: str, count: int, first: str) -> None:
    exs = load(FIX / rel, format=fmt)
    assert len(exs) == count and exs[0].id == first


def test_detection_by_keys() -> None:
    assert {e.meta["benchmark"] for e in load(FIX / "finqa/train.json")} == {"finqa"}
    assert {e.meta["benchmark"] for e in load(FIX / "convfinqa/train.json")} == {"convfinqa"}
    assert {e.meta["benchmark"] for e in load(FIX / "medcalc/test_data.csv")} == {"medcalc"}


def test_finqa_rendering_and_meta() -> None:
    ex = bench.load_benchmark(FIX / "finqa/train.json", "finqa")[0]
    user = ex.messages[0]["content"]
    pre, table, post, question = (
        user.index(s)
        for s in (
            "acme widgets reported",
            "| net sales | $ 1,250 | $ 1,000 |",
            "amounts are in millions",
            "Question: what was",
        )
    )
    assert pre < table < post < question
    assert ex.messages[1]["content"] == "Program: subtract(1250, 1000), divide(#0, 1000)"
    assert ex.meta["exe_ans"] == 0.25 and ex.meta["table"][1] == ["net sales", "$ 1,250", "$ 1,000"]


def test_finqa_interpreter_runs_every_fixture_program() -> None:
    for ex in bench.load_benchmark(FIX / "finqa/train.json", "finqa"):
        assert run_program(ex.meta["program"], ex.meta["table"]).answer == ex.meta["exe_ans"]


def test_convfinqa_history_and_turn_choice() -> None:
    conv = bench.load_benchmark(FIX / "convfinqa/train.json", "convfinqa")[0]
    assert conv.meta["turn_index"] == 3 and conv.meta["gold"] == 0.25
    assert [m["role"] for m in conv.messages] == ["user", "assistant"] * 4
    assert conv.messages[-2]["content"] == "Question: and the percentage change?"
    turns = bench.load_benchmark(FIX / "convfinqa/train_turn.json", "convfinqa")
    assert [t.meta["exe_ans"] for t in turns] == [500.0, 400.0, 100.0, 0.25]
    assert [len(t.messages) for t in turns] == [2, 4, 6, 8]


def test_tatqa_one_example_per_question_with_scale() -> None:
    exs = bench.load_benchmark(FIX / "tatqa/tatqa_dataset_train.json", "tatqa")
    assert [e.meta["scale"] for e in exs] == ["thousand", "thousand", "", "thousand", "", "percent"]
    assert exs[2].meta["gold"] == ["sensors", "meters"] and exs[2].meta["answer_type"] == "multi-span"
    user = exs[0].messages[0]["content"]
    assert user.index("Zeta Systems reports") < user.index("The net loss widened")  # paragraph order
    assert json.loads(exs[0].messages[1]["content"]) == {"answer": ["1,500"], "scale": "thousand"}


def test_medcalc_output_types_and_limits() -> None:
    exs = bench.load_benchmark(FIX / "medcalc/test_data.csv", "medcalc")
    assert [e.meta["output_type"] for e in exs] == ["decimal", "integer", "date", "weeks_days", "decimal"]
    assert exs[0].meta["lower_limit"] == 19.0 and exs[0].meta["upper_limit"] == 21.0
    assert exs[0].messages[1]["content"].endswith("Answer: 20.0")


def test_label_benchmarks() -> None:
    pub = bench.load_benchmark(FIX / "pubmedqa/ori_pqal.json", "pubmedqa")
    assert [e.meta["gold"] for e in pub] == ["yes", "no", "maybe"]
    assert "BACKGROUND: Office workers" in pub[0].messages[0]["content"]
    mm = bench.load_benchmark(FIX / "medmcqa/train.json", "medmcqa")
    assert [e.meta["gold"] for e in mm] == ["B", "C", "A", "D"]  # cop 1-4
    pb = bench.load_benchmark(FIX / "phrasebank/Sentences_AllAgree.txt", "phrasebank")
    assert "caf\u00e9" in pb[3].messages[0]["content"]  # latin-1 decoded
    assert (
        pb[4].messages[0]["content"].endswith("investor@lambda.example for details .")
    )  # split at the last @
    assert [e.meta["gold"] for e in pb] == ["positive", "negative", "neutral", "positive", "neutral"]


def test_medmcqa_hf_encoding(tmp_path: Path) -> None:
    rec = {"question": "q?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 0, "id": "x"}
    p = tmp_path / "hf.jsonl"
    p.write_text(json.dumps(rec) + "\n")
    assert bench.load_benchmark(p, "medmcqa-hf")[0].meta["gold"] == "A"
    with pytest.raises(InputError, match="medmcqa-hf"):
        bench.load_benchmark(p, "medmcqa")


# ---------------------------------------------------------------- malformed records


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return p


def _bad_medcalc(tmp_path: Path) -> Path:
    with (FIX / "medcalc/test_data.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    rows[2][1] = "four"
    p = tmp_path / "test_data.csv"
    with p.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return p


def _bad_json(tmp_path: Path, rel: str, name: str, edit: object) -> Path:
    data = json.loads((FIX / rel).read_text())
    edit(data)  # type: ignore[operator]
    return _write(tmp_path, name, json.dumps(data, indent=1))


def _record_starts(path: Path) -> list[int]:
    return [i for i, ln in enumerate(path.read_text().splitlines(), 1) if ln.startswith(" {")]


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(path.read_text(encoding="latin-1").splitlines(), 1) if needle in ln)


BAD = {
    "medcalc": (lambda t: _bad_medcalc(t), "Calculator ID", "expected an integer", 3),
    "finqa": (
        lambda t: _bad_json(
            t,
            "finqa/train.json",
            "train.json",
            lambda d: d[1]["qa"].__setitem__("program", "import_os(1, 2)"),
        ),
        "qa.program",
        "unknown operation",
        "record 1",
    ),
    "convfinqa": (
        lambda t: _bad_json(
            t,
            "convfinqa/train.json",
            "train.json",
            lambda d: d[1]["annotation"]["exe_ans_list"].__setitem__(2, "lots"),
        ),
        "annotation.exe_ans_list[2]",
        "expected a number",
        "record 1",
    ),
    "medqa": (
        lambda t: _write(
            t,
            "q.jsonl",
            (FIX / "medqa/US_train.jsonl").read_text().replace('"answer_idx": "C"', '"answer_idx": "F"'),
        ),
        "answer_idx",
        "not one of the options",
        3,
    ),
}


def _check_cli(path: Path, fmt: str, field: str, message: str, line: int) -> None:
    res = CliRunner().invoke(cli, ["data", "validate", str(path), "--format", fmt])
    assert res.exit_code == 2, res.output
    assert f"{path}:{line}: {field}: " in res.output and message in res.output, res.output


@pytest.mark.parametrize("fmt", sorted(BAD))
def test_malformed_record_exit_2(tmp_path: Path, fmt: str) -> None:
    make, field, message, needle = BAD[fmt]
    path = make(tmp_path)
    with pytest.raises(InputError) as err:
        bench.load_benchmark(path, fmt)
    prob = err.value.problems[0]
    assert (prob.field, prob.file) == (field, str(path)) and message in prob.message
    if needle == "record 1":  # a JSON array: the line of the second record's opening brace
        assert prob.line == _record_starts(path)[1]
    else:
        assert prob.line == needle
    _check_cli(path, fmt, field, message, int(prob.line or 0))


def _bad_tatqa(tmp_path: Path) -> Path:
    return _bad_json(
        tmp_path,
        "tatqa/tatqa_dataset_train.json",
        "tatqa.json",
        lambda d: d[1]["questions"][1].__setitem__("scale", "dozen"),
    )


def _bad_pubmedqa(tmp_path: Path) -> Path:
    data = json.loads((FIX / "pubmedqa/ori_pqal.json").read_text())
    data["90000002"]["final_decision"] = "perhaps"
    return _write(tmp_path, "ori_pqal.json", json.dumps(data, indent=1))


def _bad_phrasebank(tmp_path: Path) -> Path:
    raw = (FIX / "phrasebank/Sentences_AllAgree.txt").read_bytes().replace(b"@negative", b"@bearish")
    return _write(tmp_path, "Sentences_AllAgree.txt", raw)


def _bad_medmcqa(tmp_path: Path) -> Path:
    raw = (FIX / "medmcqa/train.json").read_text().replace('"cop": 3', '"cop": 7')
    return _write(tmp_path, "dev.json", raw)


READER_BAD = {
    "tatqa": (_bad_tatqa, "questions[1].scale", "unknown scale", '"table": {'),
    "pubmedqa": (_bad_pubmedqa, "final_decision", "expected yes, no or maybe", '"90000002"'),
    "phrasebank": (_bad_phrasebank, "label", "expected positive, negative or neutral", "@bearish"),
    "medmcqa": (_bad_medmcqa, "cop", "expected the correct option number 1-4", '"cop": 7'),
}


@pytest.mark.parametrize("fmt", sorted(READER_BAD))
def test_malformed_record_in_reader_layouts(tmp_path: Path, fmt: str) -> None:
    make, field, message, needle = READER_BAD[fmt]
    path = make(tmp_path)
    with pytest.raises(InputError) as err:
        bench.load_benchmark(path, fmt)
    prob = err.value.problems[0]
    assert (prob.field, prob.file) == (field, str(path)) and message in prob.message
    if fmt == "tatqa":  # the second context: the line of its opening brace
        assert prob.line == _record_starts(path)[1]
    else:
        assert prob.line == _line_of(path, needle)


@needs_hook
@pytest.mark.parametrize("fmt", sorted(READER_BAD))
def test_malformed_record_in_reader_layouts_cli(tmp_path: Path, fmt: str) -> None:
    make, field, message, _ = READER_BAD[fmt]
    path = make(tmp_path)
    with pytest.raises(InputError) as err:
        bench.load_benchmark(path, fmt)
    _check_cli(path, fmt, field, message, int(err.value.problems[0].line or 0))
