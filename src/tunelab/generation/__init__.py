"""tunelab.generation: batched decoding over the KV cache and the generation backends.

:func:`generate` is the decode loop (left-padded batches of similar lengths, finished rows leave the batch,
halving on out-of-memory); :class:`TransformersBackend`, :class:`OpenAIBackend` and :class:`VLLMBackend` put one
``generate(prompts, decoding)`` interface in front of it, a server or vLLM; :func:`make_backend` builds one from
command-line style arguments. Importing this package does not import torch.

The pieces of one decode step are public too, for a caller that runs its own step loop (the server's
continuous batching admits and releases rows between steps): :func:`prefill` (the prompt pass of a
left-padded group), :func:`join_groups` (KV caches joined into one running batch), :func:`joinable`,
:func:`length_groups`, :func:`row_spans` and :func:`attending_spans` (a decode step's attention over each run
of rows' own columns), :func:`keep_freed_memory`, :func:`forward_kwargs`, :func:`cache_of`, :func:`next_tokens`, :func:`eos_token_ids`
and the :class:`Running` batch state.
"""

from __future__ import annotations

from tunelab.generation._backends import (
    Backend,
    OpenAIBackend,
    Prompt,
    TransformersBackend,
    VLLMBackend,
    make_backend,
)
from tunelab.generation._generate import (
    Decoding,
    Generation,
    PromptFormat,
    chat_template_hash,
    encode_prompts,
    eos_token_ids,
    generate,
    generate_ids,
    is_oom_error,
    next_tokens,
    render_prompt,
    trim_at_stop,
)
from tunelab.generation._kvcache import (
    Running,
    cache_of,
    forward_kwargs,
    join_groups,
    joinable,
    keep_freed_memory,
    prefill,
)
from tunelab.generation._prompt_pass import length_groups
from tunelab.generation._spans import attending_spans, row_spans
from tunelab.generation._vllm import import_vllm, vllm_server_command

__all__ = [
    "Backend",
    "Running",
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
    "Decoding",
    "Generation",
    "OpenAIBackend",
    "Prompt",
    "PromptFormat",
    "TransformersBackend",
    "VLLMBackend",
    "chat_template_hash",
    "encode_prompts",
    "generate",
    "generate_ids",
    "import_vllm",
    "is_oom_error",
    "make_backend",
    "render_prompt",
    "trim_at_stop",
    "vllm_server_command",
]
