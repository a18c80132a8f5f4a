"""GGUF export of the tiny model (and small random Qwen2/Mistral models): round trip through transformers'
GGUF reader, metadata against the source tokenizer, refusals that leave nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tunelab.errors import InputError
from tunelab.models import load_model, load_tokenizer, verify_gguf, write_gguf
from tunelab.models._gguf import permute_qk
from tunelab.models._gguf_verify import TOLERANCES

os.environ.setdefault("OMP_NUM_THREADS", "1")
TEXTS = ["Hello world, 12345 apples!", "  two  spaces\nand a newline", "<|im_start|>user\nHi<|im_end|>"]


@pytest.fixture(scope="module")
def tiny() -> tuple:  # type: ignore[type-arg]
    return load_model("tunelab-tiny", "float32", "cpu").eval(), load_tokenizer("tunelab-tiny")


def _fields(path: Path) -> dict:  # type: ignore[type-arg]
    from gguf import GGUFReader

    r = GGUFReader(path)
    return {k: f.contents() for k, f in r.fields.items()} | {
        "_tensors": {t.name: t.tensor_type.name for t in r.tensors}
    }


def test_permutation_is_what_transformers_undoes() -> None:
    """transformers' GGUF reader inverts exactly this permutation (for query heads and for key/value heads)."""
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    undo = LlamaTensorProcessor()._reverse_permute_weights
    w = np.random.default_rng(0).standard_normal((6 * 8, 5)).astype(np.float32)
    for n_head in (6, 3):
        p = permute_qk(w, n_head)
        assert not np.array_equal(p, w)
        np.testing.assert_array_equal(undo(p, n_head, n_head), w)
    # within a head, row i of the first half is followed by row i of the second half
    np.testing.assert_array_equal(permute_qk(w, 6)[:4], w[[0, 4, 1, 5]])


@pytest.mark.parametrize("quant", ["f16", "q8_0"])
def test_tiny_round_trip(tiny: tuple, tmp_path: Path, quant: str) -> None:  # type: ignore[type-arg]
    model, tok = tiny
    out = tmp_path / f"tiny-{quant}.gguf"
    export = write_gguf(model, tok, out, quant)
    report = verify_gguf(model, tok, out, quant)
    print(quant, report.to_dict()["max_abs_logit_diff"], [c.max_abs_logit_diff for c in report.checks])
    assert report.passed, report.to_dict()
    assert report.same_tokens == len(report.checks) == 5
    assert all(len(c.source_tokens) > 0 for c in report.checks)
    assert report.max_abs_logit_diff <= TOLERANCES[quant][0]
    types = _fields(out)["_tensors"]
    assert "output.weight" not in types  # tied: llama.cpp reuses token_embd
    assert all(t == "F32" for n, t in types.items() if "norm" in n)
    big = "F16" if quant == "f16" else "Q8_0"
    assert types["blk.0.attn_q.weight"] == big and types["token_embd.weight"] == big
    assert export.tensor_types["F32"] == sum("norm" in n for n in types)


def test_export_is_deterministic(tiny: tuple, tmp_path: Path) -> None:  # type: ignore[type-arg]
    import hashlib

    model, tok = tiny
    a = write_gguf(model, tok, tmp_path / "a.gguf", "q4_0")
    b = write_gguf(model, tok, tmp_path / "b.gguf", "q4_0")
    assert a.sha256 == b.sha256 == hashlib.sha256((tmp_path / "a.gguf").read_bytes()).hexdigest()
    assert oct((tmp_path / "a.gguf").stat().st_mode & 0o777) != oct(
        0o600
    )  # a normal file's mode, not mkstemp's


def test_metadata_equals_source_tokenizer(tiny: tuple, tmp_path: Path) -> None:  # type: ignore[type-arg]
    from transformers import AutoTokenizer

    model, tok = tiny
    out = tmp_path / "tiny.gguf"
    write_gguf(model, tok, out, "f16")
    f = _fields(out)
    assert f["tokenizer.chat_template"] == tok.chat_template
    assert f["tokenizer.ggml.model"] == "gpt2" and f["tokenizer.ggml.pre"] == "gpt-2"
    assert f["tokenizer.ggml.eos_token_id"] == tok.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    assert f["tokenizer.ggml.padding_token_id"] == tok.pad_token_id != tok.eos_token_id
    assert f["tokenizer.ggml.eot_token_id"] == tok.convert_tokens_to_ids("<|im_end|>")
    assert "tokenizer.ggml.bos_token_id" not in f  # the tiny tokenizer has no BOS
    vocab = tok.get_vocab()
    assert f["tokenizer.ggml.tokens"] == sorted(vocab, key=vocab.__getitem__)
    types = f["tokenizer.ggml.token_type"]
    assert [i for i, t in enumerate(types) if t == 3] == sorted(tok.all_special_ids)
    # transformers' own GGUF tokenizer reader rebuilds the same tokenizer from that metadata
    back = AutoTokenizer.from_pretrained(str(tmp_path), gguf_file=out.name)
    assert back.chat_template == tok.chat_template
    assert (back.eos_token, back.pad_token) == (tok.eos_token, tok.pad_token)
    for text in TEXTS:
        assert (
            back(text, add_special_tokens=True)["input_ids"]
            == tok(text, add_special_tokens=True)["input_ids"]
        )


def test_wrong_permutation_fails_verification(
    tiny: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[type-arg]
    """Written without the Q/K permutation, the file loads but the round trip shows it."""
    from tunelab.models import _gguf

    model, tok = tiny
    monkeypatch.setitem(_gguf._ARCHES, "llama", ("llama", False))
    out = tmp_path / "bad.gguf"
    write_gguf(model, tok, out, "f16")
    report = verify_gguf(model, tok, out, "f16")
    assert not report.passed
    assert report.max_abs_logit_diff > 1.0


def _random(model_type: str, tok: object) -> torch.nn.Module:
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    cfg = AutoConfig.for_model(
        model_type,
        vocab_size=2048,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=False,
        eos_token_id=2,
        pad_token_id=0,
    )
    model = AutoModelForCausalLM.from_config(cfg).eval()
    with torch.no_grad():  # large enough weights that a mix-up of heads or biases shows in the logits
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.5)
    return model


@pytest.mark.parametrize("model_type", ["qwen2", "mistral"])
def test_qwen2_and_mistral_round_trip(tiny: tuple, tmp_path: Path, model_type: str) -> None:  # type: ignore[type-arg]
    _, tok = tiny
    model = _random(model_type, tok)
    out = tmp_path / f"{model_type}.gguf"
    export = write_gguf(model, tok, out, "f16", name=f"test-{model_type}")
    assert export.architecture == ("qwen2" if model_type == "qwen2" else "llama")
    types = _fields(out)["_tensors"]
    assert "output.weight" in types  # untied
    if model_type == "qwen2":
        assert types["blk.0.attn_q.bias"] == "F32"  # Qwen2's q/k/v biases
    report = verify_gguf(model, tok, out, "f16")
    assert report.passed, report.to_dict()


def test_unsupported_architecture_writes_nothing(tiny: tuple, tmp_path: Path) -> None:  # type: ignore[type-arg]
    from transformers import GPT2Config, GPT2LMHeadModel

    _, tok = tiny
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=2048, n_embd=32, n_layer=1, n_head=2))
    out = tmp_path / "x.gguf"
    out.write_bytes(b"previous")
    with pytest.raises(InputError, match="does not support architecture 'gpt2'"):
        write_gguf(gpt2, tok, out, "f16")
    assert out.read_bytes() == b"previous" and sorted(tmp_path.iterdir()) == [out]


def test_unsupported_quant_and_rope_scaling_refused(tiny: tuple, tmp_path: Path) -> None:  # type: ignore[type-arg]
    model, tok = tiny
    with pytest.raises(InputError, match="unknown quantization 'q2_k'"):
        write_gguf(model, tok, tmp_path / "a.gguf", "q2_k")
    scaled = _random("llama", tok)
    scaled.config.rope_parameters = {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}
    with pytest.raises(InputError, match="rope scaling 'linear'"):
        write_gguf(scaled, tok, tmp_path / "b.gguf", "f16")
    assert list(tmp_path.iterdir()) == []


def test_sentencepiece_tokenizer_refused(tiny: tuple, tmp_path: Path) -> None:  # type: ignore[type-arg]
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    model, _ = tiny
    spm = Tokenizer(models.BPE(vocab={"a": 0, "<0x00>": 1}, merges=[], byte_fallback=True))
    tok = PreTrainedTokenizerFast(tokenizer_object=spm, eos_token="a")
    with pytest.raises(InputError, match="SentencePiece-style"):
        write_gguf(model, tok, tmp_path / "c.gguf", "f16")
    assert list(tmp_path.iterdir()) == []
