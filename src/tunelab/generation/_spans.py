"""Decode-step attention over each row's own part of a joined KV cache.

A joined batch (:func:`~tunelab.generation._kvcache.join_groups`) left-pads every group's cache to the widest
prompt, so a row of a 40-token prompt in a batch whose longest prompt has 200 tokens attends over 200 positions,
160 of them masked. A decode step's attention reads the whole cache (on SmolLM2-135M with 64 rows, 24 MB per
layer, about as much as the weights), and on CPU that read is most of its time: on the eval-like workload the
decode steps' attention took a third of their time.

:func:`row_spans` splits the rows into runs that start at about the same column, and while
:func:`attending_spans` is active, a decode step (one query position) runs transformers' SDPA attention once per
run over that run's columns only. The masked columns it skips held nothing the row attends to, so each row's
output is the same up to rounding. Everything else (prompt passes, other models, other threads) goes through
transformers' own SDPA function unchanged."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["CALL_COST_POSITIONS", "attending_spans", "row_spans"]

#: what one more attention call costs, in positions of one layer's keys and values read (tens of microseconds
#: of fixed cost against ~0.13 us per position of SmolLM2's 3 KV heads in float32 here)
CALL_COST_POSITIONS = 256

Span = tuple[int, int, int]  # rows [start, stop), attended from this column on

_SPANS: contextvars.ContextVar[tuple[Span, ...] | None] = contextvars.ContextVar(
    "tunelab_spans", default=None
)
_SDPA: Any = None


def row_spans(attention: torch.Tensor) -> tuple[Span, ...] | None:
    """Runs of consecutive rows of a left-padded attention mask (rows x columns, 1 = attended), each with the
    first column any of its rows attends, chosen to read the fewest positions counting
    :data:`CALL_COST_POSITIONS` per run; ``None`` when one run from column 0 is best (nothing to skip)."""
    first = (attention != 0).int().argmax(dim=1).tolist()
    width, n = attention.shape[1], len(first)
    # best[j]: the least cost of rows [0, j); a run [i, j) costs the call plus (j - i) x its columns
    best, cut = [0] + [0] * n, [0] * (n + 1)
    for j in range(1, n + 1):
        col, best[j] = first[j - 1], -1
        for i in range(j - 1, -1, -1):
            col = min(col, first[i])
            cost = best[i] + CALL_COST_POSITIONS + (j - i) * (width - col)
            if best[j] < 0 or cost < best[j]:
                best[j], cut[j] = cost, i
    spans: list[Span] = []
    j = n
    while j > 0:
        i = cut[j]
        spans.append((i, j, min(first[i:j])))
        j = i
    spans.reverse()
    return None if len(spans) == 1 and spans[0][2] == 0 else tuple(spans)


def _install() -> None:
    """Put :func:`_sdpa_over_spans` in front of transformers' ``sdpa`` attention (once per process)."""
    global _SDPA
    if _SDPA is not None:
        return
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    _SDPA = sdpa_attention_forward
    AttentionInterface.register("sdpa", _sdpa_over_spans)


def _sdpa_over_spans(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, *args: Any, **kwargs: Any
) -> tuple[Any, Any]:
    spans = _SPANS.get()
    if (
        spans is None
        or query.shape[2] != 1
        or query.shape[0] != spans[-1][1]
        or (attention_mask is not None and attention_mask.shape[-1] != key.shape[2])
    ):
        return _SDPA(module, query, key, value, attention_mask, *args, **kwargs)  # type: ignore[no-any-return]
    import torch

    outs = [
        _SDPA(
            module,
            query[a:b],
            key[a:b, :, c:],
            value[a:b, :, c:],
            None if attention_mask is None else attention_mask[a:b, ..., c:],
            *args,
            **kwargs,
        )[0]
        for a, b, c in spans
    ]
    return torch.cat(outs), None


@contextlib.contextmanager
def attending_spans(spans: tuple[Span, ...] | None) -> Iterator[None]:
    """Inside this block (in this thread or task only), a one-position attention over as many rows as
    ``spans`` covers attends each run of rows from its own first column (see :func:`row_spans`)."""
    if spans is None:
        yield
        return
    _install()
    token = _SPANS.set(spans)
    try:
        yield
    finally:
        _SPANS.reset(token)
