from __future__ import annotations

import pytest
import torch
from tests.toolchain import needs_cxx
from torch import nn

from tunelab.train import CausalLMLoss, chunked_cross_entropy, collate

from .conftest import make_model, make_rows


@pytest.mark.parametrize("chunk", [3, 7, 4096])
def test_chunked_ce_matches_full_logits_loss_and_grads(chunk: int) -> None:
    torch.manual_seed(0)
    head = nn.Linear(16, 50, bias=False)
    h = torch.randn(2, 9, 16, requires_grad=True)
    t = torch.randint(0, 50, (2, 9))
    t[0, :4] = -100
    s, n = chunked_cross_entropy(h, t, head, chunk_size=chunk)
    (s / n).backward()
    g_h, g_w = h.grad.clone(), head.weight.grad.clone()
    h.grad, head.weight.grad = None, None
    ref = nn.functional.cross_entropy(head(h).reshape(-1, 50), t.reshape(-1), ignore_index=-100)
    ref.backward()
    assert int(n) == int((t != -100).sum())
    assert torch.allclose(s / n, ref, atol=1e-6)
    assert torch.allclose(g_h, h.grad, atol=1e-6)
    assert torch.allclose(g_w, head.weight.grad, atol=1e-6)


@pytest.mark.parametrize("chunk", [5, 4096])
def test_chunked_ce_under_bf16_autocast_gives_float32_grads_near_the_reference(chunk: int) -> None:
    """One chunk keeps the weight gradient's product in bf16 until backward; several sum in float32."""
    torch.manual_seed(0)
    head = nn.Linear(32, 200, bias=False)
    h = torch.randn(3, 8, 32, requires_grad=True)
    t = torch.randint(0, 200, (3, 8))
    t[1, :3] = -100
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s, n = chunked_cross_entropy(h, t, head, chunk_size=chunk)
    (s / n).backward()
    assert head.weight.grad.dtype == torch.float32 and h.grad.dtype == torch.float32
    g_h, g_w = h.grad.clone(), head.weight.grad.clone()
    h.grad, head.weight.grad = None, None
    ref = nn.functional.cross_entropy(head(h).reshape(-1, 200), t.reshape(-1), ignore_index=-100)
    ref.backward()
    assert abs(float((s / n).detach()) - float(ref.detach())) <= 0.01 * float(ref.detach())
    scale_w, scale_h = head.weight.grad.abs().max(), h.grad.abs().max()
    assert (g_w - head.weight.grad).abs().max() <= 0.02 * scale_w
    assert (g_h - h.grad).abs().max() <= 0.02 * scale_h


def test_non_linear_head_takes_checkpointed_path() -> None:
    torch.manual_seed(0)
    head = nn.Sequential(nn.Linear(8, 20))  # not a plain bias-free Linear
    h = torch.randn(10, 8, requires_grad=True)
    t = torch.randint(0, 20, (10,))
    s, n = chunked_cross_entropy(h, t, head, chunk_size=4)
    s.backward()
    g = h.grad.clone()
    h.grad = None
    nn.functional.cross_entropy(head(h), t, reduction="sum").backward()
    assert torch.allclose(g, h.grad, atol=1e-6)


def test_wrapper_equals_hf_loss_on_padded_rows() -> None:
    model = make_model()
    rows = make_rows(4)
    b = collate(rows, pad_id=0)
    s, n = CausalLMLoss(model)(b["input_ids"], b["targets"], b["position_ids"])
    # transformers' own loss: attention mask + labels, shifted inside the model
    width = b["input_ids"].shape[1]
    am = torch.zeros_like(b["input_ids"])
    labels = torch.full_like(b["input_ids"], -100)
    for i, r in enumerate(rows):
        am[i, : len(r["input_ids"])] = 1
        labels[i, : len(r["labels"])] = torch.tensor(r["labels"])
    assert width == max(len(r["input_ids"]) for r in rows)
    ref = model(input_ids=b["input_ids"], attention_mask=am, labels=labels).loss
    assert torch.allclose(s / n, ref, atol=1e-5)


def test_packed_rows_attend_only_within_each_example() -> None:
    """A packed row (position_ids reset, no attention mask) gives each example's own loss."""
    from tunelab.data import pack

    model = make_model()
    rows = make_rows(6, seed=3)
    packed = pack(rows, max_length=64).rows
    assert any(len(r["seq_lens"]) > 1 for r in packed)
    b = collate(packed, pad_id=0)
    with torch.no_grad():
        s_packed, n_packed = CausalLMLoss(model)(b["input_ids"], b["targets"], b["position_ids"])
        total, count = 0.0, 0
        for r in rows:  # one at a time: nothing else to attend to
            one = collate([r], pad_id=0)
            s, n = CausalLMLoss(model)(one["input_ids"], one["targets"], one["position_ids"])
            total += float(s)
            count += int(n)
    assert int(n_packed) == count
    assert abs(float(s_packed) - total) < 1e-3


def test_segment_attention_equals_block_diagonal_mask() -> None:
    from tunelab.data import pack
    from tunelab.train._attention import register_segment_attention

    model = make_model(seed=5)
    rows = make_rows(7, seed=4)
    b = collate(pack(rows, max_length=64).rows, pad_id=0)
    wrapper = CausalLMLoss(model)
    s_ref, _ = wrapper(b["input_ids"], b["targets"], b["position_ids"])
    s_ref.backward()
    g_ref = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad()
    model.set_attn_implementation(register_segment_attention())
    s, _ = wrapper(b["input_ids"], b["targets"], b["position_ids"])
    s.backward()
    assert torch.allclose(s, s_ref, atol=1e-4)
    for k, p in model.named_parameters():
        assert torch.allclose(p.grad, g_ref[k], atol=1e-5), k
    # generation-style calls (padding mask, cache) still work and match sdpa
    ids = b["input_ids"][:2, :10]
    am = torch.ones_like(ids)
    am[0, :3] = 0
    with torch.no_grad():
        a = model(input_ids=ids, attention_mask=am).logits
        model.set_attn_implementation("sdpa")
        r = model(input_ids=ids, attention_mask=am).logits
    assert torch.allclose(a, r, atol=1e-5)


@pytest.mark.slow
@needs_cxx
def test_segment_attention_stays_out_of_compiled_graphs() -> None:
    """Each packed step cuts its rows at other places. Traced by ``torch.compile``, the per-example split was
    guarded on the examples' count and lengths, so every step recompiled (SmolLM2-135M: 21 s a step instead of
    2); kept out of the graphs, a new cut runs the graphs already compiled."""
    from tunelab.train._attention import register_segment_attention

    model = make_model(seed=5)
    model.set_attn_implementation(register_segment_attention())
    model.model.compile()
    wrapper = CausalLMLoss(model)
    ids = torch.randint(3, 64, (2, 32), generator=torch.Generator().manual_seed(0))

    def positions(*cuts: list[int]) -> torch.Tensor:
        return torch.tensor([[i for n in row for i in range(n)] for row in cuts])

    cuts = [([10, 22], [32]), ([5, 15, 12], [16, 16]), ([32], [3, 3, 26])]
    eager = []
    for c in cuts:
        with torch.compiler.set_stance("force_eager"):
            eager.append(float(wrapper(ids, ids, positions(*c))[0].detach()))
    try:
        s, _ = wrapper(ids, ids, positions(*cuts[0]))
        s.backward()
        with torch._dynamo.config.patch(error_on_recompile=True):
            for c, ref in zip(cuts[1:], eager[1:]):
                s, _ = wrapper(ids, ids, positions(*c))
                s.backward()
                assert float(s.detach()) == pytest.approx(ref, rel=1e-4)
    finally:
        torch._dynamo.reset()  # no compiled code left for the tests after this one


@pytest.mark.parametrize(
    ("model_type", "field", "value"),
    [
        ("granite", "logits_scaling", 4.0),
        ("cohere", "logit_scale", 0.0625),
        ("gemma2", "final_logit_softcapping", 30.0),
    ],
)
def test_logit_postprocessing_families_are_refused(model_type: str, field: str, value: float) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM

    from tunelab.errors import TunelabError

    small = dict(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2
    )
    cfg = AutoConfig.for_model(model_type, **small, num_key_value_heads=2, head_dim=8, **{field: value})
    model = AutoModelForCausalLM.from_config(cfg)
    with pytest.raises(TunelabError, match=f"post-processes its logits \\({field}={value}\\)"):
        CausalLMLoss(model)
    setattr(model.config, field, None if field == "final_logit_softcapping" else 1.0)
    CausalLMLoss(model)  # neutral values train as plain logits


def test_attention_dtype_is_a_fixed_rule_not_a_timing() -> None:
    """fp32 attention under CPU autocast, whatever the load: a timed choice changed a real-model run's numbers."""
    from tunelab.train._attention import attention_dtype

    with torch.no_grad():
        assert attention_dtype("cpu", torch.bfloat16) is torch.float32
    assert attention_dtype("cuda", torch.bfloat16) is torch.bfloat16


def test_chunk_rows_keep_the_logits_within_budget() -> None:
    from tunelab.train._loss import LOGITS_CHUNK_BYTES, chunk_rows

    assert chunk_rows(49_152) == 682  # SmolLM2
    for v in (1_400, 49_152, 128_256):
        assert chunk_rows(v) * v * 4 <= max(LOGITS_CHUNK_BYTES, 64 * v * 4)
