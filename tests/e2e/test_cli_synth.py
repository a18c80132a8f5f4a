"""`tunelab synth` through click's CliRunner and one real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tunelab.cli import cli
from tunelab.data import Example
from tunelab.synth import list_tasks, verify


def test_tasks_json() -> None:
    res = CliRunner().invoke(cli, ["synth", "tasks", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["name"] for r in rows] == [t.name for t in list_tasks()]
    assert set(rows[0]) == {"name", "domain", "answer_type", "scorer"}


def test_tasks_table() -> None:
    res = CliRunner().invoke(cli, ["synth", "tasks"])
    assert res.exit_code == 0 and "cha2ds2_vasc" in res.output


def test_generate_writes_verified_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "pc.jsonl"
    res = CliRunner().invoke(
        cli,
        [
            "synth",
            "generate",
            "--task",
            "percent_change",
            "--n",
            "25",
            "--out",
            str(out),
            "--seed",
            "3",
            "--templates",
            "heldout",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "verified 25" in res.output and "rejected 0" in res.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 25
    for line in lines:
        ex = Example.from_dict(json.loads(line))
        assert ex.meta["template_set"] == "heldout" and verify(ex)


def test_unknown_task_exits_2_naming_the_closest(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli, ["synth", "generate", "--task", "fin_sentimnt", "--n", "2", "--out", str(tmp_path / "x.jsonl")]
    )
    assert res.exit_code == 2
    assert "fin_sentiment" in res.output


def test_llm_commands_need_their_options() -> None:
    for name in ("self-instruct", "evol", "filter"):
        res = CliRunner().invoke(cli, ["synth", name])
        assert res.exit_code == 2 and ("Missing" in res.output or "Usage" in res.output)
        assert CliRunner().invoke(cli, ["synth", name, "--help"]).exit_code == 0


def test_real_subprocess(tmp_path: Path) -> None:
    exe = Path(sys.prefix) / "bin" / "tunelab"
    if not exe.exists():
        exe = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "tunelab"
    out = tmp_path / "s.jsonl"
    proc = subprocess.run(
        [
            str(exe),
            "synth",
            "generate",
            "--task",
            "fin_sentiment",
            "--n",
            "5",
            "--out",
            str(out),
            "--templates",
            "finetune",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "verified 5" in proc.stdout
    again = subprocess.run(
        [
            str(exe),
            "synth",
            "generate",
            "--task",
            "fin_sentiment",
            "--n",
            "5",
            "--out",
            str(tmp_path / "t.jsonl"),
            "--templates",
            "finetune",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0
    assert out.read_bytes() == (tmp_path / "t.jsonl").read_bytes()  # deterministic across processes
