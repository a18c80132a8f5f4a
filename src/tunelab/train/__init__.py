"""The training loop, schedules, checkpoint/resume, early stopping and guards.

``tunelab.train.train(config)`` runs one training job (see :mod:`tunelab.train.loop`).
Importing this package imports torch.
"""

from __future__ import annotations

from tunelab.train._batches import (
    REPLAY_SEED_OFFSET,
    BatchStream,
    TrainData,
    build_train_data,
    collate,
    read_sources,
    write_examples,
)
from tunelab.train._checkpoint import latest_checkpoint, prune_checkpoints, save_checkpoint
from tunelab.train._loss import CausalLMLoss, chunked_cross_entropy, neftune_hook
from tunelab.train._monitor import EvalTracker, bf16_is_faster
from tunelab.train._optim import build_optimizer, build_scheduler, lr_multiplier
from tunelab.train._pretrain import build_tiny
from tunelab.train.loop import TrainResult, evaluate_loss, forward_backward, train

__all__ = [
    "REPLAY_SEED_OFFSET",
    "BatchStream",
    "CausalLMLoss",
    "EvalTracker",
    "TrainData",
    "TrainResult",
    "bf16_is_faster",
    "build_optimizer",
    "build_scheduler",
    "build_tiny",
    "build_train_data",
    "chunked_cross_entropy",
    "collate",
    "evaluate_loss",
    "forward_backward",
    "latest_checkpoint",
    "lr_multiplier",
    "neftune_hook",
    "prune_checkpoints",
    "read_sources",
    "save_checkpoint",
    "train",
    "write_examples",
]
