"""The fused LoRA layer computes peft's LoRA: the same outputs and gradients, fp32 exactly and under bf16
autocast to bf16 rounding, and falls back to peft's forward where it does not apply."""

from __future__ import annotations

import copy

import pytest
import torch

from tunelab.models import apply_lora, fuse_lora_layers, load_model, lora_linear

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _pair(dropout: float = 0.0, dora: bool = False) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    peft_model = apply_lora(load_model("tunelab-tiny", device="cpu"), 8, 16, dropout, TARGETS, use_dora=dora)
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:  # B starts at 0 in peft: give the adapter a value so its gradient paths matter
            p.data.normal_(0.0, 0.05)
    fused = copy.deepcopy(peft_model)
    return peft_model, fused


def _loss_and_grads(model: torch.nn.Module, ids: torch.Tensor, autocast: bool) -> tuple[torch.Tensor, dict]:
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        logits = model(input_ids=ids).logits.float()
    loss = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:])
    loss.backward()
    return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("autocast", [False, True])
def test_fused_lora_equals_peft(autocast: bool) -> None:
    peft_model, fused = _pair()
    assert fuse_lora_layers(fused) == 7 * fused.config.num_hidden_layers
    ids = torch.randint(0, 1000, (2, 33))
    ref_logits, ref = _loss_and_grads(peft_model, ids, autocast)
    got_logits, got = _loss_and_grads(fused, ids, autocast)
    assert set(ref) == set(got) and all("lora_" in n for n in got)  # only the adapter trains
    assert all(g.dtype == torch.float32 for g in got.values())
    if autocast:  # one bf16 rounding of the sum instead of two: the same to bf16 precision
        assert (ref_logits - got_logits).abs().max() <= 0.02 * ref_logits.abs().max()
        tol = 0.05
    else:
        torch.testing.assert_close(got_logits, ref_logits, rtol=1e-5, atol=1e-5)
        tol = 1e-4
    for name in ref:
        rel = (got[name] - ref[name]).norm() / ref[name].norm().clamp(min=1e-12)
        assert rel <= tol, (name, float(rel))


def test_lora_linear_with_bias_and_input_gradient() -> None:
    torch.manual_seed(1)
    x = torch.randn(3, 5, 12, requires_grad=True)
    w, bias = torch.randn(7, 12), torch.randn(7, requires_grad=True)
    a, b = torch.randn(4, 12, requires_grad=True), torch.randn(7, 4, requires_grad=True)
    y = lora_linear(x, w, bias, a, b, 0.5)
    ref = x @ w.t() + bias + 0.5 * (x @ a.t()) @ b.t()
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(y)
    got = torch.autograd.grad(y, (x, bias, a, b), g)
    want = torch.autograd.grad(ref, (x, bias, a, b), g)
    for u, v in zip(got, want):
        torch.testing.assert_close(u, v, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("dropout", "dora"), [(0.1, False), (0.0, True)])
def test_dropout_and_dora_keep_pefts_forward(dropout: float, dora: bool) -> None:
    peft_model, fused = _pair(dropout, dora)
    fuse_lora_layers(fused)
    ids = torch.randint(0, 1000, (1, 17))
    torch.manual_seed(3)
    ref, _ = _loss_and_grads(peft_model, ids, False)
    torch.manual_seed(3)  # the same dropout masks
    got, _ = _loss_and_grads(fused, ids, False)
    assert torch.equal(ref, got)


def test_disabled_adapter_and_saved_adapter_are_pefts(tmp_path) -> None:
    peft_model, fused = _pair()
    fuse_lora_layers(fused)
    ids = torch.randint(0, 1000, (1, 9))
    with torch.no_grad(), fused.disable_adapter(), peft_model.disable_adapter():
        assert torch.equal(fused(input_ids=ids).logits, peft_model(input_ids=ids).logits)
    fused.save_pretrained(tmp_path / "a")
    peft_model.save_pretrained(tmp_path / "b")
    from safetensors.torch import load_file

    sa, sb = (
        load_file(tmp_path / "a" / "adapter_model.safetensors"),
        load_file(tmp_path / "b" / "adapter_model.safetensors"),
    )
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
