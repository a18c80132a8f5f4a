"""Frozen LoRA base weights stored in bf16 once give the same bf16-autocast loss as re-casting each forward."""

from __future__ import annotations

import torch

from tunelab.models import load_model
from tunelab.models._lora import apply_lora, cast_frozen_linears


def test_cast_frozen_linears_keeps_the_autocast_result_and_the_embedding() -> None:
    torch.manual_seed(0)
    ids = torch.randint(0, 1000, (2, 24))
    outs, models = [], []
    for cast in (False, True):
        m = apply_lora(load_model("tunelab-tiny", device="cpu"), 4, 8, 0.0, ["q_proj", "v_proj", "down_proj"])
        n = cast_frozen_linears(m, torch.bfloat16) if cast else 0
        with torch.autocast("cpu", dtype=torch.bfloat16):
            outs.append(m(input_ids=ids).logits.float())
        models.append((m, n))
    m, n = models[1]
    assert n > 0
    emb = m.get_input_embeddings().weight
    assert emb.dtype == torch.float32  # the (tied) embedding keeps its precision
    frozen = [p for name, p in m.named_parameters() if "base_layer" in name and p.ndim == 2]
    assert frozen and all(p.dtype == torch.bfloat16 for p in frozen)
    assert all(p.dtype == torch.float32 for p in m.parameters() if p.requires_grad)
    assert torch.equal(outs[0], outs[1])  # autocast would have cast them to the same values
