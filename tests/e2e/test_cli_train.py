"""``tunelab train`` end to end on the embedded tiny model (small data, few steps)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from tests.toolchain import needs_cxx

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["TUNELAB_NO_PROGRESS"] = "1"

WORDS = "apple banana cherry delta echo fox golf hotel india juliet kilo lima mike oscar papa".split()


def _write_data(path: Path, n: int = 160, seed: int = 0) -> Path:
    r = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for _ in range(n):
            ws = r.sample(WORDS, r.randint(1, 4))
            msgs = [
                {"role": "user", "content": "Repeat the words: " + " ".join(ws)},
                {"role": "assistant", "content": " ".join(ws)},
            ]
            f.write(json.dumps({"messages": msgs}) + "\n")
    return path


def _config(tmp: Path, name: str, **train: object) -> Path:
    data = _write_data(tmp / "data.jsonl")
    cfg = {
        "run_name": name,
        "output_dir": str(tmp / "runs"),
        "data": {"sources": [{"path": str(data)}], "val_ratio": 0.1, "max_length": 64},
        "train": {
            "max_steps": 30,
            "batch_size": 8,
            "lr": 0.003,
            "warmup_steps": 3,
            "eval_every": 10,
            "log_every": 5,
            **train,
        },
    }
    p = tmp / f"{name}.yaml"
    p.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return p


def _run(args: list[str]) -> None:
    from tunelab.cli import cli

    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output


def _summary(run: Path) -> dict:
    return json.loads((run / "train_summary.json").read_text())


def test_full_finetuning_lowers_validation_loss(tmp_path: Path) -> None:
    _run(["train", str(_config(tmp_path, "full"))])
    run = tmp_path / "runs" / "full"
    s = _summary(run)
    assert s["steps"] == 30 and s["method"] == "full"
    assert s["best_val_loss"] < s["initial_val_loss"] - 0.5
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [5, 10, 15, 20, 25, 30]
    assert all({"step", "epoch", "loss", "lr", "tokens", "tokens_per_s"} <= x.keys() for x in lines)
    assert sum("val_loss" in x for x in lines) == 3
    assert lines[-1]["tokens"] == s["target_tokens"] > 0
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(run / "final")
    AutoTokenizer.from_pretrained(run / "final")
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["max_steps"] == 30
    # the examples the run was given, split as it split them (what later stages read instead of regenerating)
    from tunelab.data import load

    source = load(tmp_path / "data.jsonl")
    train_ex = load(run / "data" / "train.jsonl", format="tunelab")
    val_ex = load(run / "data" / "val.jsonl", format="tunelab")

    def key(e: Any) -> str:
        return repr(e.messages)

    assert val_ex and not {key(e) for e in train_ex} & {key(e) for e in val_ex}
    assert {key(e) for e in train_ex + val_ex} == {key(e) for e in source}


def test_lora_adapter_loads_with_peft_and_merge_matches(tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunelab.models import tiny_model_dir

    _run(["train", str(_config(tmp_path, "lora", method="lora", lr=0.01)), "--lora.r=4"])
    run = tmp_path / "runs" / "lora"
    s = _summary(run)
    assert s["best_val_loss"] < s["initial_val_loss"] - 0.1
    assert s["trainable_params"] < 200_000
    final = run / "final"
    assert (final / "adapter_config.json").is_file() and (final / "adapter_model.safetensors").is_file()

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir())
    peft_model = PeftModel.from_pretrained(base, final).eval()
    tok = AutoTokenizer.from_pretrained(final)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Repeat the words: apple fox"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False).input_ids
    out = peft_model.generate(input_ids=ids, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > ids.shape[1]

    from tunelab.cli._merge_cmd import merge_cmd

    res = CliRunner().invoke(
        merge_cmd, ["--base", "tunelab-tiny", "--adapter", str(final), "--out", str(tmp_path / "m")]
    )
    assert res.exit_code == 0, res.output
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "m").eval()
    with torch.no_grad():
        a = peft_model(input_ids=ids).logits
        b = merged(input_ids=ids).logits
        plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir())(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-4)
    assert not torch.allclose(a, plain, atol=1e-3), "the adapter should have changed the model"


def test_every_label_masked_is_refused(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "masked")
    from tunelab.cli import cli

    res = CliRunner().invoke(cli, ["train", str(cfg), "--data.mask=last", "--data.max_length=8"])
    assert res.exit_code == 2
    assert "nothing to train on" in res.output


def test_nan_loss_stops_with_clear_error(tmp_path: Path) -> None:
    from tunelab.cli import cli

    cfg = _config(tmp_path, "nan", lr=1.0e8, max_grad_norm=0.0, warmup_steps=0, eval_every=0, max_steps=20)
    res = CliRunner().invoke(cli, ["train", str(cfg)])
    assert res.exit_code == 1, res.output
    assert "loss became" in res.output


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path: Path) -> None:
    import torch

    train = {
        "max_steps": 24,
        "save_every": 3,
        "keep_last": 2,
        "eval_every": 0,
        "log_every": 1,
        "batch_size": 4,
    }
    ref_cfg = _config(tmp_path, "ref", **train)
    cfg = _config(tmp_path, "killed", **train)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TUNELAB_NO_PROGRESS": "1"}
    tl = [str(Path(sys.executable).parent / "tunelab")]
    ckpts = tmp_path / "runs" / "killed" / "checkpoints"
    proc = subprocess.Popen(
        [*tl, "train", str(cfg)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while not (ckpts / "step-3" / "trainer_state.json").exists():
        assert proc.poll() is None and time.time() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "runs" / "killed" / "final").exists()
    subprocess.run([*tl, "train", str(cfg), "--resume"], env=env, check=True, capture_output=True)
    subprocess.run([*tl, "train", str(ref_cfg)], env=env, check=True, capture_output=True)
    s = _summary(tmp_path / "runs" / "killed")
    assert s["resumed_from"] and s["steps"] == 24
    a, b = _weights(tmp_path / "runs" / "ref" / "final"), _weights(tmp_path / "runs" / "killed" / "final")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=0), k
    steps = [
        json.loads(x)["step"]
        for x in (tmp_path / "runs" / "killed" / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == list(range(1, 25))
    assert len(list(ckpts.glob("step-*"))) <= 2


@pytest.mark.skipif(sys.platform != "linux", reason="gloo two-process run on linux")
def test_two_processes_match_one_process(tmp_path: Path) -> None:
    train = {"max_steps": 6, "eval_every": 0, "log_every": 1, "bf16": "off", "warmup_steps": 0}
    one = _config(tmp_path, "one", batch_size=4, **train)
    two = _config(tmp_path, "two", batch_size=2, **train)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TUNELAB_NO_PROGRESS": "1"}
    tl = str(Path(sys.executable).parent / "tunelab")
    torchrun = str(Path(sys.executable).parent / "torchrun")
    subprocess.run(
        [torchrun, "--nproc_per_node", "2", "--master_port", "29533", tl, "train", str(two)],
        env=env,
        check=True,
        capture_output=True,
    )
    _run(["train", str(one)])
    assert _summary(tmp_path / "runs" / "two")["world_size"] == 2
    assert _summary(tmp_path / "runs" / "one")["world_size"] == 1

    def losses(name: str) -> list[float]:
        rows = (tmp_path / "runs" / name / "metrics.jsonl").read_text().splitlines()
        return [json.loads(x)["loss"] for x in rows]

    l1, l2 = losses("one"), losses("two")
    assert len(l1) == len(l2) == 6
    assert max(abs(a - b) for a, b in zip(l1, l2)) < 1e-4
    assert l1[0] != l1[-1]


def test_early_stopping_keeps_the_best_weights(tmp_path: Path) -> None:
    import torch

    cfg = _config(
        tmp_path, "es", lr=0.05, eval_every=2, early_stopping_patience=1, max_steps=40, warmup_steps=0
    )
    _run(["train", str(cfg)])
    run = tmp_path / "runs" / "es"
    s = _summary(run)
    assert s["early_stop_step"] is not None and s["steps"] == s["early_stop_step"] < 40
    assert s["final_weights_step"] == s["best_step"] < s["steps"]
    best = _weights(run / "checkpoints" / f"step-{s['best_step']}" / "model")
    final = _weights(run / "final")
    assert all(torch.equal(best[k], final[k]) for k in best)
    vals = [json.loads(x).get("val_loss") for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert min(v for v in vals if v is not None) == pytest.approx(s["best_val_loss"])


def _losses(run: Path) -> list[float]:
    return [json.loads(x)["loss"] for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
@needs_cxx
def test_compiled_training_equals_eager(tmp_path: Path) -> None:
    """``train.compile=true`` compiles the decoder; the loss curve is the eager one's."""
    for name, comp in (("eager", False), ("compiled", True)):
        _run(["train", str(_config(tmp_path, name, max_steps=4, log_every=1, eval_every=0, compile=comp))])
    eager, compiled = _losses(tmp_path / "runs" / "eager"), _losses(tmp_path / "runs" / "compiled")
    assert len(eager) == len(compiled) == 4
    assert compiled == pytest.approx(eager, rel=1e-4)


def test_tensorboard_receives_the_logged_metrics(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = _config(tmp_path, "tb", max_steps=6, log_every=2, eval_every=3, report_to=["tensorboard"])
    _run(["train", str(cfg)])
    run = tmp_path / "runs" / "tb"
    events = sorted(run.rglob("events.out.tfevents.*"))
    assert events, sorted(p.relative_to(run) for p in run.rglob("*"))
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    logged = {e.step: e.value for e in acc.Scalars("loss")}
    want = {x["step"]: x["loss"] for x in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())}
    assert logged.keys() == want.keys() == {2, 3, 4, 6}
    assert [logged[s] for s in sorted(logged)] == pytest.approx([want[s] for s in sorted(want)], rel=1e-6)
    assert "val_loss" in acc.Tags()["scalars"]
