"""AdamW with decay only on weight matrices, and the learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["build_optimizer", "lr_multiplier", "build_scheduler"]


def build_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over trainable parameters; no weight decay on 1-D tensors (norms, biases).

    Embeddings are 2-D and decay like other matrices, as in nanoGPT/Llama recipes.

    Args:
        model: the model (only ``requires_grad`` parameters are optimized).
        lr: peak learning rate.
        weight_decay: decoupled weight decay for matrices.

    Returns:
        The optimizer.
    """
    import torch

    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for _, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    params = decay + no_decay
    # the fused kernel (CUDA, and CPU since torch 2.4) reads each parameter, gradient and moment once
    fused = bool(params) and all(
        p.device.type in ("cuda", "cpu") and p.dtype.is_floating_point for p in params
    )
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8, fused=fused or None)


def lr_multiplier(step: int, max_steps: int, warmup_steps: int, schedule: str, min_lr_ratio: float) -> float:
    """The learning rate at ``step`` (0-based, before the update) as a fraction of the peak.

    Linear warmup from ``1/(warmup+1)`` to 1 over ``warmup_steps``, then ``constant``, ``linear``
    or ``cosine`` decay to ``min_lr_ratio`` at ``max_steps``.
    """
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if schedule == "constant":
        return 1.0
    span = max(1, max_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    if schedule == "linear":
        decay = 1.0 - progress
    elif schedule == "cosine":
        decay = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        raise ValueError(f"unknown schedule {schedule!r}")
    return min_lr_ratio + (1.0 - min_lr_ratio) * decay


def build_scheduler(
    optimizer: torch.optim.Optimizer, max_steps: int, warmup_steps: int, schedule: str, min_lr_ratio: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` following :func:`lr_multiplier` (step it once per optimizer step)."""
    import torch

    fn: Callable[[int], float] = lambda s: lr_multiplier(s, max_steps, warmup_steps, schedule, min_lr_ratio)  # noqa: E731
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
