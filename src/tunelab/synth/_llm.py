"""Backends for LLM-driven synthesis: the evaluate package's generators behind a resumable request cache.

Nothing here talks HTTP or runs a model itself: :class:`tunelab.evaluate._backends.TransformersBackend`,
``OpenAIBackend`` and ``VLLMBackend`` do, and :class:`tunelab.synth._cache.CachedBackend` sits in front of them.
"""

from __future__ import annotations

from pathlib import Path

from tunelab.errors import InputError
from tunelab.evaluate._backends import Backend, Prompt
from tunelab.synth._cache import CachedBackend, RequestCache

__all__ = ["make_backend", "cached_backend", "as_prompt", "work_dir"]


def make_backend(
    model: str | None = None,
    base_url: str | None = None,
    model_name: str | None = None,
    api_key: str | None = None,
    batch_size: int | None = None,
    concurrency: int = 8,
    timeout_s: float = 120.0,
    engine: str = "transformers",
    device: str = "auto",
    dtype: str = "float32",
) -> Backend:
    """Build the generator: a local model (``model``) or an OpenAI-compatible server (``base_url``).

    Args:
        model: model folder, hub id or ``tunelab-tiny`` (local generation).
        base_url: ``http://HOST:PORT/v1`` of an OpenAI-compatible server.
        model_name: the model id the server expects (required with ``base_url``).
        api_key: bearer token for the server.
        batch_size: rows per local batch (``None``: automatic).
        concurrency: requests in flight to the server.
        timeout_s: per-request timeout for the server.
        engine: ``transformers`` or ``vllm`` for a local model.
        device: local device (``auto``, ``cpu``, ``cuda``...).
        dtype: local weights dtype.

    Returns:
        A backend with ``generate(prompts, decoding)`` and ``describe()``.

    Raises:
        InputError: neither or both of ``model`` and ``base_url``, or ``base_url`` without ``model_name``.
    """
    if (model is None) == (base_url is None):
        raise InputError("give exactly one of --model (local) or --base-url (server)", field="model")
    if base_url is not None:
        if not model_name:
            raise InputError(
                "--base-url needs --model-name (the model id the server expects)", field="model_name"
            )
        from tunelab.evaluate._backends import OpenAIBackend

        return OpenAIBackend(
            base_url, model_name, api_key=api_key, concurrency=concurrency, timeout_s=timeout_s
        )
    assert model is not None
    if engine == "vllm":
        from tunelab.evaluate._backends import VLLMBackend

        return VLLMBackend(model)
    if engine != "transformers":
        raise InputError(f"unknown engine {engine!r} (transformers, vllm)", field="engine")
    from tunelab.evaluate._backends import TransformersBackend
    from tunelab.models import load_model, load_tokenizer

    tok = load_tokenizer(model)
    return TransformersBackend(load_model(model, dtype=dtype, device=device), tok, batch_size, model)


def work_dir(out: str | Path) -> Path:
    """The folder beside ``out`` that holds a run's cache and journal (``OUT.work/``)."""
    p = Path(out)
    return p.with_name(p.name + ".work")


def cached_backend(backend: Backend, out: str | Path, chunk_size: int = 8) -> CachedBackend:
    """Put a run's request cache (``OUT.work/cache.jsonl``) in front of a backend."""
    return CachedBackend(backend, RequestCache(work_dir(out) / "cache.jsonl"), chunk_size)


def as_prompt(text: str, chat: bool) -> Prompt:
    """A completion prompt (the text as is) or one user turn rendered by the chat template."""
    return [{"role": "user", "content": text}] if chat else text
