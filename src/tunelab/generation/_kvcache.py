"""The KV cache of a decoding batch: the prompt pass of a length group, and the join of several groups into one
running batch over preallocated buffers (so a decode step writes its keys in place instead of concatenating).
Used by :func:`tunelab.generation.generate`; torch and transformers load inside the functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

__all__ = [
    "KVArena",
    "Running",
    "arena_for",
    "keep_freed_memory",
    "cache_of",
    "forward_kwargs",
    "growing_layer_class",
    "join_groups",
    "joinable",
    "prefill",
]


def forward_kwargs(model: PreTrainedModel) -> tuple[str, dict[str, Any]]:
    """The name of the KV-cache argument (``cache`` in transformers >= 5.x, ``past_key_values`` before)
    and ``logits_to_keep=1`` where the model takes it (only the last position's logits are needed)."""
    import inspect

    base: Any = getattr(model, "get_base_model", lambda: model)()  # the model under a peft wrapper
    params = inspect.signature(base.forward).parameters
    cache_arg = "cache" if "cache" in params else "past_key_values"
    extra = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
    return cache_arg, extra


def cache_of(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


@dataclass
class Running:
    """Rows being decoded together: their batch positions, KV cache, attention mask, last position ids
    and the logits of their newest position."""

    rows: list[int]
    cache: Any
    attention: torch.Tensor
    last_pos: torch.Tensor
    logits: torch.Tensor


def prefill(
    model: PreTrainedModel,
    prompts: list[list[int]],
    rows: list[int],
    pad_id: int,
    fw: tuple[str, dict[str, Any]],
    prefix: Any = None,
    prefix_attention: torch.Tensor | None = None,
) -> Running:
    """The prompt pass of a left-padded group (each prompt flush right, position ids from the mask);
    ``fw`` is :func:`forward_kwargs`. With ``prefix`` (a KV cache of one row per prompt, of tokens that
    come before ``prompts``; its mask ``prefix_attention``, all ones when omitted), each row is prefix,
    padding, own tokens, and attends to the unmasked prefix positions and its own tokens."""
    import torch

    width = max(len(ids) for ids in prompts)
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(prompts), width), dtype=torch.long)
    for r, ids in enumerate(prompts):
        input_ids[r, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        attention[r, width - len(ids) :] = 1
    input_ids, attention = input_ids.to(model.device), attention.to(model.device)
    kwargs: dict[str, Any] = dict(fw[1])
    if prefix is not None:
        if prefix_attention is None:
            prefix_attention = attention.new_ones((len(prompts), prefix.layers[0].keys.shape[2]))
        attention = torch.cat([prefix_attention.to(attention), attention], dim=1)
        kwargs[fw[0]] = prefix
    position = (attention.cumsum(-1) - 1).clamp(min=0)[:, -width:]
    out = model(
        input_ids=input_ids, attention_mask=attention, position_ids=position, use_cache=True, **kwargs
    )
    return Running(rows, cache_of(out), attention, position[:, -1:], out.logits[:, -1, :])


def joinable(cache: Any) -> bool:
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", None)
    if not layers:
        return False
    return all(type(layer) is DynamicLayer and layer.is_initialized for layer in layers)


class KVArena:
    """Memory reused for the KV buffers of one model's successive batches.

    A fresh buffer costs its first touch: on the machines we measured, zero-filling a new 3.7 MB cache
    buffer took 3 to 23 ms (page faults) against 0.1 ms for memory already mapped, about 1.4 s of a 20 s
    evaluation pass. An arena keeps the largest batch's buffers (its size: rows x heads x positions x head
    dim x 2 x layers) for as long as the model lives, and hands out views of them; ``lock`` keeps two
    threads generating with one model from sharing it (the second one allocates its own)."""

    def __init__(self) -> None:
        import threading

        self.lock = threading.Lock()
        self._flat: torch.Tensor | None = None
        self._used = 0

    def reserve(self, numel: int, like: torch.Tensor) -> None:
        """Make room for ``numel`` elements of ``like``'s dtype and device; earlier views become invalid."""
        flat = self._flat
        if flat is None or flat.numel() < numel or flat.dtype != like.dtype or flat.device != like.device:
            self._flat = None  # free the old memory before taking the new
            self._flat = like.new_empty(numel)
        self._used = 0

    def take(self, shape: tuple[int, ...]) -> torch.Tensor:
        """A zeroed view of the next ``prod(shape)`` reserved elements."""
        import math

        assert self._flat is not None
        n = math.prod(shape)
        view = self._flat[self._used : self._used + n].view(shape)
        self._used += n
        return view.zero_()


_ARENAS: Any = None
_MALLOC_TUNED = False

#: glibc ``mallopt`` parameters: freed blocks below the first size stay in the heap (not ``munmap``-ed), and
#: the heap is not trimmed until this much is free at its top
_MMAP_THRESHOLD, _TRIM_THRESHOLD = 32 << 20, 1 << 30


def keep_freed_memory() -> bool:
    """Keep freed memory in the process instead of handing it back to the kernel (glibc only; once per
    process; off with ``TUNELAB_KEEP_FREED_MEMORY=0``).

    A forward pass of a batch frees and re-allocates activations of a few MB per layer. glibc returns blocks
    above its mmap threshold to the kernel on free, so the next pass pays a page fault per 4 KB on first
    touch: on SmolLM2-135M's evaluation pass this was ~170,000 faults and about a tenth of the wall time
    (measured in one process, alternating). This is the effect PyTorch's CPU tuning guide gets from
    jemalloc or tcmalloc, with the allocator that is already loaded; the cost is that the process keeps its
    peak heap. Returns whether the setting was applied (False off glibc or when turned off)."""
    global _MALLOC_TUNED
    import os

    if _MALLOC_TUNED:
        return True
    if os.environ.get("TUNELAB_KEEP_FREED_MEMORY", "1") == "0":
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt)
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    _MALLOC_TUNED = bool(mallopt(m_mmap_threshold, _MMAP_THRESHOLD)) and bool(
        mallopt(m_trim_threshold, _TRIM_THRESHOLD)
    )
    return _MALLOC_TUNED


def arena_for(model: PreTrainedModel) -> KVArena:
    """The :class:`KVArena` of ``model`` (freed with the model)."""
    global _ARENAS
    import weakref

    if _ARENAS is None:
        _ARENAS = weakref.WeakKeyDictionary()
    arena = _ARENAS.get(model)
    if arena is None:
        arena = _ARENAS[model] = KVArena()
    return arena  # type: ignore[no-any-return]


def join_groups(parts: list[Running], max_new_tokens: int, arena: KVArena | None = None) -> Running:
    """One running batch from prefilled groups, in a KV cache preallocated for the widest prompt plus
    ``max_new_tokens`` positions (in ``arena``'s memory when given: the caller holds its lock, and no
    part's cache may live in it).

    Each group's keys and values are copied into the buffers left-padded to the widest group; padded
    positions are masked out, so every row attends to exactly what it did alone. The decode steps then
    run once for all rows instead of once per group, and a step writes its new keys into the buffer
    instead of copying the whole cache (transformers' dynamic cache concatenates on every step)."""
    import torch
    import torch.nn.functional as F

    width = max(p.attention.shape[1] for p in parts)
    head = parts[0].cache
    layer_cls = growing_layer_class()
    if arena is not None:
        rows = sum(p.attention.shape[0] for p in parts)
        k0 = head.layers[0].keys
        arena.reserve(
            sum(2 * rows * lay.keys.shape[1] * lay.keys.shape[3] for lay in head.layers)
            * (width + max_new_tokens),
            k0,
        )
    for li in range(len(head.layers)):
        head.layers[li] = layer_cls.from_parts(
            [p.cache.layers[li] for p in parts],
            [p.attention.shape[1] for p in parts],
            width,
            width + max_new_tokens,
            arena,
        )
    return Running(
        rows=[r for p in parts for r in p.rows],
        cache=head,
        attention=torch.cat([F.pad(p.attention, (width - p.attention.shape[1], 0)) for p in parts]),
        last_pos=torch.cat([p.last_pos for p in parts]),
        logits=torch.cat([p.logits for p in parts]),
    )


_GROWING_LAYER: Any = None


def growing_layer_class() -> Any:
    """A transformers ``DynamicLayer`` over preallocated buffers (built on first use: the class needs
    transformers, which ``import tunelab.generation`` does not load)."""
    global _GROWING_LAYER
    if _GROWING_LAYER is not None:
        return _GROWING_LAYER
    import torch
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):  # type: ignore[misc]
        """``keys``/``values`` are views of the filled part of buffers sized for the whole generation."""

        _k: torch.Tensor
        _v: torch.Tensor
        _n: int

        @classmethod
        def from_parts(
            cls, layers: list[Any], widths: list[int], width: int, capacity: int, arena: KVArena | None
        ) -> Any:
            k0, v0 = layers[0].keys, layers[0].values
            b = sum(layer.keys.shape[0] for layer in layers)
            out = cls()
            out.device, out.is_initialized = k0.device, True
            kshape = (b, k0.shape[1], capacity, k0.shape[3])
            vshape = (b, v0.shape[1], capacity, v0.shape[3])
            if arena is not None:
                out._k, out._v = arena.take(kshape), arena.take(vshape)
            else:
                out._k, out._v = k0.new_zeros(kshape), v0.new_zeros(vshape)
            row = 0
            for layer, w in zip(layers, widths):
                n = layer.keys.shape[0]
                out._k[row : row + n, :, width - w : width] = layer.keys
                out._v[row : row + n, :, width - w : width] = layer.values
                row += n
            out._n = width
            out._views()
            return out

        def _views(self) -> None:
            self.keys, self.values = self._k[:, :, : self._n], self._v[:, :, : self._n]

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            n = key_states.shape[-2]
            if self._n + n > self._k.shape[2]:  # past the planned capacity: double it
                grow = max(n, self._k.shape[2])
                self._k = torch.nn.functional.pad(self._k, (0, 0, 0, grow))
                self._v = torch.nn.functional.pad(self._v, (0, 0, 0, grow))
            self._k[:, :, self._n : self._n + n] = key_states
            self._v[:, :, self._n : self._n + n] = value_states
            self._n += n
            self._views()
            return self.keys, self.values

        def batch_select_indices(self, indices: Any) -> None:
            """Keep the rows ``indices`` (ascending), moved down in place: no new buffer to touch."""
            keep = indices.tolist()
            if keep != sorted(keep):
                self._k, self._v = self._k[indices], self._v[indices]
            else:
                for j, src in enumerate(keep):
                    if j != src:
                        self._k[j] = self._k[src]
                        self._v[j] = self._v[src]
                self._k, self._v = self._k[: len(keep)], self._v[: len(keep)]
            self._views()

    _GROWING_LAYER = GrowingLayer
    return GrowingLayer
