"""Bounds on hostile or broken input, checked before the work they would blow up.

Every limit here becomes a located problem (``FILE:LINE: field: message``) on the one record that broke it;
the other records of the file are read as usual. Whole-file problems (a UTF-16 file, a binary file) are one
clear line each (:func:`tunelab._text.check_text_file`).

- record size: :data:`MAX_RECORD_BYTES` per line (JSONL, CSV) or per record (JSON);
- nesting depth: :data:`MAX_DEPTH` levels of arrays and objects (Python's JSON decoder would recurse until
  ``RecursionError``);
- turns: :data:`MAX_TURNS` per conversation. Loss masks render the conversation up to each assistant turn, so
  encoding costs O(turns^2): on the tiny model's tokenizer one record of 256 short turns took 1.4 s, 1,000 turns
  20 s, and a 10,000-turn record would keep ``train`` busy for half an hour before truncation to ``max_length``
  threw nearly all of it away;
- turn order: a system turn only first; user and assistant alternating, starting with user; ``tool``
  turns only right after an assistant turn or another tool turn.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

__all__ = [
    "MAX_DEPTH",
    "MAX_RECORD_BYTES",
    "MAX_TURNS",
    "TooDeep",
    "depth_problem",
    "loads_bounded",
    "read_lines_bounded",
    "record_too_large",
    "turn_order_problems",
]

MAX_DEPTH = 64
MAX_TURNS = 256
MAX_RECORD_BYTES = 16 * 1024 * 1024


def _too_deep_message() -> str:
    return f"nested more than {MAX_DEPTH} levels deep (arrays and objects); tunelab reads at most {MAX_DEPTH}"


class TooDeep(ValueError):
    """A JSON value nested deeper than :data:`MAX_DEPTH`.

    Attributes:
        field: the top-level key under which it is too deep, or ``json`` when it could not be decoded.
    """

    def __init__(self, field: str = "json") -> None:
        super().__init__(_too_deep_message())
        self.field = field


def _depth_exceeded(obj: Any, limit: int) -> str | None:
    """The top-level key (or ``""``) under which ``obj`` nests deeper than ``limit``; ``None`` when it does not."""
    stack: list[tuple[Any, int, str]] = [(obj, 1, "")]
    while stack:
        v, d, top = stack.pop()
        if isinstance(v, dict):
            if d > limit:
                return top
            stack.extend((x, d + 1, top or str(k)) for k, x in v.items())
        elif isinstance(v, list):
            if d > limit:
                return top
            stack.extend((x, d + 1, top) for x in v)
    return None


def depth_problem(obj: Any) -> tuple[str, str] | None:
    """``(field, message)`` when a decoded record nests deeper than :data:`MAX_DEPTH`, else ``None``."""
    top = _depth_exceeded(obj, MAX_DEPTH)
    return None if top is None else (top or "json", _too_deep_message())


def loads_bounded(text: str) -> Any:
    """``json.loads`` that fails with :class:`TooDeep` instead of ``RecursionError`` on deep nesting.

    Raises:
        json.JSONDecodeError: malformed JSON.
        TooDeep: more than :data:`MAX_DEPTH` levels.
    """
    try:
        obj = json.loads(text)
    except RecursionError:
        raise TooDeep() from None
    top = _depth_exceeded(obj, MAX_DEPTH)
    if top is not None:
        raise TooDeep(top or "json")
    return obj


def read_lines_bounded(
    fh: IO[bytes], limit: int = MAX_RECORD_BYTES
) -> Iterator[tuple[int, bytes | None, int]]:
    """The lines of a binary file, never holding more than ``limit`` bytes of one line in memory.

    Yields:
        ``(line number, bytes or None when the line is longer than limit, length in bytes)``.
    """
    lineno = 0
    while True:
        raw = fh.readline(limit + 1)
        if not raw:
            return
        lineno += 1
        if len(raw) <= limit or raw.endswith(b"\n"):
            yield lineno, raw, len(raw)
            continue
        size = len(raw)
        while raw and not raw.endswith(b"\n"):  # skip the rest of the line, a block at a time
            raw = fh.readline(1 << 20)
            size += len(raw)
        yield lineno, None, size


def record_too_large(size: int) -> str:
    """The message for a record over :data:`MAX_RECORD_BYTES`."""
    return f"record is {size:,} bytes, over the limit of {MAX_RECORD_BYTES:,} bytes"


def _a(word: str) -> str:
    return ("an " if word == "assistant" else "a ") + word


_NEXT: dict[str | None, tuple[str, ...]] = {
    None: ("user",),
    "user": ("assistant",),
    "assistant": ("user", "tool"),
    "tool": ("tool", "assistant"),
}


def turn_order_problems(roles: list[str], field: str) -> list[tuple[str, str]]:
    """Problems with the order of a conversation's turns.

    A system turn may only come first; then user and assistant alternate, starting with user; a ``tool``
    turn may only follow an assistant turn or another tool turn, and the turn after tool turns is the
    assistant's. (Whether the conversation must end with an assistant turn is the caller's rule: training
    needs it, evaluation prompts do not.)

    Args:
        roles: the turns' roles, in order.
        field: the turns field of the record shape (``messages``, ``conversations``), for the problem.

    Returns:
        ``(field, message)`` pairs, at most one per turn.
    """
    probs: list[tuple[str, str]] = []
    if len(roles) > MAX_TURNS:
        return [(field, f"{len(roles):,} turns, over the limit of {MAX_TURNS:,} turns per conversation")]
    prev: str | None = None
    for i, role in enumerate(roles):
        where = f"{field}[{i}].role"
        if role == "system":
            if i > 0:
                probs.append((where, "a system turn is allowed only as the first turn"))
            continue
        allowed = _NEXT.get(prev, ("user", "assistant"))
        if role not in allowed:
            after = "at the start" if prev is None else f"after {_a(prev)} turn"
            probs.append((where, f"{_a(role)} turn {after} (expected {' or '.join(allowed)})"))
            break  # the turns after a misplaced one are all off by one: one problem says it
        prev = role
    return probs
