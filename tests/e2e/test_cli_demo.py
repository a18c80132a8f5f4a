"""`tunelab demo` end to end (the quick preset), twice: every slice measured, same seed -> same numbers,
the report opens in headless Chromium without console errors and every plot renders."""

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
SLICES = {"in_domain", "unseen_instructions", "unseen_tasks", "forgetting"}


def _numbers(data: dict) -> dict:
    return {k: {m: round(r["value"], 12) for m, r in s["models"].items()} for k, s in data["slices"].items()}


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
        assert "report.html" in r.stdout
        out.append(d / "demo")
    return out


def test_demo_measures_every_slice(demo_runs: list[Path]) -> None:
    run = demo_runs[0]
    data = json.loads((run / "compare.json").read_text())
    assert set(data["slices"]) == SLICES
    for key, s in data["slices"].items():
        assert s["n"] > 0, key
        for m in ("base", "instruction", "finetune"):
            v = s["models"][m]["value"]
            assert isinstance(v, float) and math.isfinite(v), (key, m)
        for pair in ("instruction-finetune", "finetune-base", "instruction-base"):
            lo, hi = s["pairs"][pair]["ci"]
            assert lo <= s["pairs"][pair]["diff"] <= hi
    for m in ("instruction", "finetune"):
        cost = data["approaches"][m]["cost"]
        assert cost["target_tokens"] > 0 and cost["wall_s"] > 0 and cost["trainable_params"] > 0
        assert data["approaches"][m]["curve"]["val"], m
    assert data["tiny"] is True and data["verdict"]
    md = (run / "report.md").read_text()
    assert "toy scale" in md and "unseen tasks" in md and "forgetting" in md
    # evaluation items whose case was trained on are dropped and counted
    c = data["contamination"]["slices"]["in_domain"]
    assert c["kept"] == data["slices"]["in_domain"]["n"]


def test_same_seed_same_numbers(demo_runs: list[Path]) -> None:
    a, b = (json.loads((r / "compare.json").read_text()) for r in demo_runs)
    assert _numbers(a) == _numbers(b)


def test_rerun_resumes_without_retraining(demo_runs: list[Path]) -> None:
    run = demo_runs[0]
    before = (run / "instruction" / "train_summary.json").stat().st_mtime
    r = subprocess.run([TUNELAB, "demo", "--quick", "--out", str(run.parent)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "already trained" in r.stderr and "already evaluated" in r.stderr
    assert (run / "instruction" / "train_summary.json").stat().st_mtime == before


def test_demo_report_in_chromium(demo_runs: list[Path], tmp_path: Path) -> None:
    html = demo_runs[0] / "report.html"
    driver = chromium_driver(str(tmp_path / "profile"))
    try:
        shot = tmp_path / "demo_report.png"
        page = check_page(driver, html.as_uri(), str(shot))
    finally:
        driver.quit()
    assert page["errors"] == []
    assert len(page["images"]) >= 2
    for alt, complete, nw, nh, w, h in page["images"]:
        assert complete and nw > 0 and nh > 0 and w > 0 and h > 0, alt
    assert shot.stat().st_size > 10_000
