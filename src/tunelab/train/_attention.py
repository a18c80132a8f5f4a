"""Attention over packed rows without the quadratic block-diagonal mask (for CPU and GPUs without FA2).

With packed rows, transformers' ``sdpa`` path builds a (B, 1, T, T) block-diagonal mask and
attends over the whole row: attention costs B*T^2 however short the examples are, and the
mask forbids SDPA's causal fast path. This implementation cuts each row at the examples'
starts (``position_ids == 0``) and runs causal SDPA per example: sum(len_i^2) instead of T^2
(for 512-token rows of ~150-token examples, a quarter of the work). It is registered with
transformers' ``AttentionInterface`` under :data:`ATTN_NAME`; its mask function returns no
mask at all, so none is built. The result equals the block-diagonal mask's (tested).

Under CPU bf16 autocast, SDPA would run in bf16; on this project's CPUs (AVX-512 BF16) its
backward is ~1.7x slower in bf16 than in fp32 (1 x 9 heads x 128 x 64: 2.3 ms vs 1.3 ms) while
the matmuls are 4.5x faster in bf16. So the dtype is decided per operation: on CPU attention runs in fp32
under autocast and the linear layers stay in bf16. The rule is fixed, not timed when training starts: a timing
under load picked bf16 attention for one run of the real-model demo and fp32 for the same run the next time,
and the same seed gave other numbers. Grouped-query heads use SDPA's ``enable_gqa`` instead of copies.
"""

from __future__ import annotations

import importlib.metadata
import weakref
from typing import Any

import torch

from tunelab.errors import InputError

__all__ = [
    "ATTN_NAME",
    "PACKING_TRANSFORMERS_FLOOR",
    "check_packing_support",
    "register_segment_attention",
    "segment_attention_forward",
    "segment_lengths",
]

ATTN_NAME = "tunelab_segments"

#: transformers builds a per-example causal mask from ``position_ids`` (no attention mask given, no
#: cache) for sdpa/eager/flex from 4.54 (huggingface/transformers#39194); flash-attention-2 reads packed
#: position ids since 4.44. Below this, packed rows on a GPU would attend across examples.
PACKING_TRANSFORMERS_FLOOR = (4, 54)


def check_packing_support(device: str, transformers_version: str | None = None) -> None:
    """Refuse packed rows on a GPU where transformers would not keep attention inside each example.

    On CPU tunelab's own segment attention (:func:`register_segment_attention`) does it at any version.

    Raises:
        InputError: packing on CUDA with transformers older than :data:`PACKING_TRANSFORMERS_FLOOR`.
    """
    if device == "cpu":
        return
    transformers_version = transformers_version or importlib.metadata.version("transformers")
    parts = []
    for piece in transformers_version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    if tuple(parts) < PACKING_TRANSFORMERS_FLOOR:
        floor = ".".join(map(str, PACKING_TRANSFORMERS_FLOOR))
        raise InputError(
            f"packed rows on {device} need transformers>={floor} to keep attention inside each example "
            f"(installed: {transformers_version}); upgrade transformers or set data.packing: false",
            field="data.packing",
        )


def segment_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,  # (B, H, T, D)
    key: torch.Tensor,  # (B, Hkv, T, D)
    value: torch.Tensor,  # (B, Hkv, T, D)
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Causal attention inside each packed example; returns (B, T, H, D) like transformers' sdpa."""
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    position_ids = kwargs.get("position_ids")
    if attention_mask is not None or position_ids is None or query.shape[2] != key.shape[2]:
        # padding masks, caches (generation): the ordinary path
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout, scaling, **kwargs)  # type: ignore[no-any-return]
    groups = getattr(module, "num_key_value_groups", 1)
    gqa = groups > 1 and key.shape[1] * groups == query.shape[1]
    if groups > 1 and not gqa:
        key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    dev = query.device.type
    if (
        torch.is_autocast_enabled(dev)
        and attention_dtype(dev, torch.get_autocast_dtype(dev)) == torch.float32
    ):
        with torch.autocast(dev, enabled=False):
            q32, k32, v32 = query.float(), key.float(), value.float()
            return _segments(q32, k32, v32, position_ids, dropout if module.training else 0.0, scaling, gqa)
    return _segments(query, key, value, position_ids, dropout if module.training else 0.0, scaling, gqa)


#: (weakref to the last ``position_ids`` seen, its row count, its segment lengths): every decoder layer of one
#: forward gets the same tensor
_LAST_LENGTHS: list[Any] = [None, 0, None]


def segment_lengths(position_ids: torch.Tensor, rows: int | None = None) -> list[int]:
    """Lengths of the packed examples of each row, rows one after the other (an example starts where its
    position id is 0; a row that does not start at 0 starts a segment anyway). One host read per forward:
    the result is kept for the tensor it was computed from, which every layer of the forward passes again.
    ``rows``: the batch size, where ``position_ids`` has one row for all (broadcast)."""
    rows = rows or position_ids.shape[0]
    ref, seen_rows, lengths = _LAST_LENGTHS
    if ref is not None and ref() is position_ids and seen_rows == rows:
        return lengths  # type: ignore[no-any-return]
    pos = position_ids.expand(rows, -1)
    starts = pos == 0
    starts[:, 0] = True
    flat = torch.nonzero(starts.flatten()).flatten().tolist()  # start offsets in the rows laid end to end
    lengths = [e - s for s, e in zip(flat, [*flat[1:], starts.numel()])]
    _LAST_LENGTHS[:] = [weakref.ref(position_ids), rows, lengths]
    return lengths


# Out of ``torch.compile``'s graphs (``train.compile``): traced, the split below is guarded on the examples'
# count and lengths, which change every packed step, so every step recompiled (SmolLM2-135M: 21 s a step
# instead of 2). Left out, the attention is one graph break per layer and the graphs around it keep their shapes.
@torch.compiler.disable  # type: ignore[misc]
def _segments(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    position_ids: torch.Tensor,
    p: float,
    scaling: float | None,
    gqa: bool,
) -> tuple[torch.Tensor, None]:
    """Causal SDPA per packed example; (B, T, H, D).

    The rows are laid end to end as one sequence per head, (1, H, B*T, D), and ``split`` into the examples:
    one copy in, one ``cat`` out, and a backward of one ``cat`` (slicing each example out of its row had a
    zero-filled row-sized gradient per example: a fifth of the attention's backward on SmolLM2)."""
    bsz, heads, width, dim = query.shape
    lengths = segment_lengths(position_ids, bsz)

    def flat(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return x.transpose(0, 1).reshape(1, x.shape[1], bsz * width, dim).split(lengths, dim=2)

    segs = [
        torch.nn.functional.scaled_dot_product_attention(
            q, k, v, dropout_p=p, is_causal=q.shape[2] > 1, scale=scaling, enable_gqa=gqa
        )
        for q, k, v in zip(flat(query), flat(key), flat(value))
    ]
    out = torch.cat(segs, dim=2) if len(segs) > 1 else segs[0]  # (1, H, B*T, D)
    return out.view(heads, bsz, width, dim).permute(1, 2, 0, 3).contiguous(), None


def attention_dtype(device_type: str, low: torch.dtype) -> torch.dtype:
    """The dtype of attention under autocast to ``low``: float32 on CPU (its bf16 SDPA backward is slower
    than fp32's on the AVX-512 BF16 CPUs measured; ``benchmarks/train_throughput.py --ablate`` times
    the other choice), ``low`` elsewhere. A fixed rule, so the numbers do not depend on the machine's load."""
    return torch.float32 if device_type == "cpu" else low


def _no_mask(*args: Any, attention_mask: torch.Tensor | None = None, **kwargs: Any) -> Any:
    """No mask for packed/causal rows; with a padding mask, sdpa's own (the forward then uses sdpa)."""
    if attention_mask is None:
        return None
    from transformers.masking_utils import sdpa_mask

    return sdpa_mask(*args, attention_mask=attention_mask, **kwargs)  # type: ignore[misc]


def register_segment_attention() -> str:
    """Register the implementation with transformers (idempotent); returns its name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

    AttentionInterface.register(ATTN_NAME, segment_attention_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTN_NAME, _no_mask)
    return ATTN_NAME
