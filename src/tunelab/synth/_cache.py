"""Resumable LLM work: a request cache in front of any backend, and a per-batch journal of a run.

- :class:`RequestCache`: every request keyed by ``sha256(backend kind, model, prompt, decoding)`` and stored in
  an append-only JSONL file. The server address is not part of the key: the same model served on another
  port gives the same answers.
- :class:`CachedBackend`: wraps a :class:`tunelab.generation._backends.Backend`; sends only the requests the cache
  lacks, in chunks, and writes each chunk's results as soon as they arrive (a run killed mid-batch loses at
  most one chunk of work).
- :class:`Journal`: one JSON line per finished batch of a run (what was kept, what was rejected and why); a
  rerun replays it and goes on with the next batch. The output files are rebuilt from it on restart, so a kill
  between writing the journal and the output files never duplicates or loses records.

Every append is one ``write`` of whole lines followed by ``fsync``; a torn last line (a kill in the middle of a
write) is cut off when the file is opened again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tunelab.generation import Backend, Decoding, Generation, Prompt

__all__ = [
    "RequestCache",
    "CachedBackend",
    "Journal",
    "request_key",
    "append_lines",
    "read_jsonl",
]


def _repair_tail(path: Path) -> None:
    """Cut a torn last line (no trailing newline) so the next append starts on a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as fh:
        data = fh.read()
        if data.endswith(b"\n"):
            return
        fh.truncate(data.rfind(b"\n") + 1)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file written by :func:`append_lines`; a torn last line is ignored.

    Args:
        path: the file (a missing file reads as empty).

    Returns:
        The objects, in order.
    """
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break  # torn by a kill mid-write
            if line.strip():
                out.append(json.loads(line))
    return out


def append_lines(path: Path, objs: Iterable[dict[str, Any]]) -> None:
    """Append objects as JSON lines in one write, then flush to disk."""
    data = "".join(json.dumps(o, ensure_ascii=False, default=str) + "\n" for o in objs)
    if not data:
        return
    with path.open("a", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def request_key(backend: dict[str, Any], prompt: Prompt, decoding: Decoding) -> str:
    """The cache key of one request: SHA-256 of (backend kind, model, prompt, decoding settings)."""
    body = {
        "backend": backend.get("backend"),
        "model": backend.get("model"),
        "prompt": prompt if isinstance(prompt, str) else [dict(m) for m in prompt],
        "decoding": decoding.to_dict(),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class RequestCache:
    """Append-only JSONL store of generations by request key.

    Args:
        path: the cache file (created with its folder when missing).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _repair_tail(self.path)
        self._store: dict[str, Generation] = {}
        for row in read_jsonl(self.path):
            self._store[row["key"]] = Generation(
                text=row["text"],
                n_prompt_tokens=int(row.get("n_prompt_tokens", 0)),
                finish_reason=row["finish_reason"],
            )

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, key: str) -> bool:
        return key in self._store

    def get(self, key: str) -> Generation | None:
        """The stored generation, or ``None``."""
        return self._store.get(key)

    def put_many(self, items: Sequence[tuple[str, Generation]]) -> None:
        """Store generations (one append for all of them)."""
        rows = []
        for key, g in items:
            self._store[key] = g
            rows.append(
                {
                    "key": key,
                    "text": g.text,
                    "finish_reason": g.finish_reason,
                    "n_prompt_tokens": g.n_prompt_tokens,
                }
            )
        append_lines(self.path, rows)


class CachedBackend:
    """A backend that answers from a :class:`RequestCache` and sends only what is missing.

    Args:
        backend: the real generator (transformers, OpenAI-compatible, vLLM).
        cache: the request cache.
        chunk_size: requests sent per call of the real backend; each chunk's results are stored before the
            next chunk is sent.

    Attributes:
        hits: requests answered from the cache.
        misses: requests sent to the real backend.
    """

    def __init__(self, backend: Backend, cache: RequestCache, chunk_size: int = 8) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self.backend, self.cache, self.chunk_size = backend, cache, chunk_size
        self._desc = backend.describe()
        self.hits = 0
        self.misses = 0

    def generate(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[Generation]:
        """One generation per prompt, in order; cached answers are reused, new ones stored as they come."""
        keys = [request_key(self._desc, p, decoding) for p in prompts]
        todo: dict[str, Prompt] = {}
        for k, p in zip(keys, prompts):
            if k in self.cache:
                self.hits += 1
            elif k in todo:
                self.hits += 1  # the same request twice in one call is sent once
            else:
                todo[k] = p
        pending = list(todo.items())
        for start in range(0, len(pending), self.chunk_size):
            chunk = pending[start : start + self.chunk_size]
            gens = self.backend.generate([p for _, p in chunk], decoding)
            self.misses += len(chunk)
            self.cache.put_many([(k, g) for (k, _), g in zip(chunk, gens)])
        out = []
        for k in keys:
            g = self.cache.get(k)
            assert g is not None
            out.append(g)
        return out

    def describe(self) -> dict[str, Any]:
        return {**self._desc, "cache": str(self.cache.path)}

    def stats(self) -> dict[str, int]:
        """``{"cache_hits", "requests_sent", "cache_size"}``."""
        return {"cache_hits": self.hits, "requests_sent": self.misses, "cache_size": len(self.cache)}


class Journal:
    """One JSON line per finished batch of a resumable run.

    Args:
        path: the journal file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _repair_tail(self.path)
        self.entries: list[dict[str, Any]] = read_jsonl(self.path)

    def append(self, entry: dict[str, Any]) -> None:
        """Record a finished batch (one atomic line)."""
        append_lines(self.path, [entry])
        self.entries.append(entry)
