"""Human-written general text that no tunelab generator produced and no tunelab model trains on: paragraphs of
prose from the Python 3.11 standard library's docstrings (module, class and function docstrings of ~100
modules; paragraphs of 25+ words of plain prose, no code or doctest lines), shipped as package data with the
Python licence (``texts/PYTHON-LICENSE.txt``; the docstrings are under the PSF licence).

The extract is a fixed file, hash-checked on every read, so the same text measures forgetting on every
machine. It serves as a forgetting measure only: the replay text of training comes from tunelab's own
general-text generator, and a test checks that this text shares no 13-gram with any training or replay text.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tunelab.errors import InputError

__all__ = ["HUMAN_TEXT_SHA256", "human_texts"]

_PATH = Path(__file__).parent / "texts" / "python_docstrings.jsonl"
#: sha256 of ``texts/python_docstrings.jsonl`` (180 paragraphs, 54,806 bytes)
HUMAN_TEXT_SHA256 = "71f4ce2c6b3b07d770f52ab1117d0bc73458e29fe23594d736afb32facd0a8d7"


def human_texts(n: int | None = None) -> list[tuple[str, str]]:
    """The shipped human-written paragraphs, in file order.

    Args:
        n: at most this many (the first ``n``); all when ``None``.

    Returns:
        ``(source, text)`` pairs; ``source`` names the docstring (``"shelve.open"``).

    Raises:
        InputError: the file is missing or its hash differs from :data:`HUMAN_TEXT_SHA256`.
    """
    if not _PATH.is_file():
        raise InputError("the shipped forgetting text is missing (reinstall tunelab)", file=str(_PATH))
    raw = _PATH.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != HUMAN_TEXT_SHA256:
        raise InputError(f"sha256 {digest} differs from the expected {HUMAN_TEXT_SHA256}", file=str(_PATH))
    rows = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    pairs = [(str(r["source"]), str(r["text"])) for r in rows]
    return pairs if n is None else pairs[: max(0, n)]
