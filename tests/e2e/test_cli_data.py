"""``tunelab data``: exit codes, located messages, counts, stats and conversion through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tunelab.cli import cli

GOOD = json.dumps(
    {"messages": [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "hello"}]}
)
CASES = {
    "malformed_json": (b'{"messages": [', "json"),
    "missing_field": (b'{"instruction": "x"}', "messages"),
    "empty_content": (
        b'{"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "x"}]}',
        "messages[0].content",
    ),
    "unknown_role": (
        b'{"messages": [{"role": "robot", "content": "a"}, {"role": "assistant", "content": "x"}]}',
        "messages[0].role",
    ),
    "not_ending_assistant": (b'{"messages": [{"role": "user", "content": "a"}]}', "messages"),
    "non_utf8": (
        b'{"messages": [{"role": "user", "content": "\xff"}, {"role": "assistant", "content": "x"}]}',
        "encoding",
    ),
    "wrong_type": (
        b'{"messages": [{"role": "user", "content": ["a"]}, {"role": "assistant", "content": "x"}]}',
        "messages[0].content",
    ),
}


def _file(tmp_path: Path, bad: bytes, line: int = 3) -> Path:
    p = tmp_path / "d.jsonl"
    lines = [GOOD.encode()] * 4
    lines.insert(line - 1, bad)
    p.write_bytes(b"\n".join(lines) + b"\n")
    return p


@pytest.mark.parametrize("case", list(CASES))
def test_validate_bad_input_exit_2_located(tmp_path: Path, case: str) -> None:
    bad, fld = CASES[case]
    p = _file(tmp_path, bad)
    r = CliRunner().invoke(cli, ["data", "validate", str(p), "--format", "messages"])
    assert r.exit_code == 2, r.output
    assert f"{p}:3: {fld}: " in r.stderr
    assert "5 records, 4 valid, 1 rejected" in r.stdout


def test_validate_subprocess(tmp_path: Path) -> None:
    p = _file(tmp_path, CASES["unknown_role"][0], line=2)
    exe = Path(sys.executable).parent / "tunelab"
    r = subprocess.run([str(exe), "data", "validate", str(p)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert f"{p}:2: messages[0].role: unknown role 'robot'" in r.stderr
    ok = subprocess.run(
        [str(exe), "data", "validate", str(_file(tmp_path, GOOD.encode()))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0 and "5 records, 5 valid, 0 rejected" in ok.stdout


def test_validate_skip_invalid_counts(tmp_path: Path) -> None:
    p = tmp_path / "mixed.jsonl"
    p.write_bytes(
        b"\n".join([GOOD.encode(), CASES["malformed_json"][0], GOOD.encode(), CASES["non_utf8"][0]]) + b"\n"
    )
    r = CliRunner().invoke(cli, ["data", "validate", str(p), "--skip-invalid"])
    assert r.exit_code == 0, r.output
    assert "4 records, 2 valid, 2 rejected" in r.stdout
    side = Path(str(p) + ".rejected.jsonl").read_text().splitlines()
    assert [json.loads(s)["line"] for s in side] == [2, 4]


def test_stats_json_and_table(tmp_path: Path) -> None:
    p = tmp_path / "cls.jsonl"
    rows = [{"text": "good film indeed", "label": "pos"}] * 2 + [{"text": "bad", "label": "neg"}]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = CliRunner().invoke(cli, ["data", "stats", str(p), "--json", "--max-length", "2"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["examples"] == 3 and s["exact_duplicates"] == 1 and s["format"] == "classification"
    assert s["labels"]["pos"]["count"] == 2 and s["length"]["unit"] == "words" and s["over_max_length"] == 2
    r = CliRunner().invoke(cli, ["data", "stats", str(p), "--model", "tunelab-tiny", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["length"]["unit"] == "tokens"
    r = CliRunner().invoke(cli, ["data", "stats", str(p)])
    assert r.exit_code == 0 and "labels" in r.stdout and "exact duplicates: 1" in r.stdout


def test_convert_and_lossy_refusal(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_text(json.dumps({"instruction": "say hi", "input": "", "output": "hi"}) + "\n")
    out = tmp_path / "b.parquet"
    r = CliRunner().invoke(cli, ["data", "convert", str(p), str(out), "--format", "sharegpt"])
    assert r.exit_code == 0 and "1 read, 1 written, 0 rejected" in r.stdout
    back = tmp_path / "c.jsonl"
    r = CliRunner().invoke(cli, ["data", "convert", str(out), str(back), "--format", "alpaca"])
    assert r.exit_code == 0 and json.loads(back.read_text()) == {
        "instruction": "say hi",
        "input": "",
        "output": "hi",
    }
    multi = tmp_path / "m.jsonl"
    multi.write_text(GOOD + "\n" + json.dumps({"messages": json.loads(GOOD)["messages"] * 2}) + "\n")
    r = CliRunner().invoke(
        cli, ["data", "convert", str(multi), str(tmp_path / "x.jsonl"), "--format", "prompt-completion"]
    )
    assert r.exit_code == 2 and f"{multi}:2: messages: cannot convert to prompt-completion" in r.stderr
    r = CliRunner().invoke(
        cli,
        [
            "data",
            "convert",
            str(multi),
            str(tmp_path / "x.jsonl"),
            "--format",
            "prompt-completion",
            "--skip-invalid",
        ],
    )
    assert r.exit_code == 0 and "2 read, 1 written, 1 rejected" in r.stdout
