"""Record shapes ("formats") and the registry that maps them to and from :class:`Example`.

A format is a pair of plain functions: ``parse(record) -> Example`` (collecting every problem)
and ``emit(example) -> record`` (raising :class:`LossyConversion` when the shape cannot hold the
example). Fields a shape does not know are kept in ``meta`` and written back as top-level
fields, so a conversion A -> B -> A returns the original records whenever B can hold them.

Adding a shape (for instance a benchmark adapter) is one call::

    register_format(Format("medcalc", parse=parse_medcalc, emit=None, detect=lambda keys: "Patient Note" in keys))
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

from tunelab.data._example import Example
from tunelab.data._guards import TooDeep, loads_bounded
from tunelab.data._io import RawRecord
from tunelab.data._io import json_type_name as _tname
from tunelab.errors import InputError

__all__ = [
    "Format",
    "FieldProblem",
    "LossyConversion",
    "register_format",
    "get_format",
    "detect_format",
    "format_names",
    "maybe_json",
]

# (field, message) pairs; the scanner adds file and line.
FieldProblem = tuple[str, str]


class LossyConversion(Exception):
    """The target shape cannot hold this example without losing something."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Format:
    """A record shape.

    Attributes:
        name: the name used with ``format=`` and ``--format``.
        parse: ``(record, structured_as_text) -> (Example | None, problems)``; ``structured_as_text``
            is True for CSV/Parquet, where nested values may arrive JSON-encoded.
        emit: ``Example -> record``; raises :class:`LossyConversion`. ``None`` for read-only shapes.
        detect: ``keys -> bool`` used for automatic detection from the first record's keys.
        turns_field: the field named in "does not end with an assistant turn" problems.
    """

    name: str
    parse: Callable[[dict[str, Any], bool], tuple[Example | None, list[FieldProblem]]]
    emit: Callable[[Example], dict[str, Any]] | None
    detect: Callable[[Collection[str]], bool] | None = None
    turns_field: str = "messages"
    read: Callable[[Any], Iterator[RawRecord]] | None = None


_REGISTRY: dict[str, Format] = {}


def register_format(fmt: Format, replace: bool = False) -> None:
    """Add a record shape to the registry (detection tries shapes in registration order).

    Args:
        fmt: the shape.
        replace: allow replacing a shape of the same name.

    Raises:
        ValueError: a shape of that name exists and ``replace`` is False.
    """
    if fmt.name in _REGISTRY and not replace:
        raise ValueError(f"format {fmt.name!r} is already registered")
    _REGISTRY[fmt.name] = fmt


def format_names() -> list[str]:
    """Names of the registered shapes, in detection order."""
    return list(_REGISTRY)


def get_format(name: str) -> Format:
    """The shape called ``name``.

    Raises:
        InputError: no such shape (the message lists the known ones).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown format {name!r} (known: {', '.join(_REGISTRY)})", field="format") from None


def detect_format(keys: Collection[str]) -> Format | None:
    """The first registered shape whose ``detect`` accepts these keys, or ``None``."""
    for fmt in _REGISTRY.values():
        if fmt.detect is not None and fmt.detect(keys):
            return fmt
    return None


# ---------------------------------------------------------------- helpers


def _text(d: dict[str, Any], key: str, probs: list[FieldProblem], required: bool = True) -> str | None:
    if key not in d:
        if required:
            probs.append((key, "missing"))
        return None
    v = d[key]
    if not isinstance(v, str):
        probs.append((key, f"expected a string, got {_tname(v)}"))
        return None
    if required and not v.strip():
        probs.append((key, "empty"))
    return v


def maybe_json(v: Any, as_text: bool) -> Any:
    """Decode a JSON-encoded nested value (``[...]``/``{...}`` text) read from a text format (CSV, Parquet)."""
    if as_text and isinstance(v, str) and v[:1] in "[{":
        try:
            return loads_bounded(v)
        except (json.JSONDecodeError, TooDeep):
            return v
    return v


def _parse_id(d: dict[str, Any], probs: list[FieldProblem]) -> str:
    v = d.get("id", "")
    if isinstance(v, bool) or not isinstance(v, str | int):
        probs.append(("id", f"expected a string, got {_tname(v)}"))
        return ""
    return str(v)


def _parse_turns(
    value: Any, fld: str, role_key: str, content_key: str, role_map: dict[str, str], probs: list[FieldProblem]
) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        probs.append((fld, f"expected an array of turns, got {_tname(value)}"))
        return []
    if not value:
        probs.append((fld, "empty conversation"))
    turns: list[dict[str, Any]] = []
    for i, t in enumerate(value):
        where = f"{fld}[{i}]"
        if not isinstance(t, dict):
            probs.append((where, f"expected an object, got {_tname(t)}"))
            continue
        n = len(probs)
        role = None
        if role_key not in t:
            probs.append((role_key, "missing"))
        else:
            role = _text(t, role_key, probs)
            if isinstance(role, str) and role.strip() and role not in role_map:
                probs.append((role_key, f"unknown role {role!r} (expected one of {', '.join(role_map)})"))
        content = _text(t, content_key, probs)
        for j in range(n, len(probs)):  # qualify the new problems with the turn index
            probs[j] = (f"{where}.{probs[j][0]}", probs[j][1])
        if len(probs) == n and isinstance(role, str) and isinstance(content, str):
            extra = {k: v for k, v in t.items() if k not in (role_key, content_key)}
            turns.append({"role": role_map[role], "content": content, **extra})
    return turns


def _extras(d: dict[str, Any], consumed: Collection[str], as_text: bool) -> dict[str, Any]:
    # Text containers (CSV, Parquet) store nested extra values JSON-encoded: decode them back.
    return {k: maybe_json(v, as_text) for k, v in d.items() if k not in consumed}


def _put(out: dict[str, Any], meta: dict[str, Any], fmt: str) -> dict[str, Any]:
    for k, v in meta.items():
        if k in out:
            raise LossyConversion(k, f"meta key {k!r} collides with a {fmt} field of the same name")
        out[k] = v
    return out


def _single_turn(ex: Example, fmt: str, allow_system: bool) -> tuple[str | None, str, str]:
    roles = [m["role"] for m in ex.messages]
    ok = roles in (["user", "assistant"], ["system", "user", "assistant"] if allow_system else None)
    if not ok:
        want = "[system,] user, assistant" if allow_system else "user, assistant"
        raise LossyConversion(
            "messages",
            f"{fmt} holds exactly one exchange ({want}); this example has turns [{', '.join(roles)}]",
        )
    for m in ex.messages:
        if set(m) - {"role", "content"}:
            raise LossyConversion(
                "messages", f"{fmt} cannot hold turn fields {sorted(set(m) - {'role', 'content'})}"
            )
    system = ex.messages[0]["content"] if roles[0] == "system" else None
    return system, ex.messages[-2]["content"], ex.messages[-1]["content"]


def _with_id(ex: Example) -> dict[str, Any]:
    return {"id": ex.id} if ex.id else {}


def _split_suffix(text: str, part: str | None, fld: str, sep: str = "\n\n") -> tuple[str, str]:
    """Undo ``head + sep + part`` for a ``part`` the reader kept in meta."""
    if not part:
        return text, ""
    if not text.endswith(sep + part):
        raise LossyConversion(
            fld, f"meta {fld} no longer matches the end of the user turn; cannot split it back"
        )
    return text[: -len(sep + part)], part


def _split_prefix(text: str, part: str | None, fld: str, sep: str = "\n\n") -> tuple[str, str | None]:
    """Undo ``part + sep + tail`` for a ``part`` the reader kept in meta."""
    if part is None or part == "":
        return text, part
    if not text.startswith(part + sep):
        raise LossyConversion(
            fld, f"meta {fld} no longer matches the start of the user turn; cannot split it back"
        )
    return text[len(part + sep) :], part
