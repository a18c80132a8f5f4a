"""The CLI under faults and hostile input: kill -9 mid-write, outputs onto inputs, broken files and folders.

After a SIGKILL the final path holds the previous complete file or nothing; the rerun finishes with the right
count and no duplicated ids. Every bad input exits 2 with one message naming file, line and field.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tunelab.cli import cli
from tunelab.synth import generate

TUNELAB = str(Path(sys.executable).parent / "tunelab")
GOOD = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def _run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.output


def _ids(path: Path) -> list[str]:
    return [json.loads(x)["id"] for x in path.read_text(encoding="utf-8").splitlines()]


def _kill_when(cmd: list[str], ready: Callable[[], bool]) -> None:
    """Start ``cmd``, SIGKILL it as soon as ``ready()`` holds (it must still be running then)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300  # a guard against a hang, not a timing assertion
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the command ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_synth_generate_killed_keeps_the_previous_file_and_the_rerun_resumes(tmp_path: Path) -> None:
    out = tmp_path / "bmi.jsonl"
    assert (
        subprocess.run(
            [TUNELAB, "synth", "generate", "--task", "bmi", "--n", "50", "--out", str(out)]
        ).returncode
        == 0
    )
    previous = out.read_bytes()
    cmd = [TUNELAB, "synth", "generate", "--task", "bmi", "--n", "20000", "--out", str(out)]
    partial = tmp_path / "bmi.jsonl.partial"
    _kill_when(cmd, lambda: _lines(partial) >= 3)  # a header and at least two chunks of 500
    assert out.read_bytes() == previous  # not a smaller data set that looks complete
    at_kill = _lines(partial)
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    resumed = int(r.stdout.split("resumed ", 1)[1].split()[0])
    assert resumed >= 500 * (at_kill - 2)  # the torn last chunk may be lost, no more
    ids = _ids(out)
    assert len(ids) == 20000 and len(set(ids)) == 20000
    expected = "".join(ex.to_json() + "\n" for ex in generate("bmi", 20000))
    assert out.read_text(encoding="utf-8") == expected  # resumed bytes = an uninterrupted run's
    assert not partial.exists()


@pytest.mark.slow
def test_data_convert_killed_mid_write_keeps_the_previous_file(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    rows = [e.to_dict() for e in generate("bmi", 3000)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows * 20), encoding="utf-8")  # 60,000 records
    dst = tmp_path / "out.jsonl"
    dst.write_text(json.dumps({"id": "previous", **GOOD}) + "\n")
    previous = dst.read_bytes()
    cmd = [TUNELAB, "data", "convert", str(src), str(dst), "--format", "messages"]
    _kill_when(cmd, lambda: any(p.stat().st_size > 0 for p in tmp_path.glob(".out.jsonl.*.tmp")))
    assert dst.read_bytes() == previous  # the write was under way in the temporary file, not here
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "60000 read, 60000 written, 0 rejected" in r.stdout
    assert len(_ids(dst)) == 60000
    assert len(list(tmp_path.glob(".out.jsonl.*.tmp"))) == 1  # the killed run's, hidden; the rerun left none


@pytest.mark.slow
def test_eval_killed_keeps_finished_batches_and_the_rerun_has_no_duplicates(tmp_path: Path) -> None:
    base = [TUNELAB, "eval", "--model", "tunelab-tiny", "--suite", "fin_sentiment", "--out", str(tmp_path)]
    base += ["--device", "cpu", "--batch-size", "4"]
    d = tmp_path / "eval" / "fin_sentiment"
    assert subprocess.run([*base, "--limit", "4"], capture_output=True).returncode == 0
    previous = (d / "predictions.jsonl").read_bytes(), (d / "scores.json").read_bytes()

    def partial_lines() -> int:
        return sum(_lines(p) for p in d.glob("predictions.partial-*.jsonl"))

    _kill_when([*base, "--limit", "40"], lambda: partial_lines() >= 8)  # two chunks of four generations
    assert ((d / "predictions.jsonl").read_bytes(), (d / "scores.json").read_bytes()) == previous
    at_kill = partial_lines()
    r = subprocess.run([*base, "--limit", "40"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ids = _ids(d / "predictions.jsonl")
    assert len(ids) == 40 and len(set(ids)) == 40
    scores = json.loads((d / "scores.json").read_text())
    assert scores["n_items"] == 40 and scores["resumed_items"] >= at_kill
    assert not list(d.glob("predictions.partial-*"))


def test_convert_onto_its_input_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "d.jsonl"
    src.write_text(json.dumps(GOOD) + "\n")
    before = src.read_bytes()
    code, out = _run("data", "convert", str(src), str(tmp_path / "." / "d.jsonl"), "--format", "sharegpt")
    assert code == 2
    assert f"{tmp_path / '.' / 'd.jsonl'}: DST: is the input SRC ({src})" in out
    assert src.read_bytes() == before


def test_merge_out_onto_base_and_a_foreign_adapter_exit_2(tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    from tunelab.models import load_model

    code, out = _run("model", "tiny", "--out", str(tmp_path / "base"))
    assert code == 0, out
    adapter = tmp_path / "adapter"
    get_peft_model(
        load_model(str(tmp_path / "base"), "float32", "cpu"), LoraConfig(r=2, target_modules=["q_proj"])
    ).save_pretrained(adapter)
    files = sorted(p.name for p in (tmp_path / "base").iterdir())
    code, out = _run(
        "model",
        "merge",
        "--base",
        str(tmp_path / "base"),
        "--adapter",
        str(adapter),
        "--out",
        str(tmp_path / "base"),
    )
    assert code == 2 and f"{tmp_path / 'base'}: --out: is the input --base" in out
    assert sorted(p.name for p in (tmp_path / "base").iterdir()) == files
    other = tmp_path / "other"
    cfg = LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4
    )
    LlamaForCausalLM(cfg).save_pretrained(other)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (other / name).write_bytes((tmp_path / "base" / name).read_bytes())
    code, out = _run(
        "model", "merge", "--base", str(other), "--adapter", str(adapter), "--out", str(tmp_path / "m")
    )
    assert code == 2, out
    line = out.strip().splitlines()[-1]
    assert line.startswith(f"error: {adapter}: --adapter: this adapter was not trained on the base {other}")
    assert "q_proj.lora_A.default.weight is [2, " in line and len(line) < 500
    assert not (tmp_path / "m").exists()


def test_model_info_on_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, out = _run("model", "info", str(tmp_path / "empty"))
    assert code == 2
    assert (
        out.strip()
        == f"error: {tmp_path / 'empty'}: not a model folder: the folder is empty (expected a save_pretrained folder)"
    )


def test_train_with_a_binary_config_and_a_hostile_data_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(64))
    code, out = _run("train", str(cfg))
    assert code == 2 and out.strip().startswith(f"error: {cfg}:1: encoding: this config is binary")
    data = tmp_path / "d.jsonl"
    turns = [{"role": ("user", "assistant")[i % 2], "content": "x"} for i in range(10_000)]
    data.write_text(json.dumps(GOOD) + "\n" + json.dumps({"messages": turns}) + "\n")
    cfg.write_text(f"output_dir: {tmp_path}\ndata:\n  sources:\n  - path: {data}\ntrain:\n  max_steps: 1\n")
    code, out = _run("train", str(cfg))
    assert code == 2
    assert f"{data}:2: messages: 10,000 turns, over the limit of 256 turns per conversation" in out


def test_data_commands_on_a_nested_bomb_keep_the_valid_lines(tmp_path: Path) -> None:
    f = tmp_path / "deep.jsonl"
    f.write_text(
        json.dumps(GOOD)
        + "\n"
        + '{"messages": '
        + "[" * 10000
        + "]" * 10000
        + "}\n"
        + json.dumps(GOOD)
        + "\n"
    )
    where = f"{f}:2: json: nested more than 64 levels deep"
    code, out = _run("data", "validate", str(f))
    assert code == 2 and where in out and "3 records, 2 valid, 1 rejected" in out and "Traceback" not in out
    code, out = _run("data", "validate", str(f), "--skip-invalid")
    assert code == 0 and f"rejected records with reasons written to {f}.rejected.jsonl" in out
    code, out = _run("data", "stats", str(f), "--skip-invalid", "--json")
    assert code == 0
    assert json.loads(out[out.index("{") :])["examples"] == 2
    code, out = _run("data", "stats", str(f))
    assert code == 2 and where in out
    code, out = _run(
        "data", "convert", str(f), str(tmp_path / "o.jsonl"), "--format", "sharegpt", "--skip-invalid"
    )
    assert code == 0 and "3 read, 2 written, 1 rejected" in out
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 2


def test_validate_an_empty_and_a_utf16_file(tmp_path: Path) -> None:
    e = tmp_path / "e.jsonl"
    e.write_text("")
    code, out = _run("data", "validate", str(e))
    assert (code, out.strip()) == (2, f"error: {e}: no records: the file is empty")
    u = tmp_path / "u.jsonl"
    u.write_bytes((json.dumps(GOOD) + "\n").encode("utf-16"))
    code, out = _run("data", "validate", str(u))
    assert code == 2 and len(out.strip().splitlines()) == 1
    assert out.startswith(
        f"error: {u}:1: encoding: this data file is UTF-16 LE (it starts with the UTF-16 LE byte-order mark)"
    )
