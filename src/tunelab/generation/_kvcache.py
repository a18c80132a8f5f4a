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
    "Running",
    "cache_of",
    "common_prefix",
    "expand_cache",
    "forward_kwargs",
    "growing_layer_class",
    "join_groups",
    "joinable",
    "prefill",
    "prefix_cache",
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
) -> Running:
    """The prompt pass of a left-padded group (each prompt flush right, position ids from the mask);
    ``fw`` is :func:`forward_kwargs`. With ``prefix`` (a one-row KV cache of the tokens every prompt
    starts with, already cut from ``prompts``), the rows share it: each row is prefix, padding, own tokens."""
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
        n_prefix = prefix.layers[0].keys.shape[2]
        attention = torch.cat([attention.new_ones((len(prompts), n_prefix)), attention], dim=1)
        kwargs[fw[0]] = expand_cache(prefix, len(prompts))
    position = (attention.cumsum(-1) - 1).clamp(min=0)[:, -width:]
    out = model(
        input_ids=input_ids, attention_mask=attention, position_ids=position, use_cache=True, **kwargs
    )
    return Running(rows, cache_of(out), attention, position[:, -1:], out.logits[:, -1, :])


def common_prefix(prompts: list[list[int]]) -> int:
    """Length of the longest common prefix, leaving every prompt at least one token of its own."""
    first, n = prompts[0], min(len(p) for p in prompts) - 1
    for p in prompts[1:]:
        i = 0
        while i < n and p[i] == first[i]:
            i += 1
        n = i
    return max(n, 0)


def prefix_cache(model: PreTrainedModel, ids: list[int], fw: tuple[str, dict[str, Any]]) -> Any:
    """The KV cache of one row of ``ids`` (None where the model's cache cannot be shared)."""
    import torch

    x = torch.tensor([ids], dtype=torch.long, device=model.device)
    out = model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=True, **fw[1])
    cache = cache_of(out)
    return cache if joinable(cache) else None


def expand_cache(prefix: Any, n: int) -> Any:
    """A copy of a one-row cache repeated for ``n`` rows (the prefix stays reusable)."""
    import copy

    cache = copy.copy(prefix)
    cache.layers = []
    for layer in prefix.layers:
        new = copy.copy(layer)
        new.keys = layer.keys.expand(n, -1, -1, -1).contiguous()
        new.values = layer.values.expand(n, -1, -1, -1).contiguous()
        cache.layers.append(new)
    return cache


def joinable(cache: Any) -> bool:
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", None)
    if not layers:
        return False
    return all(type(layer) is DynamicLayer and layer.is_initialized for layer in layers)


def join_groups(parts: list[Running], max_new_tokens: int) -> Running:
    """One running batch from prefilled groups, in a KV cache preallocated for the widest prompt plus
    ``max_new_tokens`` positions.

    Each group's keys and values are copied into the buffers left-padded to the widest group; padded
    positions are masked out, so every row attends to exactly what it did alone. The decode steps then
    run once for all rows instead of once per group, and a step writes its new keys into the buffer
    instead of copying the whole cache (transformers' dynamic cache concatenates on every step)."""
    import torch
    import torch.nn.functional as F

    width = max(p.attention.shape[1] for p in parts)
    head = parts[0].cache
    layer_cls = growing_layer_class()
    for li in range(len(head.layers)):
        head.layers[li] = layer_cls.from_parts(
            [p.cache.layers[li] for p in parts],
            [p.attention.shape[1] for p in parts],
            width,
            width + max_new_tokens,
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
        def from_parts(cls, layers: list[Any], widths: list[int], width: int, capacity: int) -> Any:
            k0, v0 = layers[0].keys, layers[0].values
            b = sum(layer.keys.shape[0] for layer in layers)
            out = cls()
            out.device, out.is_initialized = k0.device, True
            out._k = k0.new_zeros((b, k0.shape[1], capacity, k0.shape[3]))
            out._v = v0.new_zeros((b, v0.shape[1], capacity, v0.shape[3]))
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
            self._k, self._v = self._k[indices], self._v[indices]
            self._views()

    _GROWING_LAYER = GrowingLayer
    return GrowingLayer
