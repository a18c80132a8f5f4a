"""``tunelab metrics``: JSON on stdout, exit 2 with FILE:LINE on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import sacrebleu
from click.testing import CliRunner

from tunelab.cli import cli
from tunelab.scoring import rouge

PREDS = ["the cat sat on the mat", "Paris is the capital of France.", "forty two"]
REFS = ["the cat is on the mat", "The capital of France is Paris.", "42"]


def _write(tmp_path: Path) -> tuple[Path, Path]:
    pred = tmp_path / "pred.txt"
    ref = tmp_path / "ref.jsonl"
    pred.write_text("\n".join(PREDS) + "\n", encoding="utf-8")
    lines = [
        json.dumps({"text": REFS[0]}),
        json.dumps({"references": [REFS[1], "Paris."]}),
        json.dumps({"text": REFS[2]}),
    ]
    ref.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return pred, ref


def test_metrics_default_set_as_json(tmp_path: Path) -> None:
    pred, ref = _write(tmp_path)
    result = CliRunner().invoke(cli, ["metrics", "--pred", str(pred), "--ref", str(ref)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert list(out["scores"]) == [
        "bleu",
        "chrf",
        "rouge1",
        "rouge2",
        "rougeL",
        "rougeLsum",
        "exact_match",
        "f1",
    ]
    streams = [[REFS[0], REFS[1], REFS[2]], [None, "Paris.", None]]
    assert out["scores"]["bleu"] == sacrebleu.corpus_bleu(PREDS, streams).score  # type: ignore[arg-type]
    assert out["scores"]["rougeL"] == rouge(PREDS, [REFS[0], [REFS[1], "Paris."], REFS[2]])["rougeL"]
    assert out["n_items"] == 3 and out["rules"]["bleu"].startswith("nrefs:var")


def test_metrics_named_classification(tmp_path: Path) -> None:
    (tmp_path / "p.txt").write_text("yes\nno\nmaybe\n")
    (tmp_path / "r.txt").write_text("yes\nno\nno\n")
    result = CliRunner().invoke(
        cli,
        [
            "metrics",
            "--pred",
            str(tmp_path / "p.txt"),
            "--ref",
            str(tmp_path / "r.txt"),
            "--metric",
            "accuracy,f1_macro",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["scores"]["accuracy"] == 2 / 3


def test_bad_inputs_exit_2_naming_file_and_line(tmp_path: Path) -> None:
    pred, ref = _write(tmp_path)
    runner = CliRunner()
    short = tmp_path / "short.txt"
    short.write_text("one\ntwo\n")
    r = runner.invoke(cli, ["metrics", "--pred", str(short), "--ref", str(ref)])
    assert r.exit_code == 2 and f"{short}:3:" in r.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"text": \n{"text": "c"}\n')
    r = runner.invoke(cli, ["metrics", "--pred", str(pred), "--ref", str(bad)])
    assert r.exit_code == 2 and f"{bad}:2:" in r.output and "bad JSON" in r.output
    nofield = tmp_path / "nofield.jsonl"
    nofield.write_text('{"text": "a"}\n{"txt": "b"}\n{"text": "c"}\n')
    r = runner.invoke(cli, ["metrics", "--pred", str(nofield), "--ref", str(ref)])
    assert r.exit_code == 2 and f"{nofield}:2: text:" in r.output
    r = runner.invoke(cli, ["metrics", "--pred", str(pred), "--ref", str(ref), "--metric", "bleu4"])
    assert r.exit_code == 2 and "unknown metric" in r.output
    r = runner.invoke(cli, ["metrics", "--pred", str(tmp_path / "missing.txt"), "--ref", str(ref)])
    assert r.exit_code == 2


def test_console_script_subprocess(tmp_path: Path) -> None:
    pred, ref = _write(tmp_path)
    exe = Path(sys.executable).parent / "tunelab"
    ok = subprocess.run(
        [str(exe), "metrics", "--pred", str(pred), "--ref", str(ref), "--metric", "bleu,exact_match"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert set(out["scores"]) == {"bleu", "exact_match"} and out["scores"]["exact_match"] == 0.0
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    fail = subprocess.run(
        [str(exe), "metrics", "--pred", str(bad), "--ref", str(ref)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert fail.returncode == 2 and f"{bad}:1:" in fail.stderr
