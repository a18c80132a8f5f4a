"""The public API of ``tunelab.train``, pinned: adding or removing a name is a deliberate change made here."""

from __future__ import annotations

import tunelab.train as pkg

PUBLIC = {
    "REPLAY_SEED_OFFSET",
    "BatchStream",
    "bf16_is_faster",
    "build_optimizer",
    "build_scheduler",
    "build_tiny",
    "build_train_data",
    "CausalLMLoss",
    "chunked_cross_entropy",
    "collate",
    "EvalTracker",
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
    "TrainData",
    "TrainResult",
}


def test_public_api_is_pinned() -> None:
    assert set(pkg.__all__) == PUBLIC
    assert len(pkg.__all__) == len(PUBLIC), "a name is listed twice in __all__"
    for name in pkg.__all__:
        assert hasattr(pkg, name), name
