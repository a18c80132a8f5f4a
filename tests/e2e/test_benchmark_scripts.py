"""The GPU training benchmark runs end to end (its ``--small`` CPU form) and reports both trainers.

It needs a GPU for its real figures; this keeps the script from rotting where there is none. No timing is
asserted, only that every run happened and produced numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_train_gpu_script_small_on_cpu(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "train_gpu.py"), "--small", "--steps", "4", "--batch", "4"]
        + ["--pack-length", "256"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["benchmark"] == "train_gpu" and result["device"] == "cpu"
    assert set(result["runs"]) == {
        f"{t}-{m}{s}"
        for m in ("full", "lora")
        for t, s in (("tunelab", ""), ("trl", "-padded"), ("trl", "-packed"))
    }
    for run in result["runs"].values():
        assert run["target_tokens_per_s"] > 0 and run["final_loss"] > 0
    for method in ("full", "lora"):
        assert result["summary"][method]["ratio"] > 0
