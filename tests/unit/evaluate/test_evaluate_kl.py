"""KL(p_base || p_model) of next-token distributions on the real tiny model: exactly 0 for the base against
itself, positive for a changed model, and equal to a direct computation at the scored positions."""

from __future__ import annotations

import copy

import torch

from tunelab.evaluate import next_token_kl
from tunelab.generation import render_prompt
from tunelab.models import load_model, load_tokenizer


def test_kl_base_to_itself_is_zero_and_changed_model_is_positive() -> None:
    base, tok = load_model("tunelab-tiny"), load_tokenizer("tunelab-tiny")
    prompts = [render_prompt([{"role": "user", "content": q}], tok, "chat") for q in ("Describe tea.", "Hi")]
    conts = ["Tea is a drink made from leaves.", ""]
    same = next_token_kl(base, copy.deepcopy(base), tok, prompts, conts)
    assert same.kl_sums == [0.0, 0.0] and same.mean_kl == 0.0
    n_cont = len(tok(conts[0], add_special_tokens=False)["input_ids"])
    assert same.positions == [n_cont, 1]
    other = copy.deepcopy(base)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.02 * torch.randn_like(p, generator=torch.Generator().manual_seed(0)))
    res = next_token_kl(base, other, tok, prompts, conts, batch_size=1)
    assert all(k > 0 for k in res.kl_sums)
    # direct: positions len(prompt)-1 .. len(prompt)+len(cont)-2 of the first item
    p_ids = tok(prompts[0], add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p_ids + tok(conts[0], add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        lp_b = torch.log_softmax(base(ids).logits[0], -1)
        lp_m = torch.log_softmax(other(ids).logits[0], -1)
    span = slice(len(p_ids) - 1, len(p_ids) + n_cont - 1)
    direct = float(torch.nn.functional.kl_div(lp_m[span], lp_b[span], log_target=True, reduction="sum"))
    assert abs(res.kl_sums[0] - direct) < 1e-4 * max(1.0, direct)
