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

from tunelab.data._example import ROLES, Example
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


# ---------------------------------------------------------------- chat shapes


def _parse_messages(d: dict[str, Any], as_text: bool) -> tuple[Example | None, list[FieldProblem]]:
    probs: list[FieldProblem] = []
    if "messages" not in d:
        return None, [("messages", "missing")]
    turns = _parse_turns(
        maybe_json(d["messages"], as_text), "messages", "role", "content", {r: r for r in ROLES}, probs
    )
    ex_id = _parse_id(d, probs)
    meta = _extras(d, ("messages", "id"), as_text)
    return (None if probs else Example(messages=turns, meta=meta, id=ex_id)), probs


def _emit_messages(ex: Example) -> dict[str, Any]:
    return _put({**_with_id(ex), "messages": ex.messages}, ex.meta, "messages")


def _parse_tunelab(d: dict[str, Any], as_text: bool) -> tuple[Example | None, list[FieldProblem]]:
    probs: list[FieldProblem] = [
        (k, "unknown field (tunelab records have id, messages, meta)")
        for k in d
        if k not in ("id", "messages", "meta")
    ]
    if "messages" not in d:
        probs.append(("messages", "missing"))
        return None, probs
    turns = _parse_turns(
        maybe_json(d["messages"], as_text), "messages", "role", "content", {r: r for r in ROLES}, probs
    )
    meta = maybe_json(d.get("meta", {}), as_text)
    if not isinstance(meta, dict):
        probs.append(("meta", f"expected an object, got {_tname(meta)}"))
    ex_id = _parse_id(d, probs)
    return (None if probs else Example(messages=turns, meta=dict(meta), id=ex_id)), probs


def _emit_tunelab(ex: Example) -> dict[str, Any]:
    return ex.to_dict()


_SHAREGPT_ROLES = {
    "human": "user",
    "gpt": "assistant",
    "system": "system",
    "user": "user",
    "assistant": "assistant",
}
_SHAREGPT_BACK = {"user": "human", "assistant": "gpt", "system": "system"}


def _parse_sharegpt(d: dict[str, Any], as_text: bool) -> tuple[Example | None, list[FieldProblem]]:
    probs: list[FieldProblem] = []
    if "conversations" not in d:
        return None, [("conversations", "missing")]
    turns = _parse_turns(
        maybe_json(d["conversations"], as_text), "conversations", "from", "value", _SHAREGPT_ROLES, probs
    )
    ex_id = _parse_id(d, probs)
    meta = _extras(d, ("conversations", "id"), as_text)
    return (None if probs else Example(messages=turns, meta=meta, id=ex_id)), probs


def _emit_sharegpt(ex: Example) -> dict[str, Any]:
    conv = [
        {
            "from": _SHAREGPT_BACK[m["role"]],
            "value": m["content"],
            **{k: v for k, v in m.items() if k not in ("role", "content")},
        }
        for m in ex.messages
    ]
    return _put({**_with_id(ex), "conversations": conv}, ex.meta, "sharegpt")


# ---------------------------------------------------------------- single-exchange shapes


def _single(ex_id: str, system: str | None, user: str, assistant: str, meta: dict[str, Any]) -> Example:
    msgs = ([{"role": "system", "content": system}] if system is not None else []) + [
        {"role": "user", "content": user},
        {"role": "assistant", "content": assistant},
    ]
    return Example(messages=msgs, meta=meta, id=ex_id)


def _parse_alpaca(d: dict[str, Any], as_text: bool) -> tuple[Example | None, list[FieldProblem]]:
    probs: list[FieldProblem] = []
    instr = _text(d, "instruction", probs)
    inp = _text(d, "input", probs, required=False)
    out = _text(d, "output", probs)
    system = _text(d, "system", probs, required=False)
    ex_id = _parse_id(d, probs)
    if probs or instr is None or out is None:
        return None, probs
    meta = _extras(d, ("instruction", "input", "output", "system", "id"), as_text)
    user = instr
    if inp:
        user = f"{instr}\n\n{inp}"
        meta["input"] = inp  # lets the writer split the prompt back into instruction and input
    return _single(ex_id, system, user, out, meta), probs


def _emit_alpaca(ex: Example) -> dict[str, Any]:
    system, user, assistant = _single_turn(ex, "alpaca", allow_system=True)
    meta = dict(ex.meta)
    instr, inp = _split_suffix(user, meta.pop("input", None), "input")
    out: dict[str, Any] = {**_with_id(ex)}
    if system is not None:
        out["system"] = system
    out.update({"instruction": instr, "input": inp, "output": assistant})
    return _put(out, meta, "alpaca")


def _parse_prompt_completion(d: dict[str, Any], as_text: bool) -> tuple[Example | None, list[FieldProblem]]:
    probs: list[FieldProblem] = []
    prompt = _text(d, "prompt", probs)
    completion = _text(d, "completion", probs)
    ex_id = _parse_id(d, probs)
    if probs or prompt is None or completion is None:
        return None, probs
    return _single(
        ex_id, None, prompt, completion, _extras(d, ("prompt", "completion", "id"), as_text)
    ), probs


def _emit_prompt_completion(ex: Example) -> dict[str, Any]:
    _, user, assistant = _single_turn(ex, "prompt-completion", allow_system=False)
    return _put({**_with_id(ex), "prompt": user, "completion": assistant}, ex.meta, "prompt-completion")


def _scalar(d: dict[str, Any], key: str, probs: list[FieldProblem]) -> Any:
    if key not in d:
        probs.append((key, "missing"))
        return None
    v = d[key]
    if isinstance(v, str):
        if not v.strip():
            probs.append((key, "empty"))
        return v
    if isinstance(v, bool | int | float):
        return v
    probs.append((key, f"expected a string or number, got {_tname(v)}"))
    return None


def _typed_back(meta: dict[str, Any], key: str, content: str) -> Any:
    """A non-string value the reader kept in meta (e.g. an integer label), when it still matches."""
    if key in meta:
        v = meta.pop(key)
        if str(v) != content:
            raise LossyConversion(key, f"meta {key}={v!r} disagrees with the assistant turn {content!r}")
        return v
    return content


def _parse_classification(d: dict[str, Any], as_text: bool) -> tuple[Example | None, list[FieldProblem]]:
    probs: list[FieldProblem] = []
    text = _text(d, "text", probs)
    label = _scalar(d, "label", probs)
    ex_id = _parse_id(d, probs)
    if probs or text is None or label is None:
        return None, probs
    meta = _extras(d, ("text", "label", "id"), as_text)
    if not isinstance(label, str):
        meta["label"] = label  # keeps the label's type (e.g. 1 vs "1")
    return _single(ex_id, None, text, str(label), meta), probs


def _emit_classification(ex: Example) -> dict[str, Any]:
    _, user, assistant = _single_turn(ex, "classification", allow_system=False)
    meta = dict(ex.meta)
    label = _typed_back(meta, "label", assistant)
    return _put({**_with_id(ex), "text": user, "label": label}, meta, "classification")


def _parse_qa(d: dict[str, Any], as_text: bool) -> tuple[Example | None, list[FieldProblem]]:
    probs: list[FieldProblem] = []
    question = _text(d, "question", probs)
    answer = _scalar(d, "answer", probs)
    context = _text(d, "context", probs, required=False)
    ex_id = _parse_id(d, probs)
    if probs or question is None or answer is None:
        return None, probs
    meta = _extras(d, ("question", "answer", "context", "id"), as_text)
    user = question
    if context is not None:
        user = f"{context}\n\n{question}" if context else question
        meta["context"] = context  # lets the writer split the prompt back
    if not isinstance(answer, str):
        meta["answer"] = answer
    return _single(ex_id, None, user, str(answer), meta), probs


def _emit_qa(ex: Example) -> dict[str, Any]:
    _, user, assistant = _single_turn(ex, "qa", allow_system=False)
    meta = dict(ex.meta)
    answer = _typed_back(meta, "answer", assistant)
    question, context = _split_prefix(user, meta.pop("context", None), "context")
    out: dict[str, Any] = {**_with_id(ex), "question": question, "answer": answer}
    if context is not None:
        out["context"] = context
    return _put(out, meta, "qa")


register_format(
    Format(
        "tunelab",
        _parse_tunelab,
        _emit_tunelab,
        lambda k: "messages" in k and "meta" in k and set(k) <= {"id", "messages", "meta"},
    )
)
register_format(Format("messages", _parse_messages, _emit_messages, lambda k: "messages" in k))
register_format(
    Format(
        "sharegpt",
        _parse_sharegpt,
        _emit_sharegpt,
        lambda k: "conversations" in k,
        turns_field="conversations",
    )
)
register_format(
    Format(
        "alpaca",
        _parse_alpaca,
        _emit_alpaca,
        lambda k: "instruction" in k and "output" in k,
        turns_field="output",
    )
)
register_format(
    Format(
        "prompt-completion",
        _parse_prompt_completion,
        _emit_prompt_completion,
        lambda k: "prompt" in k and "completion" in k,
        turns_field="completion",
    )
)
register_format(
    Format(
        "qa",
        _parse_qa,
        _emit_qa,
        lambda k: "question" in k and "answer" in k and not ({"options", "answer_idx"} & set(k)),
        turns_field="answer",
    )
)
register_format(
    Format(
        "classification",
        _parse_classification,
        _emit_classification,
        lambda k: "text" in k and "label" in k,
        turns_field="label",
    )
)
