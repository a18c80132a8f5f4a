"""``tunelab model export`` end to end on the tiny model: GGUF + Modelfile, an adapter merged first,
verification verdicts and exit codes, refusals that write nothing."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tunelab.cli import cli

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["TUNELAB_NO_PROGRESS"] = "1"


def _invoke(args: list[str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_export_tiny_f16_with_modelfile(tmp_path: Path) -> None:
    out = tmp_path / "tiny.gguf"
    r = _invoke(
        ["model", "export", "--model", "tunelab-tiny", "--quant", "f16", "--out", str(out), "--ollama"]
    )
    assert r.exit_code == 0, r.output
    assert out.is_file() and (tmp_path / "Modelfile").is_file()
    assert "verify PASS (f16): greedy tokens identical on 5/5 prompts" in r.output
    assert "FROM ./tiny.gguf" in (tmp_path / "Modelfile").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Modelfile", "tiny.gguf"]  # no temp files left


def _lora_run(tmp: Path) -> Path:
    """A 5-step LoRA run on the tiny model with tunelab's own training command."""
    r = random.Random(0)
    data = tmp / "data.jsonl"
    words = "apple banana cherry delta echo fox golf hotel".split()
    with data.open("w", encoding="utf-8") as f:
        for _ in range(40):
            ws = r.sample(words, 3)
            msgs = [
                {"role": "user", "content": "Repeat: " + " ".join(ws)},
                {"role": "assistant", "content": " ".join(ws)},
            ]
            f.write(json.dumps({"messages": msgs}) + "\n")
    cfg = {
        "run_name": "lora",
        "output_dir": str(tmp / "runs"),
        "data": {"sources": [{"path": str(data)}], "val_ratio": 0.1, "max_length": 64},
        "train": {
            "method": "lora",
            "max_steps": 5,
            "batch_size": 4,
            "lr": 0.01,
            "eval_every": 5,
            "log_every": 5,
        },
    }
    (tmp / "lora.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    res = _invoke(["train", str(tmp / "lora.yaml")])
    assert res.exit_code == 0, res.output
    return tmp / "runs" / "lora" / "final"


def test_export_after_lora_merges_the_adapter(tmp_path: Path) -> None:
    adapter = _lora_run(tmp_path)
    out = tmp_path / "tuned.gguf"
    args = ["model", "export", "--model", "tunelab-tiny", "--adapter", str(adapter), "--quant", "q8_0"]
    r = _invoke([*args, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "verify PASS (q8_0)" in r.output
    # the file holds the merged weights, not the base's: the base differs from it by more than Q8_0 noise
    from tunelab.models import load_model, load_tokenizer, verify_gguf

    base = load_model("tunelab-tiny", "float32", "cpu").eval()
    assert verify_gguf(base, load_tokenizer("tunelab-tiny"), out, "f16").max_abs_logit_diff > 0.1


def test_no_verify_and_failed_verification(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "a.gguf"
    r = _invoke(["model", "export", "--model", "tunelab-tiny", "--out", str(out), "--no-verify"])
    assert r.exit_code == 0 and "verification skipped" in r.output and out.is_file()
    from tunelab.models import _gguf_verify

    monkeypatch.setitem(_gguf_verify.TOLERANCES, "f16", (-1.0, True))  # no file can pass this threshold
    r = _invoke(["model", "export", "--model", "tunelab-tiny", "--out", str(tmp_path / "b.gguf")])
    assert r.exit_code == 1 and "verify FAIL" in r.output
    assert (tmp_path / "b.gguf").is_file()  # kept for inspection


def test_refusals_exit_2_and_write_nothing(tmp_path: Path) -> None:
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from tunelab.models import tiny_model_dir

    gpt2 = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(vocab_size=2048, n_embd=32, n_layer=1, n_head=2)).save_pretrained(gpt2)
    AutoTokenizer.from_pretrained(tiny_model_dir()).save_pretrained(gpt2)
    out = tmp_path / "out" / "x.gguf"
    r = _invoke(["model", "export", "--model", str(gpt2), "--out", str(out)])
    assert r.exit_code == 2 and "does not support architecture 'gpt2'" in r.output
    r = _invoke(["model", "export", "--model", "tunelab-tiny", "--quant", "q2_k", "--out", str(out)])
    assert r.exit_code == 2 and "q2_k" in r.output
    assert not (tmp_path / "out").exists()
