"""The public API of ``tunelab.generation``, pinned: adding or removing a name is a deliberate change made here."""

from __future__ import annotations

import tunelab.generation as pkg

PUBLIC = {
    "Backend",
    "joinable",
    "cache_of",
    "eos_token_ids",
    "forward_kwargs",
    "join_groups",
    "keep_freed_memory",
    "length_groups",
    "attending_spans",
    "row_spans",
    "next_tokens",
    "prefill",
    "Running",
    "chat_template_hash",
    "Decoding",
    "encode_prompts",
    "generate",
    "generate_ids",
    "import_vllm",
    "Generation",
    "is_oom_error",
    "make_backend",
    "OpenAIBackend",
    "Prompt",
    "PromptFormat",
    "render_prompt",
    "TransformersBackend",
    "trim_at_stop",
    "VLLMBackend",
    "vllm_server_command",
}


def test_public_api_is_pinned() -> None:
    assert set(pkg.__all__) == PUBLIC
    assert len(pkg.__all__) == len(PUBLIC), "a name is listed twice in __all__"
    for name in pkg.__all__:
        assert hasattr(pkg, name), name
