import os
import sys
from collections.abc import Iterator

import pytest

# Nothing in the tests may reach the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _fresh_accelerate_state() -> Iterator[None]:
    """Reset accelerate's process-wide state after each test.

    ``AcceleratorState`` is a singleton: after a training run that chose bf16 autocast (``train.bf16: auto``
    on a CPU with AVX512 or AMX), a later ``Accelerator()`` without ``mixed_precision`` silently runs under
    bf16 too. That made an fp32 gradient comparison depend on test order (1.34e-5 against 1e-5).
    """
    yield
    state = sys.modules.get("accelerate.state")
    if state is not None and state.AcceleratorState._shared_state and state.PartialState().num_processes == 1:
        state.AcceleratorState._reset_state(reset_partial_state=True)
