"""Multiple-choice scoring by log-likelihood (the lm-evaluation-harness ``acc`` / ``acc_norm`` rule).

For each option the summed log-probability of its continuation tokens given the prompt is computed in one
forward pass; the prediction is the option with the highest sum (``acc``), and, as a second reading, the
highest sum divided by the option's UTF-8 byte length (``acc_norm``), which removes the bias toward short
options. Tokenization follows lm-evaluation-harness: the continuation ids are the ids of
``prompt + option`` after the prompt's own ids, so a token that straddles the boundary is not split
differently from how the model would read the joined text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tunelab.errors import InputError
from tunelab.evaluate._ppl import sum_logprobs

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["ChoiceScores", "score_choices", "split_continuation"]


@dataclass
class ChoiceScores:
    """Log-likelihoods of the options of one item.

    Attributes:
        options: the option texts as scored.
        logprobs: summed log-probability (nats) of each option's tokens.
        n_tokens: continuation tokens per option.
        pred: index of the highest ``logprobs``.
        pred_norm: index of the highest ``logprobs / UTF-8 bytes``.
        is_greedy: per option, whether every one of its tokens was the model's argmax.
    """

    options: list[str]
    logprobs: list[float]
    n_tokens: list[int]
    pred: int
    pred_norm: int
    is_greedy: list[bool]


def split_continuation(
    tokenizer: PreTrainedTokenizerBase, context: str, continuation: str, add_special_tokens: bool
) -> tuple[list[int], list[int]]:
    """Context ids and continuation ids such that their concatenation encodes ``context + continuation``."""
    whole = list(tokenizer(context + continuation, add_special_tokens=add_special_tokens)["input_ids"])
    ctx = list(tokenizer(context, add_special_tokens=add_special_tokens)["input_ids"])
    if whole[: len(ctx)] == ctx and len(whole) > len(ctx):
        return ctx, whole[len(ctx) :]
    cont = list(tokenizer(continuation, add_special_tokens=False)["input_ids"])
    return ctx, cont


def score_choices(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    contexts: Sequence[str],
    options: Sequence[Sequence[str]],
    add_special_tokens: bool = False,
    batch_size: int = 16,
) -> list[ChoiceScores]:
    """Score every option of every item by log-likelihood.

    Args:
        model: a causal LM.
        tokenizer: its tokenizer.
        contexts: rendered prompts, one per item.
        options: the option continuations per item (e.g. ``[" positive", " negative", " neutral"]``).
        add_special_tokens: True for plain text prompts (adds BOS), False for chat-rendered ones.
        batch_size: sequences per forward pass.

    Returns:
        One :class:`ChoiceScores` per item.

    Raises:
        InputError: an item with fewer than two options, or an empty option.
    """
    ctx_limit = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
    seqs: list[list[int]] = []
    targets: list[int] = []
    for i, (ctx, opts) in enumerate(zip(contexts, options)):
        if len(opts) < 2:
            raise InputError(f"item {i} has {len(opts)} option(s); need at least 2", field="options")
        for o in opts:
            if not o:
                raise InputError(f"item {i} has an empty option", field="options")
            c_ids, o_ids = split_continuation(tokenizer, ctx, o, add_special_tokens)
            seq = (c_ids + o_ids)[-ctx_limit:]  # too long: drop the oldest context, keep the option whole
            seqs.append(seq)
            targets.append(len(o_ids))
    sums, hits = sum_logprobs(model, seqs, targets, batch_size)
    out = []
    k = 0
    for opts in options:
        lp = sums[k : k + len(opts)]
        n_tok = targets[k : k + len(opts)]
        greedy = [all(h) for h in hits[k : k + len(opts)]]
        norm = [v / len(o.encode("utf-8")) for v, o in zip(lp, opts)]
        out.append(
            ChoiceScores(
                options=list(opts),
                logprobs=lp,
                n_tokens=n_tok,
                pred=max(range(len(opts)), key=lambda j: lp[j]),
                pred_norm=max(range(len(opts)), key=lambda j: norm[j]),
                is_greedy=greedy,
            )
        )
        k += len(opts)
    return out
