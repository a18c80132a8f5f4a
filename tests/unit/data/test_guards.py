"""Hostile and broken data files: each problem is FILE:LINE: field, the valid records are kept and counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunelab.data import load_with_report, validate
from tunelab.data._guards import MAX_RECORD_BYTES, MAX_TURNS
from tunelab.errors import InputError

GOOD = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return path


def _problems(path: Path, **kw: object) -> list[str]:
    return [str(p) for p in validate(path, **kw).problems]  # type: ignore[arg-type]


def test_json_nested_10000_levels_is_one_located_problem_and_the_other_lines_are_kept(tmp_path: Path) -> None:
    deep = '{"messages": ' + "[" * 10000 + "]" * 10000 + "}"
    f = _write(tmp_path / "deep.jsonl", [json.dumps(GOOD), deep, json.dumps(GOOD)])
    rep = validate(f)
    assert (rep.n_records, rep.n_valid, len(rep.rejected)) == (3, 2, 1)
    assert [str(p) for p in rep.problems] == [
        f"{f}:2: json: nested more than 64 levels deep (arrays and objects); tunelab reads at most 64"
    ]
    kept, rep2 = load_with_report(f, skip_invalid=True)
    assert len(kept) == 2 and rep2.rejected_path is not None
    side = [json.loads(x) for x in Path(rep2.rejected_path).read_text().splitlines()]
    assert [r["line"] for r in side] == [2]


def test_nesting_that_json_can_parse_names_the_top_level_field(tmp_path: Path) -> None:
    rec = {**GOOD, "extra": json.loads("[" * 100 + "]" * 100)}
    f = _write(tmp_path / "d.jsonl", [json.dumps(rec)])
    assert _problems(f) == [
        f"{f}:1: extra: nested more than 64 levels deep (arrays and objects); tunelab reads at most 64"
    ]


def test_a_deep_array_in_a_json_file_and_in_a_csv_cell(tmp_path: Path) -> None:
    f = tmp_path / "deep.json"
    f.write_text("[" + json.dumps(GOOD) + ',\n{"messages": ' + "[" * 5000 + "]" * 5000 + "}]")
    rep = validate(f)
    assert rep.n_valid == 1 and str(rep.problems[0]).startswith(f"{f}:2: json: nested more than 64")
    c = tmp_path / "deep.csv"
    c.write_text('text,label,extra\ngood,pos,"' + "[" * 5000 + "]" * 5000 + '"\nfine,neg,[1]\n')
    kept, rep = load_with_report(c)  # a nested cell too deep to decode stays text: no crash
    assert rep.n_valid == 2
    assert kept[0].meta["extra"] == "[" * 5000 + "]" * 5000 and kept[1].meta["extra"] == [1]


def test_a_record_over_the_size_limit_is_skipped_without_reading_it_whole(tmp_path: Path) -> None:
    f = tmp_path / "big.jsonl"
    with f.open("w") as fh:
        fh.write(json.dumps(GOOD) + "\n")
        fh.write('{"messages": "' + "x" * (MAX_RECORD_BYTES + 10) + '"}\n')
        fh.write(json.dumps(GOOD) + "\n")
    rep = validate(f)
    assert (rep.n_records, rep.n_valid) == (3, 2)
    size = MAX_RECORD_BYTES + 10 + len('{"messages": ""}\n')
    assert [str(p) for p in rep.problems] == [
        f"{f}:2: record: record is {size:,} bytes, over the limit of {MAX_RECORD_BYTES:,} bytes"
    ]


def test_a_10000_turn_conversation_is_refused_before_parsing(tmp_path: Path) -> None:
    turns = [{"role": ("user", "assistant")[i % 2], "content": "x"} for i in range(10_000)]
    f = _write(tmp_path / "t.jsonl", [json.dumps({"messages": turns}), json.dumps(GOOD)])
    rep = validate(f)
    assert rep.n_valid == 1
    assert [str(p) for p in rep.problems] == [
        f"{f}:1: messages: 10,000 turns, over the limit of {MAX_TURNS:,} turns per conversation"
    ]


@pytest.mark.parametrize(
    ("roles", "problem"),
    [
        (
            ["assistant", "user", "assistant"],
            "messages[0].role: an assistant turn at the start (expected user)",
        ),
        (
            ["user", "user", "assistant"],
            "messages[1].role: a user turn after a user turn (expected assistant)",
        ),
        (
            ["user", "system", "assistant"],
            "messages[1].role: a system turn is allowed only as the first turn",
        ),
        (
            ["system", "user", "assistant", "assistant"],
            "messages[3].role: an assistant turn after an assistant turn (expected user or tool)",
        ),
    ],
)
def test_turn_order_is_validated(tmp_path: Path, roles: list[str], problem: str) -> None:
    rec = {"messages": [{"role": r, "content": "x"} for r in roles]}
    f = _write(tmp_path / "o.jsonl", [json.dumps(GOOD), json.dumps(rec)])
    rep = validate(f)
    assert rep.n_valid == 1 and [str(p) for p in rep.problems] == [f"{f}:2: {problem}"]


def test_sharegpt_turn_order_names_its_field(tmp_path: Path) -> None:
    rec = {"conversations": [{"from": "gpt", "value": "a"}, {"from": "human", "value": "q"}]}
    f = _write(tmp_path / "s.jsonl", [json.dumps(rec)])
    assert _problems(f, training=False) == [
        f"{f}:1: conversations[0].role: an assistant turn at the start (expected user)"
    ]


def test_an_empty_file_is_one_clear_error(tmp_path: Path) -> None:
    for name in ("empty.jsonl", "blank.jsonl", "empty.csv", "empty.json"):
        f = tmp_path / name
        f.write_text("" if name != "blank.jsonl" else "\n  \n")
        if name == "empty.json":
            f.write_text("[]")
        with pytest.raises(InputError) as e:
            validate(f)
        assert str(e.value) == f"{f}: no records: the file is empty"


@pytest.mark.parametrize(
    ("encoding", "name"),
    [
        ("utf-16-le", "UTF-16 LE"),
        ("utf-16-be", "UTF-16 BE"),
        ("utf-32-le", "UTF-32 LE"),
        ("utf-32-be", "UTF-32 BE"),
    ],
)
def test_utf16_and_utf32_files_name_their_byte_order_mark(tmp_path: Path, encoding: str, name: str) -> None:
    f = tmp_path / "x.jsonl"
    f.write_bytes("\ufeff".encode(encoding) + (json.dumps(GOOD) + "\n").encode(encoding))
    with pytest.raises(InputError) as e:
        validate(f)
    msg = str(e.value)
    assert msg.startswith(
        f"{f}:1: encoding: this data file is {name} (it starts with the {name} byte-order mark)"
    )
    assert "\n" not in msg and "iconv -f" in msg


def test_a_binary_file_is_one_line(tmp_path: Path) -> None:
    f = tmp_path / "x.jsonl"
    f.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(InputError) as e:
        validate(f)
    assert (
        str(e.value)
        == f"{f}:1: encoding: this data file is binary, not UTF-8 text (it starts with "
        + repr(bytes(range(8)))
        + ")"
    )


def test_stats_and_validate_agree_on_what_is_valid(tmp_path: Path) -> None:
    prompt_only = {"messages": [{"role": "user", "content": "q"}]}
    f = _write(tmp_path / "m.jsonl", [json.dumps(GOOD), json.dumps(prompt_only)])
    train_rep = validate(f)
    kept, rep = load_with_report(f, skip_invalid=True)  # what `data stats --skip-invalid` describes
    assert (len(kept), len(rep.rejected)) == (train_rep.n_valid, len(train_rep.rejected)) == (1, 1)
    eval_rep = validate(f, training=False)
    kept, rep = load_with_report(f, training=False)
    assert len(kept) == eval_rep.n_valid == 2


def test_a_long_key_list_is_cut_with_a_count(tmp_path: Path) -> None:
    f = _write(tmp_path / "k.jsonl", [json.dumps({f"k{i}": 1 for i in range(5000)})])
    with pytest.raises(InputError) as e:
        validate(f)
    msg = str(e.value)
    assert len(msg) < 500 and "... and 4,990 more" in msg
