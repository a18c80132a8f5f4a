"""Validation: every problem located as FILE:LINE: field, all in one pass; skip_invalid counts everything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunelab.data import load, load_with_report, validate
from tunelab.errors import InputError

GOOD = json.dumps(
    {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
)

# (bad line, expected "field: message" start) — the bad line is always line 2 of the file
BAD_CASES = {
    "malformed_json": ('{"messages": [', "json: malformed JSON"),
    "not_object": ("[1, 2]", "json: expected a JSON object, got array"),
    "missing_field": ('{"msgs": []}', "messages: missing"),
    "empty_content": (
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "  "}]}',
        "messages[1].content: empty",
    ),
    "unknown_role": (
        '{"messages": [{"role": "bot", "content": "hi"}, {"role": "assistant", "content": "x"}]}',
        "messages[0].role: unknown role 'bot'",
    ),
    "missing_role": (
        '{"messages": [{"content": "hi"}, {"role": "assistant", "content": "x"}]}',
        "messages[0].role: missing",
    ),
    "wrong_type": (
        '{"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "x"}]}',
        "messages[0].content: expected a string, got integer",
    ),
    "turns_not_list": ('{"messages": "hello"}', "messages: expected an array of turns, got string"),
    "no_assistant_end": (
        '{"messages": [{"role": "user", "content": "hi"}]}',
        "messages: conversation does not end with an assistant turn",
    ),
    "empty_conversation": ('{"messages": []}', "messages: empty conversation"),
}


def write_case(tmp_path: Path, bad: str | bytes) -> Path:
    p = tmp_path / "d.jsonl"
    body = bad.encode() if isinstance(bad, str) else bad
    p.write_bytes(GOOD.encode() + b"\n" + body + b"\n" + GOOD.encode() + b"\n")
    return p


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_record_located(tmp_path: Path, case: str) -> None:
    line, expected = BAD_CASES[case]
    p = write_case(tmp_path, line)
    with pytest.raises(InputError) as ei:
        load(p, format="messages")
    assert ei.value.total == 1
    assert str(ei.value.problems[0]).startswith(f"{p}:2: {expected}")


def test_non_utf8(tmp_path: Path) -> None:
    bad = b'{"messages": [{"role": "user", "content": "caf\xe9"}]}'
    p = write_case(tmp_path, bad)
    rep = validate(p)
    col = bad.index(b"\xe9") + 1
    assert [str(x) for x in rep.problems] == [f"{p}:2: encoding: not valid UTF-8 (byte 0xe9 at column {col})"]


def test_alpaca_fields(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_text('{"instruction": "x", "output": "y"}\n{"instruction": "", "input": 3}\n')
    probs = [str(x) for x in validate(p).problems]
    assert probs == [
        f"{p}:2: instruction: empty",
        f"{p}:2: input: expected a string, got integer",
        f"{p}:2: output: missing",
    ]


def test_all_problems_in_one_pass_capped(tmp_path: Path) -> None:
    p = tmp_path / "many.jsonl"
    p.write_text(GOOD + "\n" + "\n".join("{oops" for _ in range(25)) + "\n")
    with pytest.raises(InputError) as ei:
        load(p)
    assert len(ei.value.problems) == 20 and ei.value.total == 25
    assert "and 5 more problem(s) (25 in all)" in str(ei.value)


def test_skip_invalid_keeps_good_and_counts_everything(tmp_path: Path) -> None:
    p = tmp_path / "mixed.jsonl"
    lines = [
        GOOD,
        BAD_CASES["malformed_json"][0],
        GOOD,
        BAD_CASES["unknown_role"][0],
        BAD_CASES["no_assistant_end"][0],
        GOOD,
    ]
    p.write_text("\n".join(lines) + "\n")
    examples, rep = load_with_report(p, skip_invalid=True)
    assert len(examples) == 3 and rep.n_records == 6 and len(rep.rejected) == 3
    assert rep.n_valid + len(rep.rejected) == rep.n_records
    side = [json.loads(x) for x in Path(str(p) + ".rejected.jsonl").read_text().splitlines()]
    assert [s["line"] for s in side] == [2, 4, 5]
    assert (
        side[0]["raw"] == BAD_CASES["malformed_json"][0] and side[1]["record"]["messages"][0]["role"] == "bot"
    )
    assert [e.id for e in examples] == ["mixed-1", "mixed-3", "mixed-6"]


def test_eval_data_may_end_without_answer(tmp_path: Path) -> None:
    p = write_case(tmp_path, BAD_CASES["no_assistant_end"][0])
    assert validate(p, training=False).ok
    assert not validate(p).ok
