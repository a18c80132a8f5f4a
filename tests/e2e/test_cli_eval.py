"""``tunelab eval`` on the tiny model: files written; a bad suite exits 2 naming file, line and key."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tunelab.cli import cli


def test_eval_shipped_suite_writes_predictions_and_scores(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        cli,
        [
            "eval",
            "--model",
            "tunelab-tiny",
            "--suite",
            "fin_sentiment",
            "--limit",
            "8",
            "--out",
            str(tmp_path),
            "--device",
            "cpu",
            "--batch-size",
            "4",
        ],
    )
    assert r.exit_code == 0, r.output
    d = tmp_path / "eval" / "fin_sentiment"
    rows = [json.loads(x) for x in (d / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 8
    scores = json.loads((d / "scores.json").read_text())
    assert scores["n_items"] == 8
    assert {"label_accuracy", "accuracy", "f1_macro", "extracted_rate"} == set(scores["metrics"])
    assert scores["model"]["embedded_tiny_model"] is True
    assert "label_accuracy" in r.output  # the table


def test_eval_perplexity_suite(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        cli,
        [
            "eval",
            "--model",
            "tunelab-tiny",
            "--suite",
            "general_ppl",
            "--limit",
            "4",
            "--out",
            str(tmp_path),
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0, r.output
    scores = json.loads((tmp_path / "eval" / "general_ppl" / "scores.json").read_text())
    assert scores["metrics"]["perplexity"]["value"] > 1
    assert scores["perplexity"]["n_texts"] == 4


def test_bad_suite_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad_suite.yaml"
    bad.write_text(
        "name: bad\ndata:\n  - task: fin_sentiment\ndecoding:\n  temprature: 0.5\n", encoding="utf-8"
    )
    r = CliRunner().invoke(
        cli, ["eval", "--model", "tunelab-tiny", "--suite", str(bad), "--out", str(tmp_path)]
    )
    assert r.exit_code == 2
    assert f"{bad}:5: decoding.temprature" in r.output
    assert "temperature" in r.output  # the hint
    assert not (tmp_path / "eval").exists()
