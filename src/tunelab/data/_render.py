"""The one chat renderer (training, evaluation and the server render through it) and the ids that
end a turn (what generation stops on).

A chat template may close a turn with a token other than the tokenizer's EOS: Qwen2.5 base models
have EOS ``<|endoftext|>`` while their turns end with ``<|im_end|>``. Stopping only on EOS and the
generation config's ids would let such a model run past the end of its turn, so the end-of-turn
token is read from the template itself: the first special token it writes after an assistant
message's content.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from tunelab.errors import TunelabError

__all__ = ["render_chat", "end_of_turn_ids", "stop_token_ids", "note_pad_is_eos"]

log = logging.getLogger("tunelab.data")

_SENTINEL = "tunelab-end-of-turn-probe"
_told_pad_is_eos: set[str] = set()


def render_chat(tokenizer: Any, messages: Sequence[dict[str, Any]], add_generation_prompt: bool) -> str:
    """Render messages with the tokenizer's chat template as text (the template's default system
    prompt included, as the template decides).

    Raises:
        TunelabError: the template returned something other than text.
    """
    msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
    out = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=add_generation_prompt)
    if not isinstance(out, str):  # transformers 5 returns str for tokenize=False; guard against other shapes
        raise TunelabError(f"apply_chat_template(tokenize=False) returned {type(out).__name__}, expected str")
    return out


def end_of_turn_ids(tokenizer: Any) -> set[int]:
    """The special token(s) the chat template writes right after an assistant message (empty when the
    tokenizer has no template, or the template writes no special token there)."""
    if not getattr(tokenizer, "chat_template", None):
        return set()
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": _SENTINEL}]
    try:
        text = render_chat(tokenizer, msgs, False)
    except Exception:  # noqa: BLE001 - a template that cannot render this probe simply names no end token
        return set()
    at = text.rfind(_SENTINEL)
    if at < 0:
        return set()
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    special.update(int(i) for i in getattr(tokenizer, "added_tokens_decoder", {}) or {})
    after = tokenizer(text[at + len(_SENTINEL) :], add_special_tokens=False)["input_ids"]
    for t in after:
        if int(t) in special:
            return {int(t)}
    return set()


def stop_token_ids(tokenizer: Any, generation_eos: int | Sequence[int] | None = None) -> list[int]:
    """Every id that ends generation: the tokenizer's EOS, the generation config's EOS ids and the chat
    template's end-of-turn token.

    Raises:
        TunelabError: none at all (generation could never stop).
    """
    ids = set(end_of_turn_ids(tokenizer))
    for src in (tokenizer.eos_token_id, generation_eos):
        if isinstance(src, int):
            ids.add(src)
        elif isinstance(src, (list, tuple)):
            ids.update(int(i) for i in src)
    if not ids:
        raise TunelabError("the tokenizer has no EOS token and its template no end-of-turn token")
    return sorted(ids)


def note_pad_is_eos(tokenizer: Any) -> None:
    """Say once per process, per EOS token, that pad == EOS is fine here (masks never use the pad id)."""
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id != tokenizer.eos_token_id:
        return
    key = str(tokenizer.eos_token)
    if key in _told_pad_is_eos:
        return
    _told_pad_is_eos.add(key)
    log.info(
        "pad token == EOS token (%r): fine here, tunelab's loss masks come from the message spans, never "
        "from the pad id, so EOS keeps its loss and the model learns to stop",
        tokenizer.eos_token,
    )
