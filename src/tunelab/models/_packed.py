"""Linear layers run over weights packed once for oneDNN, for inference on CPU.

PyTorch's CPU ``F.linear`` hands float32 matrix products to MKL's ``sgemm``, which packs the weight again on
every call and, on AMD processors, runs its AVX2 kernels. oneDNN, in the same PyTorch build, picks its kernels
from the CPU's own features and takes a weight packed ahead of time (what ``torch.compile``'s CPU freezing
does). On the AMD EPYC (Zen 4, 2 cores) we measured, float32, in GFLOP/s, ``F.linear`` against the packed
product: the LM head (576 -> 49,152) at 64 rows 89 vs 184, the MLP (576 -> 1,536) at 64 rows 116 vs 182 and
at 23 rows 60 vs 115, a 935-row prompt pass 138 vs 195; bfloat16 at 64 rows 247 vs 345.

:func:`packed_linears` routes every ``torch.nn.Linear`` of a model (a peft adapter's base and adapter
layers included) through the packed product while the caller generates. The products differ from
``sgemm``'s in rounding only (measured about 5e-6 relative in fp32). The packed copies are kept with the
model, re-packed when a weight changes (its storage or version counter), and cost the model's linear weights
once more in memory.
A layer falls back to its own ``forward`` wherever autograd is recording, for another dtype or device, or
under autocast. ``TUNELAB_PACKED_LINEAR=0`` turns it off."""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

__all__ = ["packed_linears", "packing_available"]

_AVAILABLE: bool | None = None
_MODELS: weakref.WeakKeyDictionary[Any, _Packs] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def packing_available() -> bool:
    """Whether this PyTorch build packs and runs linear weights with oneDNN, checked once per process on a
    small product against ``F.linear`` (False with ``TUNELAB_PACKED_LINEAR=0``)."""
    global _AVAILABLE
    if os.environ.get("TUNELAB_PACKED_LINEAR", "1") == "0":
        return False
    if _AVAILABLE is None:
        import torch

        try:
            g = torch.Generator().manual_seed(0)
            x, w, b = (torch.randn(*s, generator=g) for s in ((5, 3, 24), (40, 24), (40,)))
            got = _product(x, torch.ops.mkldnn._reorder_linear_weight(w), b)
            _AVAILABLE = bool(torch.backends.mkldnn.is_available()) and torch.allclose(
                got, torch.nn.functional.linear(x, w, b), rtol=1e-4, atol=1e-5
            )
        except (AttributeError, RuntimeError, NotImplementedError):  # no oneDNN, or an op missing
            _AVAILABLE = False
    return _AVAILABLE


def _product(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    import torch

    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")  # type: ignore[no-any-return]


class _Packs:
    """One model's packed weights and how many callers are inside :func:`packed_linears` now."""

    def __init__(self) -> None:
        self.depth = 0
        self.packed: dict[torch.nn.Linear, tuple[int, int, torch.Tensor]] = {}


def _forward(layer: torch.nn.Linear, packed: torch.Tensor) -> Any:
    import torch

    weight, bias, own = layer.weight, layer.bias, type(layer).forward

    def forward(x: torch.Tensor) -> torch.Tensor:
        if (
            x.dtype != weight.dtype
            or x.device.type != "cpu"
            or (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
            or torch.is_autocast_enabled("cpu")
        ):
            return own(layer, x)  # type: ignore[no-any-return]
        return _product(x, packed, None if bias is None else bias.detach())

    return forward


def _packable(model: Any, torch: Any) -> list[torch.nn.Linear]:
    """The model's linear layers (exactly ``torch.nn.Linear``) with CPU weights in float32 or bfloat16."""
    dtypes = (torch.float32, torch.bfloat16)
    return [
        m
        for m in model.modules()
        if type(m) is torch.nn.Linear and m.weight.device.type == "cpu" and m.weight.dtype in dtypes
    ]


@contextlib.contextmanager
def packed_linears(model: PreTrainedModel) -> Iterator[bool]:
    """Inside this block, the model's CPU linear layers (float32 or bfloat16) run over packed weights; yields
    whether they do. Blocks may nest and may run in several threads at once: the layers are restored when
    the last one ends."""
    if model.device.type != "cpu" or not packing_available():
        yield False
        return
    import torch

    with _LOCK:
        packs = _MODELS.get(model)
        if packs is None:
            packs = _MODELS[model] = _Packs()
        if packs.depth == 0:  # (re-)pack: only the model's layers now, only the weights that changed
            old, packs.packed = packs.packed, {}
            with torch.no_grad():
                for layer in _packable(model, torch):
                    w = layer.weight
                    key = (w.data_ptr(), w._version)
                    entry = old.get(layer)
                    if entry is None or entry[:2] != key:
                        entry = (*key, torch.ops.mkldnn._reorder_linear_weight(w.detach()))
                    packs.packed[layer] = entry
                    layer.__dict__["forward"] = _forward(
                        layer, entry[2]
                    )  # an instance attribute, popped on exit
            del old
        packs.depth += 1
    try:
        yield True
    finally:
        with _LOCK:
            packs.depth -= 1
            if packs.depth == 0:
                for layer in packs.packed:
                    layer.__dict__.pop("forward", None)
