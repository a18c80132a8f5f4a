"""The built-in record shapes: ``tunelab``, ``messages``, ``sharegpt``, ``alpaca``, ``prompt-completion``,
``classification`` and ``qa``, each a parser (record -> Example, with problems) and an emitter, registered in
detection order when :mod:`tunelab.data` is imported. The registry and shared helpers are in ``_formats``."""

from __future__ import annotations

from typing import Any

from tunelab.data._example import ROLES, Example
from tunelab.data._formats import (
    FieldProblem,
    Format,
    LossyConversion,
    _extras,
    _parse_id,
    _parse_turns,
    _put,
    _single_turn,
    _split_prefix,
    _split_suffix,
    _text,
    _with_id,
    maybe_json,
    register_format,
)
from tunelab.data._io import json_type_name as _tname

__all__: list[str] = []


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
