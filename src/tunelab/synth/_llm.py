"""Backends for LLM-driven synthesis: :mod:`tunelab.generation`'s backends behind a resumable request cache.

Nothing here talks HTTP or runs a model itself: :class:`tunelab.generation.TransformersBackend`,
``OpenAIBackend`` and ``VLLMBackend`` do, and :class:`tunelab.synth._cache.CachedBackend` sits in front of them.
"""

from __future__ import annotations

from pathlib import Path

from tunelab.generation import Backend, Prompt
from tunelab.synth._cache import CachedBackend, RequestCache

__all__ = ["cached_backend", "as_prompt", "work_dir"]


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
