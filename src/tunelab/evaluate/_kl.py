"""Forgetting as drift from the base: the mean over positions of KL(p_base || p_tuned) of the next-token
distributions, on general chat prompts teacher-forced with the base model's own responses (so the positions are
the assistant turn the base model would write). The base model against itself gives exactly 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tunelab.models import packed_linears

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["KLResult", "next_token_kl"]


@dataclass
class KLResult:
    """Per item: the summed KL over its positions and the number of positions; pooled mean = sum / positions.

    Attributes:
        kl_sums: per item, sum over its scored positions of KL(p_base || p_model) in nats.
        positions: per item, the number of scored positions.
    """

    kl_sums: list[float]
    positions: list[int]

    @property
    def mean_kl(self) -> float:
        """Mean KL per position, pooled over all items (nats)."""
        return math.fsum(self.kl_sums) / max(1, sum(self.positions))


def next_token_kl(
    base: PreTrainedModel,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    continuations: Sequence[str],
    batch_size: int = 8,
) -> KLResult:
    """KL(p_base || p_model) at every position that predicts a continuation token (and, for an empty
    continuation, the first response token).

    Args:
        base: the reference model (the untuned base).
        model: the tuned model (same tokenizer).
        tokenizer: the shared tokenizer.
        prompts: rendered prompts (chat template applied, generation prompt added).
        continuations: per prompt, the text that follows (the base model's greedy response).
        batch_size: items per forward pass.

    Returns:
        The :class:`KLResult`.
    """
    import torch

    if len(prompts) != len(continuations):
        raise ValueError("one continuation per prompt")
    seqs, spans = [], []
    for p, c in zip(prompts, continuations):
        p_ids = tokenizer(p, add_special_tokens=False)["input_ids"]
        c_ids = tokenizer(c, add_special_tokens=False)["input_ids"] if c else []
        seqs.append(p_ids + c_ids)
        # logits at position t predict token t + 1: positions len(p)-1 .. len(p)+len(c)-2
        spans.append((len(p_ids) - 1, len(p_ids) + max(len(c_ids), 1) - 1))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    sums: list[float] = []
    device = next(model.parameters()).device
    with torch.no_grad(), packed_linears(base), packed_linears(model):
        for i in range(0, len(seqs), batch_size):
            chunk = seqs[i : i + batch_size]
            width = max(len(s) for s in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, s in enumerate(chunk):
                ids[r, : len(s)] = torch.tensor(s)
                mask[r, : len(s)] = 1
            ids, mask = ids.to(device), mask.to(device)
            lp_b = torch.log_softmax(base(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
            lp_m = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
            kl = (lp_b.exp() * (lp_b - lp_m)).sum(-1)  # (B, T)
            for r in range(len(chunk)):
                a, b = spans[i + r]
                sums.append(float(kl[r, a:b].sum()))
    return KLResult(sums, [b - a for a, b in spans])
