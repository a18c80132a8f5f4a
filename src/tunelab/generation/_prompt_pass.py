"""The prompt pass of a generation batch: shared tokens run once, the rest in groups of similar lengths.

Prompts of an evaluation share tokens at two depths, and each shared run is computed once:

1. the *prefix* every prompt of the batch starts with (a chat template's default system prompt: 24 of
   SmolLM2's ~100-token eval prompts) runs as one row, and its KV cache is shared by every row;
2. *stems*: prompts that go on alike after the prefix (the same phrasing of a task, the same few-shot
   preamble) are clustered (sorted, neighbours sharing at least :data:`MIN_SHARED_STEM` tokens), and each
   cluster's common run is computed once, in one pass for all clusters on the prefix's cache.

Each row's own tokens then run in groups of similar lengths (:func:`length_groups`), left-padded, on the
KV cache of its prefix and stem. Every row's layout is prefix, padding, stem, padding, own tokens, with the
padding masked out and position ids counted from the mask, so each row attends to exactly the tokens of
its prompt, as it would alone. torch and transformers load inside the functions.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunelab.generation._kvcache import Running, cache_of, joinable, prefill

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

__all__ = [
    "MIN_LENGTH_FRACTION",
    "PAD_SLACK",
    "MIN_SHARED_PREFIX",
    "MIN_SHARED_STEM",
    "common_prefix",
    "length_groups",
    "prompt_pass",
    "shared_stems",
]

#: a prompt pass takes prompts down to this fraction of its longest one's length (at most 10% padding)...
MIN_LENGTH_FRACTION = 0.9
#: ...or down to this many tokens shorter: a pass of its own costs more than a few padded tokens per row
#: (each pass reads every weight once: on SmolLM2-135M on CPU about as long as 40 tokens of compute)
PAD_SLACK = 8
#: a common prefix of the batch's prompts is run once and shared when it has at least this many tokens
MIN_SHARED_PREFIX = 4
#: prompts sharing at least this many tokens after the prefix share them as a stem (0 turns stems off)
MIN_SHARED_STEM = 8


def length_groups(lengths: Sequence[int]) -> list[list[int]]:
    """Split positions of ``lengths`` (sorted longest first) into runs no shorter than
    :data:`MIN_LENGTH_FRACTION` of each run's first, or than :data:`PAD_SLACK` tokens less: the prompt pass
    of a very mixed batch spends its compute on padding, and one of a few rows on reading the weights."""
    groups: list[list[int]] = []
    for i, n in enumerate(lengths):
        width = lengths[groups[-1][0]] if groups else 0
        if not groups or (n < MIN_LENGTH_FRACTION * width and width - n > PAD_SLACK):
            groups.append([])
        groups[-1].append(i)
    return groups


def _shared(a: Sequence[int], b: Sequence[int], limit: int) -> int:
    n = min(limit, len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def common_prefix(prompts: list[list[int]]) -> int:
    """Length of the longest common prefix, leaving every prompt at least one token of its own."""
    first, n = prompts[0], min(len(p) for p in prompts) - 1
    for p in prompts[1:]:
        n = _shared(p, first, n)
    return max(n, 0)


@dataclass(frozen=True)
class Stem:
    """Rows (batch positions) whose prompts share ``length`` tokens after the batch prefix."""

    rows: tuple[int, ...]
    length: int


def shared_stems(tails: Sequence[Sequence[int]], min_shared: int) -> list[Stem]:
    """Clusters of prompt tails (the prompts after the batch prefix) that start alike.

    Tails are sorted; neighbours sharing at least ``min_shared`` tokens join one cluster, whose stem is
    the run all its members share (the smallest shared run of neighbours, as sorting makes it); every row
    keeps at least one token of its own. Rows in no cluster are left out. A cluster is kept only when it
    saves work: two or more rows.
    """
    if min_shared <= 0 or len(tails) < 2:
        return []
    order = sorted(range(len(tails)), key=lambda i: list(tails[i]))
    stems: list[Stem] = []
    run, length = [order[0]], 0
    for a, b in zip(order, order[1:]):
        n = _shared(tails[a], tails[b], min(len(tails[a]), len(tails[b])) - 1)
        if n >= min_shared:
            length = n if len(run) == 1 else min(length, n)
            run.append(b)
            continue
        if len(run) > 1:
            stems.append(Stem(tuple(run), length))
        run, length = [b], 0
    if len(run) > 1:
        stems.append(Stem(tuple(run), length))
    return stems


def _one_row_cache(model: PreTrainedModel, ids: list[int], fw: tuple[str, dict[str, Any]]) -> Any:
    """The KV cache of one row of ``ids`` (None where the model's cache cannot be shared)."""
    import torch

    x = torch.tensor([ids], dtype=torch.long, device=model.device)
    out = model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=True, **fw[1])
    cache = cache_of(out)
    return cache if joinable(cache) else None


def _take_rows(cache: Any, index: torch.Tensor) -> Any:
    """A copy of ``cache`` holding its rows ``index`` (repeats allowed; the source stays reusable)."""
    out = copy.copy(cache)
    out.layers = []
    for layer in cache.layers:
        new = copy.copy(layer)
        new.keys, new.values = layer.keys.index_select(0, index), layer.values.index_select(0, index)
        out.layers.append(new)
    return out


def prompt_pass(
    model: PreTrainedModel,
    batch: list[list[int]],
    pad_id: int,
    fw: tuple[str, dict[str, Any]],
    min_shared_prefix: int | None = None,
    min_shared_stem: int | None = None,
) -> list[Running]:
    """Run the prompts of ``batch`` (see the module doc); one :class:`Running` per group of similar
    lengths, ``rows`` holding batch positions. ``fw`` is :func:`forward_kwargs`; the sharing thresholds
    default to :data:`MIN_SHARED_PREFIX` and :data:`MIN_SHARED_STEM`."""
    import torch

    if min_shared_prefix is None:
        min_shared_prefix = MIN_SHARED_PREFIX
    if min_shared_stem is None:
        min_shared_stem = MIN_SHARED_STEM
    n_prefix = common_prefix(batch) if len(batch) > 1 else 0
    prefix = _one_row_cache(model, batch[0][:n_prefix], fw) if n_prefix >= min_shared_prefix else None
    cut = n_prefix if prefix is not None else 0
    stems = shared_stems([b[cut:] for b in batch], min_shared_stem) if prefix is not None else []
    # the stems' pass, one row per cluster, on the prefix; rows in no cluster use the prefix alone
    stem_of = [-1] * len(batch)
    stem_len = [0] * len(batch)
    base: Running | None = None
    if stems:
        for s, stem in enumerate(stems):
            for r in stem.rows:
                stem_of[r], stem_len[r] = s, stem.length
        ones = torch.ones((1, n_prefix), dtype=torch.long, device=model.device)
        base = prefill(
            model,
            [batch[stem.rows[0]][cut : cut + stem.length] for stem in stems],
            list(range(len(stems))),
            pad_id,
            fw,
            _take_rows(prefix, torch.zeros(len(stems), dtype=torch.long, device=model.device)),
            ones.expand(len(stems), -1),
        )
    own = [b[cut + n :] for b, n in zip(batch, stem_len)]
    order = sorted(range(len(batch)), key=lambda i: -len(own[i]))
    parts = []
    for g in length_groups([len(own[i]) for i in order]):
        rows = [order[j] for j in g]
        cache, attention = prefix, None
        if base is not None:
            index = torch.tensor([max(stem_of[r], 0) for r in rows], device=model.device)
            cache = _take_rows(base.cache, index)
            attention = base.attention.index_select(0, index).clone()
            for j, r in enumerate(rows):
                if stem_of[r] < 0:  # the prefix only: the stem columns are masked for this row
                    attention[j, n_prefix:] = 0
        elif prefix is not None:
            cache = _take_rows(prefix, torch.zeros(len(rows), dtype=torch.long, device=model.device))
        parts.append(prefill(model, [own[r] for r in rows], rows, pad_id, fw, cache, attention))
    return parts
