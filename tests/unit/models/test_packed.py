"""Linear layers over oneDNN-packed weights: the same products as ``F.linear`` up to rounding, the same
generated text, re-packed when a weight changes, never under autograd, restored when the last block ends."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import torch

from tunelab.generation import Decoding, encode_prompts, generate_ids, render_prompt
from tunelab.models import load_model, load_tokenizer, packed_linears, packing_available
from tunelab.models._lora import apply_lora
from tunelab.models._packed import _product
from tunelab.synth import general_text

pytestmark = pytest.mark.skipif(
    not packing_available(), reason="this PyTorch build has no oneDNN packed linear"
)


def _linears(model: Any) -> list[torch.nn.Linear]:
    return [m for m in model.modules() if type(m) is torch.nn.Linear]


def test_packed_layers_give_the_linear_products_and_are_restored() -> None:
    model = load_model("tunelab-tiny", device="cpu")
    layer = model.model.layers[0].mlp.gate_proj
    x = torch.randn(3, 5, layer.in_features)
    with torch.inference_mode():
        plain = layer(x)
        with packed_linears(model) as on:
            assert on
            assert all("forward" in m.__dict__ for m in _linears(model))
            packed = layer(x)
            assert torch.equal(
                packed, _product(x, torch.ops.mkldnn._reorder_linear_weight(layer.weight), None)
            )
        assert not any("forward" in m.__dict__ for m in _linears(model))
    torch.testing.assert_close(packed, plain, rtol=1e-5, atol=1e-5)


def test_a_changed_weight_is_packed_again() -> None:
    model = load_model("tunelab-tiny", device="cpu")
    layer = model.lm_head
    x = torch.randn(4, layer.in_features)
    with torch.inference_mode():
        with packed_linears(model):
            before = layer(x)
        with torch.no_grad():
            layer.weight.mul_(2.0)  # in place: same storage, new version
        with packed_linears(model):
            after = layer(x)
    torch.testing.assert_close(after, 2.0 * before, rtol=1e-5, atol=1e-5)


def test_autograd_and_autocast_take_the_layer_s_own_forward() -> None:
    model = load_model("tunelab-tiny", device="cpu")
    ids = torch.randint(0, 200, (2, 12))
    with packed_linears(model):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()  # the packed product has no backward: it must not have been used
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(input_ids=ids).logits
    assert model.lm_head.weight.grad is not None and model.lm_head.weight.grad.abs().sum() > 0
    assert logits.dtype == torch.bfloat16


def test_nested_blocks_in_threads_restore_the_layers_when_the_last_ends() -> None:
    model = load_model("tunelab-tiny", device="cpu")
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with packed_linears(model):
            entered.set()
            release.wait(30)

    t = threading.Thread(target=other)
    t.start()
    assert entered.wait(30)
    with packed_linears(model), packed_linears(model):
        pass
    assert all("forward" in m.__dict__ for m in _linears(model))  # the other thread is still inside
    release.set()
    t.join(30)
    assert not any("forward" in m.__dict__ for m in _linears(model))


def test_turned_off_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNELAB_PACKED_LINEAR", "0")
    model = load_model("tunelab-tiny", device="cpu")
    with packed_linears(model) as on:
        assert not on
        assert not any("forward" in m.__dict__ for m in _linears(model))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_generation_over_packed_weights_gives_the_same_tokens(
    dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load_model("tunelab-tiny", device="cpu", dtype=dtype)
    tok = load_tokenizer("tunelab-tiny")
    prompts = [
        render_prompt([{"role": "user", "content": t[:60]}], tok, "chat") for t in general_text(12, seed=3)
    ]
    ids = encode_prompts(tok, prompts, add_special_tokens=False)
    dec = Decoding(max_new_tokens=12)
    packed = generate_ids(model, tok, ids, dec)
    monkeypatch.setenv("TUNELAB_PACKED_LINEAR", "0")
    plain = generate_ids(model, tok, ids, dec)
    same = sum(a.token_ids == b.token_ids for a, b in zip(packed, plain))
    assert same >= (len(ids) if dtype == "float32" else len(ids) - 2)  # bf16 rounding may flip a near-tie


def test_a_lora_model_packs_its_base_and_adapter_layers() -> None:
    model = apply_lora(load_model("tunelab-tiny", device="cpu"), 4, 8, 0.0, ["q_proj", "v_proj", "down_proj"])
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)  # a trained adapter, not the zero start
    model.eval()
    ids = torch.randint(0, 200, (2, 16))
    with torch.inference_mode():
        plain = model(input_ids=ids).logits
        with packed_linears(model):
            layers = _linears(model)
            assert any("lora_A" in n for n, m in model.named_modules() if m in layers)
            assert all("forward" in m.__dict__ for m in layers)
            packed = model(input_ids=ids).logits
    torch.testing.assert_close(packed, plain, rtol=1e-4, atol=1e-4)
