"""Perplexity and bits-per-byte over a set of texts, with rolling windows for long texts.

Definitions (REFERENCE.md section 1):

- pooled perplexity = ``exp(Σ NLL / Σ predicted tokens)`` over the whole set (not a mean of per-text
  perplexities, which over-weights short texts);
- bits-per-byte = ``Σ NLL / Σ UTF-8 bytes / ln 2`` (comparable across tokenizers).

Token accounting: a text's ids are ``tokenizer(text, add_special_tokens=False)``; the model is given one
prefix token before them (BOS when the tokenizer has one, else EOS, as lm-evaluation-harness does for
rolling log-likelihoods), so **every** text token is predicted and ``n_tokens == len(ids)``.

Windows: a text longer than ``window`` tokens is scored in windows that start every ``stride`` tokens; each
window predicts only the tokens the previous windows did not (the Hugging Face "perplexity of fixed-length
models" recipe), so every token is predicted exactly once, with at least ``window - stride`` tokens of
context after the first window, and nothing is truncated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunelab.errors import InputError, TunelabError
from tunelab.models import packed_linears

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["PerplexityResult", "TextScore", "perplexity", "rolling_windows", "sum_logprobs", "pooled"]


@dataclass
class TextScore:
    """Negative log-likelihood of one text: ``nll`` in nats over ``n_tokens`` tokens and ``n_bytes`` bytes."""

    nll: float
    n_tokens: int
    n_bytes: int


@dataclass
class PerplexityResult:
    """Pooled perplexity of a set of texts.

    Attributes:
        perplexity: ``exp(nll / n_tokens)``.
        bits_per_byte: ``nll / n_bytes / ln 2``.
        nll: summed negative log-likelihood in nats.
        n_tokens: predicted tokens (every text token, see the module docstring).
        n_bytes: UTF-8 bytes of the texts.
        n_texts: texts scored.
        window: tokens per window (prefix included).
        stride: tokens between window starts.
        n_windows: forward passes' rows.
        per_text: one :class:`TextScore` per text, in order (for paired statistics).
    """

    perplexity: float
    bits_per_byte: float
    nll: float
    n_tokens: int
    n_bytes: int
    n_texts: int
    window: int
    stride: int
    n_windows: int
    per_text: list[TextScore] = field(default_factory=list)

    def to_dict(self, with_per_text: bool = False) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "per_text"}
        if with_per_text:
            d["per_text"] = [t.__dict__ for t in self.per_text]
        return d


def pooled(scores: Sequence[TextScore]) -> tuple[float, float]:
    """``(perplexity, bits_per_byte)`` pooled over ``scores``."""
    nll = math.fsum(s.nll for s in scores)
    n_tok = sum(s.n_tokens for s in scores)
    n_bytes = sum(s.n_bytes for s in scores)
    ppl = math.exp(nll / n_tok) if n_tok else float("nan")
    bpb = nll / n_bytes / math.log(2) if n_bytes else float("nan")
    return ppl, bpb


def rolling_windows(n_ids: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """Windows over a sequence of ``n_ids`` positions (position 0 is the prefix token, never predicted).

    Returns:
        ``(begin, end, n_targets)`` per window: the window is ``seq[begin:end]`` and its last
        ``n_targets`` positions are predicted. The targets of all windows are positions ``1..n_ids-1``,
        each exactly once.
    """
    if window < 2 or not 1 <= stride <= window - 1:
        raise InputError(
            f"need window >= 2 and 1 <= stride < window (got {window}, {stride})", field="stride"
        )
    out = []
    prev_end = 1  # position 0 (the prefix) is context only
    begin = 0
    while prev_end < n_ids:
        end = min(begin + window, n_ids)
        out.append((begin, end, end - prev_end))
        prev_end = end
        begin += stride
    return out


def sum_logprobs(
    model: PreTrainedModel, seqs: Sequence[Sequence[int]], n_targets: Sequence[int], batch_size: int = 8
) -> tuple[list[float], list[list[int]]]:
    """Sum of log-probabilities of the last ``n_targets[i]`` tokens of each sequence given the rest.

    Args:
        model: a causal LM.
        seqs: token id sequences (each at least ``n_targets + 1`` long).
        n_targets: how many trailing tokens of each sequence are scored.
        batch_size: sequences per forward pass (right padded).

    Returns:
        ``(logprob_sums, greedy_hits)``: the float64 sum per sequence, and per sequence whether each scored
        token was the model's argmax (1/0), used for "is greedy" checks.
    """
    import torch

    model.eval()
    sums: list[float] = [0.0] * len(seqs)
    hits: list[list[int]] = [[] for _ in seqs]
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        width = max(len(seqs[i]) for i in idx)
        ids = torch.zeros((len(idx), width), dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for r, i in enumerate(idx):  # right padding: (B, T); positions count from 0 in every row
            ids[r, : len(seqs[i])] = torch.tensor(list(seqs[i]), dtype=torch.long)
            mask[r, : len(seqs[i])] = 1
        with torch.inference_mode(), packed_linears(model):
            logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits
        for r, i in enumerate(idx):
            n, k = len(seqs[i]), n_targets[i]
            if not 1 <= k <= n - 1:
                raise TunelabError(f"cannot score {k} targets of a {n}-token sequence")
            pred = logits[r, n - k - 1 : n - 1].double().log_softmax(-1)  # (k, V): row j predicts token n-k+j
            tgt = ids[r, n - k : n].to(pred.device)
            sums[i] = float(pred.gather(-1, tgt[:, None]).sum())
            hits[i] = (pred.argmax(-1) == tgt).long().tolist()
    return sums, hits


def perplexity(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    window: int | None = None,
    stride: int | None = None,
    batch_size: int = 8,
) -> PerplexityResult:
    """Pooled perplexity and bits-per-byte of ``texts``.

    Args:
        model: a causal LM.
        tokenizer: its tokenizer.
        texts: non-empty texts.
        window: tokens per forward pass, prefix included; defaults to the model's context
            (``max_position_embeddings``).
        stride: tokens between window starts; defaults to ``window // 2``.
        batch_size: windows per forward pass.

    Returns:
        A :class:`PerplexityResult` (see the module docstring for the token accounting).

    Raises:
        InputError: no texts, an empty text, or a bad window/stride.
    """
    if not texts:
        raise InputError("no texts to score", field="data")
    ctx = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
    window = window or ctx
    if window > ctx:
        raise InputError(f"window {window} exceeds the model context {ctx}", field="window")
    stride = stride or max(1, window // 2)
    prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if prefix is None:
        raise TunelabError("the tokenizer has neither BOS nor EOS to start a text with")
    enc = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    seqs: list[list[int]] = []
    targets: list[int] = []
    owner: list[int] = []
    for t, ids in enumerate(enc):
        if not ids:
            raise InputError(f"text {t} is empty", field="data")
        full = [prefix, *ids]
        for begin, end, k in rolling_windows(len(full), window, stride):
            seqs.append(full[begin:end])
            targets.append(k)
            owner.append(t)
    sums, _ = sum_logprobs(model, seqs, targets, batch_size)
    nll_per_text = [0.0] * len(texts)
    for t, s in zip(owner, sums):
        nll_per_text[t] -= s
    per_text = [
        TextScore(nll=nll_per_text[t], n_tokens=len(enc[t]), n_bytes=len(texts[t].encode("utf-8")))
        for t in range(len(texts))
    ]
    ppl, bpb = pooled(per_text)
    return PerplexityResult(
        perplexity=ppl,
        bits_per_byte=bpb,
        nll=math.fsum(nll_per_text),
        n_tokens=sum(s.n_tokens for s in per_text),
        n_bytes=sum(s.n_bytes for s in per_text),
        n_texts=len(texts),
        window=window,
        stride=stride,
        n_windows=len(seqs),
        per_text=per_text,
    )
