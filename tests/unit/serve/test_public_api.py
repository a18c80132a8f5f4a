"""The public API of ``tunelab.serve``, pinned: adding or removing a name is a deliberate change made here."""

from __future__ import annotations

import tunelab.serve as pkg

PUBLIC = {
    "BackgroundServer",
    "build_app",
    "context_length",
    "create_app",
    "GenerationEngine",
    "GenerationRequest",
    "load_for_serving",
    "run_server",
    "run_vllm_server",
    "start_background_server",
}


def test_public_api_is_pinned() -> None:
    assert set(pkg.__all__) == PUBLIC
    assert len(pkg.__all__) == len(PUBLIC), "a name is listed twice in __all__"
    for name in pkg.__all__:
        assert hasattr(pkg, name), name
