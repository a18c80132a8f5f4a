"""Readers, format detection, and lossless round trips between every pair of shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tunelab.data import convert, format_names, iter_examples, load, read_records, write_records
from tunelab.errors import InputError

# One single-exchange record per shape: every shape can hold these, so A -> B -> A must give them back.
SINGLE: dict[str, list[dict[str, Any]]] = {
    "tunelab": [
        {
            "id": "t1",
            "messages": [{"role": "user", "content": "what is 2+2?"}, {"role": "assistant", "content": "4"}],
            "meta": {"task": "math", "split": "train"},
        }
    ],
    "messages": [
        {
            "id": "m1",
            "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
            "domain": "chat",
        }
    ],
    "sharegpt": [
        {
            "conversations": [{"from": "human", "value": "name a colour"}, {"from": "gpt", "value": "blue"}],
            "source": "web",
        }
    ],
    "alpaca": [
        {"id": "a1", "instruction": "Translate to French.", "input": "cat", "output": "chat", "task": "mt"},
        {"instruction": "Say hi.", "input": "", "output": "hi"},
    ],
    "prompt-completion": [{"prompt": "Headline: profits up\nSentiment:", "completion": "positive"}],
    "qa": [
        {"id": "q1", "question": "How many cats?", "answer": "3", "context": "There are 3 cats."},
        {"question": "What is 0.5 as a percent?", "answer": 50},
    ],
    "classification": [
        {"text": "great film", "label": "pos"},
        {"id": "c2", "text": "awful", "label": 0, "task": "sentiment"},
    ],
}
MULTI = [
    {
        "id": "mt1",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "bye"},
            {"role": "assistant", "content": "bye!"},
        ],
        "lang": "en",
    }
]
CHAT = ("tunelab", "messages", "sharegpt")


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    write_records(path, records)
    return path


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("src", list(SINGLE))
@pytest.mark.parametrize("mid", list(SINGLE))
def test_round_trip_every_pair(tmp_path: Path, src: str, mid: str) -> None:
    """Lossless: A -> B -> A returns the original records (same keys, values and types)."""
    a = _write(tmp_path / "a.jsonl", SINGLE[src])
    convert(a, tmp_path / "b.jsonl", mid)
    convert(tmp_path / "b.jsonl", tmp_path / "c.jsonl", src, in_format=mid)
    assert _read(tmp_path / "c.jsonl") == SINGLE[src]


@pytest.mark.parametrize("src", CHAT)
@pytest.mark.parametrize("mid", CHAT)
def test_round_trip_multi_turn_between_chat_shapes(tmp_path: Path, src: str, mid: str) -> None:
    recs = MULTI if src == "messages" else _read(_convert_list(tmp_path, MULTI, src))
    a = _write(tmp_path / "a.jsonl", recs)
    convert(a, tmp_path / "b.jsonl", mid, in_format=src)
    convert(tmp_path / "b.jsonl", tmp_path / "c.jsonl", src, in_format=mid)
    assert _read(tmp_path / "c.jsonl") == recs


def _convert_list(tmp_path: Path, recs: list[dict[str, Any]], fmt: str) -> Path:
    src = _write(tmp_path / "multi.jsonl", recs)
    convert(src, tmp_path / f"multi.{fmt}.jsonl", fmt, in_format="messages")
    return tmp_path / f"multi.{fmt}.jsonl"


@pytest.mark.parametrize("target", ["alpaca", "prompt-completion", "qa", "classification"])
def test_lossy_conversion_refused_or_rejected_never_silent(tmp_path: Path, target: str) -> None:
    src = _write(tmp_path / "m.jsonl", SINGLE["messages"] + MULTI)
    with pytest.raises(InputError) as ei:
        convert(src, tmp_path / "out.jsonl", target)
    assert ei.value.problems[0].line == 2 and ei.value.problems[0].field == "messages"
    assert f"cannot convert to {target}" in str(ei.value)
    assert not (tmp_path / "out.jsonl").exists()
    rep = convert(src, tmp_path / "out.jsonl", target, skip_invalid=True)
    assert (rep.read, rep.written, len(rep.rejected)) == (2, 1, 1)
    side = _read(Path(str(tmp_path / "out.jsonl") + ".rejected.jsonl"))
    assert side[0]["line"] == 2 and "cannot convert" in side[0]["reasons"][0]


@pytest.mark.parametrize("ext", ["json", "csv", "parquet"])
@pytest.mark.parametrize("fmt", ["messages", "tunelab", "sharegpt"])
def test_file_types_round_trip(tmp_path: Path, ext: str, fmt: str) -> None:
    recs = _read(_convert_list(tmp_path, MULTI, fmt)) if fmt != "messages" else MULTI
    a = _write(tmp_path / "a.jsonl", recs)
    convert(a, tmp_path / f"b.{ext}", fmt)
    rep = convert(tmp_path / f"b.{ext}", tmp_path / "c.jsonl", fmt)
    assert rep.in_format == fmt
    assert _read(tmp_path / "c.jsonl") == recs


def test_csv_numbers_warned(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.jsonl", SINGLE["classification"])
    rep = convert(a, tmp_path / "b.csv", "classification")
    assert any(w.startswith("label: CSV stores text") for w in rep.warnings)


def test_detection_and_unknown(tmp_path: Path) -> None:
    for fmt, recs in SINGLE.items():
        p = _write(tmp_path / f"{fmt}.jsonl", recs)
        ex = load(p)
        assert len(ex) == len(recs), fmt
        assert ex[-1].messages[-1]["role"] == "assistant"
    p = _write(tmp_path / "odd.jsonl", [{"foo": 1}])
    with pytest.raises(InputError, match="cannot detect the format") as ei:
        load(p)
    assert ei.value.problems[0].line == 1
    with pytest.raises(InputError, match="unknown format 'nope'"):
        load(p, format="nope")
    assert set(SINGLE) <= set(format_names())


def test_ids_assigned_and_meta_kept(tmp_path: Path) -> None:
    p = _write(tmp_path / "alp.jsonl", SINGLE["alpaca"])
    ex = load(p)
    assert [e.id for e in ex] == ["a1", "alp-2"]
    assert ex[0].messages[0]["content"] == "Translate to French.\n\ncat" and ex[0].meta == {
        "task": "mt",
        "input": "cat",
    }


def test_streaming_jsonl_is_lazy(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    p.write_text(json.dumps(SINGLE["messages"][0]) + "\n" + "{broken\n")
    it = iter_examples(p)
    assert next(it).id == "m1"  # yielded before the bad line is read
    with pytest.raises(InputError, match=r"s.jsonl:2: json: malformed JSON"):
        next(it)


def test_json_and_csv_line_numbers(tmp_path: Path) -> None:
    pj = tmp_path / "a.json"
    pj.write_text('[\n {"prompt": "a", "completion": "b"},\n {"prompt": "c",\n  "completion": 5}\n]\n')
    with pytest.raises(InputError) as ei:
        load(pj)
    assert str(ei.value.problems[0]) == f"{pj}:3: completion: expected a string, got integer"
    pc = tmp_path / "a.csv"
    pc.write_text('prompt,completion\n"multi\nline",x\nq,\n')
    with pytest.raises(InputError) as ei:
        load(pc)
    assert str(ei.value.problems[0]) == f"{pc}:4: completion: missing"


def test_hf_saved_dataset_folder(tmp_path: Path) -> None:
    import datasets

    datasets.Dataset.from_list(SINGLE["alpaca"]).save_to_disk(str(tmp_path / "ds"))
    recs = list(read_records(tmp_path / "ds"))
    assert [r.line for r in recs] == [1, 2]
    ex = load(tmp_path / "ds")
    assert ex[0].messages[-1]["content"] == "chat" and ex[0].id == "a1"


def test_missing_path() -> None:
    with pytest.raises(InputError, match="no such file"):
        load("./does/not/exist.jsonl")


def test_public_api_pinned_and_light() -> None:
    import subprocess
    import sys

    import tunelab.data as d

    needed = {
        "load",
        "iter_examples",
        "encode",
        "encode_with_report",
        "pack",
        "split",
        "dedup_exact",
        "dedup_near",
        "check_contamination",
        "convert",
        "validate",
        "Example",
        "register_format",
        "pad_free_batches",
    }
    assert needed <= set(d.__all__) and all(hasattr(d, n) for n in d.__all__)
    code = "import sys, tunelab.data; print(any(m in sys.modules for m in ('torch', 'transformers')))"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    )
