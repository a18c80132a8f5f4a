"""The UI's reader of run directories: names, states, live progress, flipped items (on files written in the
layout `tunelab compare` writes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunelab.errors import InputError
from tunelab.ui._runs import approach, flipped, list_runs, run_path, run_progress, run_state

MODELS = ("base", "instruction", "finetune")


def _write_run(d: Path, lenient: bool = False) -> None:
    d.mkdir(parents=True)
    (d / "config.yaml").write_text("model: {name_or_path: tunelab-tiny}\ntrain: {max_steps: 20}\n"
                                   "compare: {target_task: fin_sentiment}\n")  # fmt: skip
    # right answers per model per item: in_domain items 0-3 (task t1), unseen items 0-1 (task t2)
    right = {
        "in_domain": {"base": [0, 0, 1, 0], "instruction": [0, 1, 1, 0], "finetune": [1, 1, 0, 0]},
        "unseen": {"base": [0, 0], "instruction": [1, 0], "finetune": [0, 0]},
    }
    slices = {}
    for key, per in right.items():
        for m in MODELS:
            p = d / "eval" / m / "eval" / key / "predictions.jsonl"
            p.parent.mkdir(parents=True)
            rows = []
            for i, ok in enumerate(per[m]):
                row = {"id": f"{key}-{i}", "task": "t1" if key == "in_domain" else "t2", "prompt": f"q{i}",
                       "prediction": f"{m} answer {i}", "gold": "g", "scores": {"label_accuracy": float(ok)}}  # fmt: skip
                if lenient:
                    row["scores_lenient"] = {"label_accuracy": 1.0}
                rows.append(json.dumps(row))
            p.write_text("\n".join(rows) + "\n")
        slices[key] = {"name": key, "metric": "accuracy", "n": len(per["base"]),
                       "models": {m: {"value": sum(per[m]) / len(per[m])} for m in MODELS}}  # fmt: skip
    (d / "compare.json").write_text(json.dumps({"slices": slices, "base_model": "tunelab-tiny"}))


def test_run_names_cannot_leave_the_runs_folder(tmp_path: Path) -> None:
    assert run_path(tmp_path, "demo-1.a_b") == (tmp_path / "demo-1.a_b").resolve()
    for bad in ["..", ".", ".git", "../x", "a/../../b", "/etc", "a\\b", "", "x" * 65, "a..b"]:
        with pytest.raises(InputError):
            run_path(tmp_path, bad)


def test_flipped_items_filter_by_slice_task_and_mode(tmp_path: Path) -> None:
    d = tmp_path / "r"
    _write_run(d)
    f = flipped(d, "finetune", "base")
    assert [it["id"] for it in f["a_only"]] == ["in_domain-0", "in_domain-1"]
    assert [it["id"] for it in f["b_only"]] == ["in_domain-2"] and f["n"] == 6
    it = f["a_only"][0]
    assert it["prompt"] == "q0" and it["gold"] == "g" and set(it["outputs"]) == set(MODELS)
    f = flipped(d, "instruction", "finetune", slice_key="unseen")
    assert [it["id"] for it in f["a_only"]] == ["unseen-0"] and f["b_only"] == [] and f["n"] == 2
    assert flipped(d, "instruction", "finetune", task="t1")["n"] == 4
    with pytest.raises(InputError, match="strict scores only"):
        flipped(d, "instruction", "finetune", mode="lenient")
    with pytest.raises(InputError):
        flipped(d, "base", "base")
    with pytest.raises(InputError):
        flipped(d, "base", "finetune", slice_key="nope")
    d2 = tmp_path / "r2"
    _write_run(d2, lenient=True)
    assert flipped(d2, "finetune", "base", mode="lenient")["a_only"] == []  # leniently everyone is right


def test_states_and_progress(tmp_path: Path) -> None:
    d = tmp_path / "r"
    _write_run(d)
    assert run_state(d)["state"] == "done"
    (d / "ui").mkdir()
    (d / "ui" / "job.json").write_text(json.dumps({"state": "cancelled", "pid": 1}))
    assert run_state(d)["state"] == "cancelled"
    (d / "ui" / "job.json").write_text(json.dumps({"state": "failed", "pid": 1, "returncode": 2}))
    (d / "ui" / "compare.log").write_text(
        "[instruction] training 20 steps\nerror: compare.target_task: bad\n"
    )
    assert run_state(d) == {"state": "failed", "model": None, "error": "compare.target_task: bad",
                            "launched_here": True}  # fmt: skip
    (d / "instruction").mkdir()
    lines = [{"step": 5, "loss": 3.0, "tokens": 100, "tokens_per_s": 50.0},
             {"step": 10, "loss": 2.0, "tokens": 300, "tokens_per_s": 100.0, "val_loss": 2.5}]  # fmt: skip
    (d / "instruction" / "metrics.jsonl").write_text(
        "".join(json.dumps(x) + "\n" for x in lines) + '{"step": 1'
    )
    p = run_progress(d)["runs"]["instruction"]
    assert p["step"] == 10 and p["max_steps"] == 20 and p["train"] == [[5, 3.0], [10, 2.0]]
    assert p["val"] == [[10, 2.5]] and p["s_per_step"] == pytest.approx((100 / 50 + 200 / 100) / 10)
    assert [r["name"] for r in list_runs(tmp_path)] == ["r"]


def test_approach_blocks_old_and_new_key() -> None:
    new = {"approaches": {"finetune": {"render": "plain"}}}
    old = {"methods": {"finetune": {"render": "plain"}}}
    assert approach(new, "finetune") == approach(old, "finetune") == {"render": "plain"}
    assert approach({}, "finetune") == {}
