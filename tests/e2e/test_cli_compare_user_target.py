"""`tunelab compare` with a user JSONL file as the target, end to end on the tiny model: the file is split into
training and evaluation items, the fine-tuned model trains on it alone, the instruction mixture is the file plus
synthetic tasks plus an extra user file by weight, and every slice is graded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TUNELAB = str(Path(sys.executable).parent / "tunelab")


def _write(path: Path, n: int, word: str) -> None:
    rows = []
    for i in range(n):
        urgent = i % 3 == 0
        text = f"Ticket {i}: the {'server is down for all users' if urgent else 'printer needs paper soon'}"
        rows.append(
            {"messages": [{"role": "user", "content": f"{text}. {word}"},
                          {"role": "assistant", "content": "urgent" if urgent else "routine"}]}
        )  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_compare_with_user_jsonl_target(tmp_path: Path) -> None:
    target, extra = tmp_path / "tickets.jsonl", tmp_path / "extra.jsonl"
    _write(target, 60, "Priority?")
    _write(extra, 20, "Urgent or routine?")
    args = [
        TUNELAB, "compare", "demo-quick", f"--output_dir={tmp_path}", "--run_name=user",
        f"--compare.target_file={target}", "--compare.instruction_tasks=[fin_sentiment,bmi]",
        f"--compare.instruction_files=[{{path: {extra}, weight: 0.5}}]", "--compare.seeds=[0]",
        "--train.max_steps=6", "--train.eval_every=3", "--compare.n_eval=12", "--compare.n_general=4",
        "--compare.n_forgetting_texts=6", "--synth.n_per_task=20",
    ]  # fmt: skip
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    run = tmp_path / "user"
    data = json.loads((run / "compare.json").read_text())
    assert data["tasks"]["target"] == str(target)
    assert data["tasks"]["instruction_mixture"] == [str(target), "fin_sentiment", "bmi", str(extra)]
    # a user file has one phrasing: no held-out-phrasing slice; the rest are graded
    assert set(data["slices"]) == {
        "target_format", "target_seen", "heldout_tasks", "instruction_following", "forgetting_bpb", "forgetting_kl"
    }  # fmt: skip
    n_eval = data["slices"]["target_format"]["n"]
    assert n_eval == 12
    fine_src = data["approaches"]["finetune"]["seeds"]["0"]["data"]
    assert [Path(s["path"]).name for s in fine_src] == ["train.jsonl"]
    train_ids = {json.loads(x)["id"] for x in (run / "target" / "train.jsonl").read_text().splitlines()}
    eval_ids = {
        json.loads(x)["id"] for x in (run / "eval_sets" / "target_format.jsonl").read_text().splitlines()
    }
    assert len(train_ids) == 60 - n_eval and not train_ids & eval_ids
    for m in ("base", "instruction", "finetune"):
        assert 0.0 <= data["slices"]["target_format"]["metrics"]["lenient"]["models"][m]["value"] <= 1.0
    assert (run / "report.html").is_file() and "tickets.jsonl" in (run / "report.md").read_text()
