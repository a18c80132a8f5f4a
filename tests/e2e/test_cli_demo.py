"""`tunelab demo --quick` end to end on the tiny model, twice: every slice filled for all three models with
strict, lenient and format scores and per-seed values; same seed -> same numbers; the base model's KL to
itself is 0; resume reuses every stage; the report opens in headless Chromium and fits 1280 px."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.browser import check_page, chromium_driver

TUNELAB = str(Path(sys.executable).parent / "tunelab")
SLICES = {
    "target_format", "target_seen", "target_heldout", "heldout_tasks", "instruction_following",
    "forgetting_bpb", "forgetting_kl",
}  # fmt: skip
MODELS = ("base", "instruction", "finetune")


def _numbers(data: dict) -> dict:
    return {
        (k, metric, m): (round(r["value"], 12), tuple(round(v, 12) for v in r["per_seed"].values()))
        for k, s in data["slices"].items()
        for metric, ms in s["metrics"].items()
        for m, r in ms["models"].items()
    }


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = []
    env = {**os.environ, "TUNELAB_NO_PROGRESS": "1"}
    for i in range(2):
        d = tmp_path_factory.mktemp(f"demo{i}")
        r = subprocess.run(
            [TUNELAB, "demo", "--quick", "--out", str(d)], capture_output=True, text=True, env=env
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert "report.html" in r.stdout and "[stage " in r.stderr and "ETA" in r.stderr
        runs = sorted((d / "demo").glob("*/seed-*"))
        assert len(runs) == 4 and all((run / "final").is_dir() for run in runs)
        assert not any((run / "checkpoints").exists() for run in runs), "finished runs keep only final/"
        out.append(d / "demo")
    return out


def test_demo_fills_every_slice(demo_runs: list[Path]) -> None:
    data = json.loads((demo_runs[0] / "compare.json").read_text())
    assert set(data["slices"]) == SLICES and data["seeds"] == [0, 1]
    for key, s in data["slices"].items():
        assert s["n"] > 0, key
        expected = {"strict", "lenient", "format"} if s["scale"] == "fraction" else {s["metric"]}
        assert set(s["metrics"]) == expected, key
        for metric, ms in s["metrics"].items():
            for m in MODELS:
                r = ms["models"][m]
                assert math.isfinite(r["value"]) and r["ci"][0] <= r["value"] <= r["ci"][1], (key, metric, m)
                assert len(r["per_seed"]) == (0 if m == "base" else 2)
            for pair, p in ms["pairs"].items():
                assert p["ci"][0] <= p["diff"] <= p["ci"][1] and p["n_seeds"] == 2, (key, pair)
        if s["scale"] == "fraction":
            for m in MODELS:
                assert (
                    s["metrics"]["lenient"]["models"][m]["value"]
                    >= s["metrics"]["strict"]["models"][m]["value"]
                )
    kl = data["slices"]["forgetting_kl"]["models"]
    assert kl["base"]["value"] == 0.0 and kl["instruction"]["value"] > 0 and kl["finetune"]["value"] > 0
    for m in ("instruction", "finetune"):
        assert set(data["approaches"][m]["seeds"]) == {"0", "1"}
        for run in data["approaches"][m]["seeds"].values():
            assert run["cost"]["target_tokens"] > 0 and run["curve"]["val"]
        b = data["budget"]["per_method"][m]
        assert b["steps"] > 0 and b["rows"] > 0 and b["target_tokens"] > 0
    assert data["base_model_kind"] == "toy" and data["verdict"]
    checks = data["contamination"]["checks"]
    assert {"instruction", "finetune", "replay (seed 0)", "replay (seed 1)"} <= set(checks)
    assert all(checks[t]["forgetting_bpb"]["13-gram"] == 0 for t in checks)
    md = (demo_runs[0] / "report.md").read_text()
    assert "toy scale" in md and "general instruction following" in md and "Seeds: 2 (0, 1)" in md


def test_same_seed_same_numbers(demo_runs: list[Path]) -> None:
    a, b = (json.loads((r / "compare.json").read_text()) for r in demo_runs)
    assert _numbers(a) == _numbers(b)


def test_rerun_resumes_without_retraining(demo_runs: list[Path]) -> None:
    run = demo_runs[0]
    summary = run / "instruction" / "seed-0" / "train_summary.json"
    before = summary.stat().st_mtime
    r = subprocess.run([TUNELAB, "demo", "--quick", "--out", str(run.parent)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "already trained" in r.stderr and "already evaluated" in r.stderr
    assert summary.stat().st_mtime == before


def test_demo_report_in_chromium(demo_runs: list[Path], tmp_path: Path) -> None:
    html = demo_runs[0] / "report.html"
    driver = chromium_driver(str(tmp_path / "profile"))
    try:
        shot = tmp_path / "demo_report.png"
        page = check_page(driver, html.as_uri(), str(shot))
    finally:
        driver.quit()
    assert page["errors"] == []
    assert page["scroll_width"] <= page["client_width"]
    assert len(page["images"]) >= 2
    for alt, complete, nw, nh, w, h in page["images"]:
        assert complete and nw > 0 and nh > 0 and w > 0 and h > 0, alt
    assert shot.stat().st_size > 10_000
