"""`tunelab synth self-instruct / evol / filter` as a user runs them: killed and resumed, through a server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tunelab.cli import cli
from tunelab.synth import generate
from tunelab.synth._cache import read_jsonl
from tunelab.synth._llm import work_dir
from tunelab.synth._run import rejected_path

TUNELAB = str(Path(sys.executable).parent / "tunelab")


def _last_json(output: str) -> dict[str, Any]:
    return dict(json.loads(output.strip().splitlines()[-1]))


def _lines(path: Path) -> int:
    return len(read_jsonl(path))


@pytest.mark.slow
def test_self_instruct_killed_with_sigkill_then_rerun_repeats_no_request(tmp_path: Path) -> None:
    out = tmp_path / "si.jsonl"
    cmd = [
        TUNELAB, "synth", "self-instruct", "--model", "tunelab-tiny", "--device", "cpu", "--n", "30",
        "--max-batches", "4", "--batch-size", "2", "--max-new-tokens", "12", "--seed", "3", "--out", str(out),
    ]  # fmt: skip
    cache = work_dir(out) / "cache.jsonl"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while _lines(cache) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    at_kill = _lines(cache)
    journaled = _lines(work_dir(out) / "journal.jsonl")
    assert at_kill >= 3 and journaled < 4

    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    d = _last_json(r.stdout)
    assert d["resumed_batches"] == journaled and d["batches"] == 4
    keys = [row["key"] for row in read_jsonl(cache)]
    assert len(keys) == len(set(keys))  # every request was sent once, across both processes
    assert (
        d["cache"]["requests_sent"] == len(keys) - at_kill
    )  # the rerun sent only what the killed run had not
    kept = read_jsonl(out)
    rejected = read_jsonl(rejected_path(out))
    assert len(kept) == d["kept"] and len({k["id"] for k in kept}) == len(kept)
    assert len(kept) + len(rejected) == d["generated"]
    assert dict(Counter(x["reason"] for x in rejected)) == d["reasons"]
    assert "rejected" in r.stdout


def test_filter_cli_counts_reasons_and_writes_the_rejected_file(tmp_path: Path) -> None:
    bmi = generate("bmi", 4, seed=9)
    rows = [e.to_dict() for e in bmi]
    rows.append(json.loads(json.dumps(rows[0])))
    rows[1]["meta"]["gold"] = float(rows[1]["meta"]["gold"]) + 3
    rows.append({"id": "img", "messages": [{"role": "user", "content": "Draw an image of a balance sheet."}]})
    rows.append(
        {"id": "a1", "messages": [{"role": "user", "content": "Name three causes of anemia in adults."}]}
    )
    rows.append(
        {"id": "a2", "messages": [{"role": "user", "content": "Name three causes of anemia in children."}]}
    )
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in rows))
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(cli, ["synth", "filter", str(src), str(out), "--verify", "--max-words", "400"])
    assert res.exit_code == 0, res.output
    d = _last_json(res.output)
    assert d["reasons"] == {
        "blacklisted word": 1,
        "exact duplicate": 1,
        "ROUGE-L > 0.7 against a kept instruction": 1,
        "failed verification": 1,
    }
    assert "rejected 1: failed verification" in res.output
    assert [x["id"] for x in read_jsonl(out)] == [rows[0]["id"], rows[2]["id"], rows[3]["id"], "a1"]
    rejected = read_jsonl(rejected_path(out))
    assert sorted(x["reason"] for x in rejected) == sorted(d["reasons"])
    assert {x["record"]["id"] for x in rejected} == {rows[0]["id"], rows[1]["id"], "img", "a2"}

    bad = CliRunner().invoke(cli, ["synth", "filter", str(src), str(out), "--rouge-threshold", "2"])
    assert bad.exit_code == 2


def test_evol_and_judge_gate_through_a_server(tmp_path: Path) -> None:
    from tunelab.serve import start_background_server

    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"q{i}",
                    "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "ok"}],
                }
            )
            + "\n"
            for i, q in enumerate(["Explain what a dividend is.", "Compute 15% of 240 and show the steps."])
        )
    )
    out = tmp_path / "evol.jsonl"
    with start_background_server("tunelab-tiny", device="cpu") as srv:
        base = ["--base-url", srv.base_url, "--model-name", srv.model_name, "--max-new-tokens", "8"]
        res = CliRunner().invoke(
            cli, ["synth", "evol", "--in", str(src), "--out", str(out), "--rounds", "1", *base]
        )
        assert res.exit_code == 0, res.output
        d = _last_json(res.output)
        assert d["generated"] == 2 and d["kept"] + sum(d["reasons"].values()) == 2
        again = _last_json(
            CliRunner()
            .invoke(cli, ["synth", "evol", "--in", str(src), "--out", str(out), "--rounds", "1", *base])
            .output
        )
        assert again["resumed_batches"] == 1 and again["cache"]["requests_sent"] == 0

        judged = tmp_path / "judged.jsonl"
        res = CliRunner().invoke(
            cli,
            ["synth", "filter", str(src), str(judged), "--judge-url", srv.base_url, "--judge-min-score", "5",
             "--judge-max-new-tokens", "8"],
        )  # fmt: skip
        assert res.exit_code == 0, res.output
        j = _last_json(res.output)
        assert any("judge" in s for s in j["steps"])
        judge_rejects = sum(v for k, v in j["reasons"].items() if k.startswith("judge"))
        assert j["kept"] + judge_rejects == 2  # every item graded: kept on a rating >= 5 or rejected with why
        for row in read_jsonl(judged):
            assert row["meta"]["judge_rating"] >= 5
