"""Tokenization with loss masks.

Chat rendering: the conversation is rendered with the tokenizer's chat template as text and
tokenized with ``add_special_tokens=False`` (the template already writes BOS where the model
wants one; letting the tokenizer add another would double it). The assistant spans are found
by rendering the conversation incrementally: the prompt before assistant turn *i* (with the
generation prompt) and the conversation up to turn *i* must both be *token* prefixes of the
full rendering, else masking would be misaligned and :func:`encode` refuses (REFERENCE.md §4.1).
Labels cover the assistant content and its end-of-turn token, nothing after it.

Plain rendering (the fixed fine-tuning format): ``BOS +`` :func:`plain_prompt` then the completion and
EOS, tokenized separately so the boundary is exact; loss on the completion and EOS.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from tunelab.data._example import Example
from tunelab.data._render import end_of_turn_ids, note_pad_is_eos, render_chat
from tunelab.errors import InputError, TunelabError

__all__ = [
    "IGNORE_INDEX",
    "EncodeReport",
    "encode",
    "encode_with_report",
    "plain_prompt",
    "END_OF_TURN_TOKENS",
]

log = logging.getLogger("tunelab.data")

#: the label of a position that carries no loss (PyTorch's cross-entropy ``ignore_index`` default)
IGNORE_INDEX = -100
# Special tokens that close a turn in common chat templates (Llama 3, ChatML/Qwen, Phi-3, Gemma, Llama 2, GPT-2).
END_OF_TURN_TOKENS = ("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "</s>", "<|endoftext|>")

Mask = Literal["assistant", "last", "none"]
Render = Literal["chat", "plain"]
Overlong = Literal["drop", "truncate"]


@dataclass
class EncodeReport:
    """Counts of what :func:`encode_with_report` did; ``dropped`` lists ``(example id, reason)``."""

    encoded: int = 0
    dropped_overlong: int = 0
    truncated: int = 0
    dropped_all_masked: int = 0
    warnings: list[str] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "encoded": self.encoded,
            "dropped_overlong": self.dropped_overlong,
            "truncated": self.truncated,
            "dropped_all_masked": self.dropped_all_masked,
            "warnings": list(self.warnings),
        }


def plain_prompt(messages: list[dict[str, Any]]) -> str:
    """The prompt text of the plain (fine-tuning) format: the non-assistant contents joined by a blank line.

    The one plain renderer: training (``render="plain"``), evaluation (``prompt.format: plain``), generation
    and data statistics all call it, so a system turn or several user turns render the same everywhere.

    Nothing is added between prompt and completion: a fixed task format carries its own separator
    (``"Headline: ...\nSentiment:"`` then ``" positive"``), so training and evaluation see the same bytes.
    """
    return "\n\n".join(m["content"] for m in messages if m["role"] != "assistant")


def _ids(tok: Any, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"])


def _render(tok: Any, msgs: list[dict[str, Any]], gen: bool) -> str:
    return render_chat(tok, msgs, gen)


def _end_ids(tok: Any) -> set[int]:
    vocab = tok.get_vocab()
    ids = {vocab[t] for t in END_OF_TURN_TOKENS if t in vocab} | end_of_turn_ids(tok)
    if tok.eos_token_id is not None:
        ids.add(int(tok.eos_token_id))
    return ids


def _chat_spans(
    tok: Any, ex: Example, ids: list[int], end_ids: set[int], mask: Mask, warn: list[str]
) -> list[tuple[int, int]]:
    msgs = [{"role": m["role"], "content": m["content"]} for m in ex.messages]
    turns = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
    if mask == "last":
        turns = turns[-1:]
    spans = []
    for i in turns:
        pre = _ids(tok, _render(tok, msgs[:i], True)) if i > 0 else []
        post = _ids(tok, _render(tok, msgs[: i + 1], False))
        for name, part in (("the prompt before", pre), ("the conversation up to", post)):
            if ids[: len(part)] != part:
                raise TunelabError(
                    f"example {ex.id!r}: {name} assistant turn {i} does not render to a token prefix of the whole "
                    "conversation, so loss masks would be misaligned; fix the chat template (it must render each "
                    "prefix of a conversation as a prefix of the whole) or use render='plain'"
                )
        start, end = len(pre), len(post)
        ends = [j for j in range(start, end) if ids[j] in end_ids]
        if ends:
            end = ends[-1] + 1  # keep the end-of-turn token, drop what the template writes after it
        else:
            warn.append(
                f"example {ex.id!r}: no end-of-turn/EOS token after assistant turn {i}; the model will not learn to stop"
            )
        spans.append((start, end))
    return spans


def _encode_one(
    tok: Any, ex: Example, mask: Mask, render: Render, end_ids: set[int], warn: list[str]
) -> tuple[list[int], list[int]]:
    if render == "chat":
        ids = _ids(
            tok, _render(tok, [{"role": m["role"], "content": m["content"]} for m in ex.messages], False)
        )
        spans = [(0, len(ids))] if mask == "none" else _chat_spans(tok, ex, ids, end_ids, mask, warn)
    elif render == "plain":
        roles = [m["role"] for m in ex.messages]
        if roles.count("assistant") != 1 or roles[-1] != "assistant":
            raise TunelabError(
                f"example {ex.id!r}: render='plain' needs exactly one assistant turn, at the end (turns: {roles})"
            )
        if tok.eos_token_id is None:
            raise TunelabError("render='plain' needs a tokenizer with an EOS token")
        bos = [int(tok.bos_token_id)] if tok.bos_token_id is not None else []
        prompt = bos + _ids(tok, plain_prompt(ex.messages))
        ids = prompt + _ids(tok, ex.messages[-1]["content"]) + [int(tok.eos_token_id)]
        spans = [(0 if mask == "none" else len(prompt), len(ids))]
    else:
        raise InputError(f"unknown render {render!r} (chat or plain)", field="render")
    labels = [IGNORE_INDEX] * len(ids)
    for s, e in spans:
        labels[s:e] = ids[s:e]
    return ids, labels


def encode_with_report(
    examples: Iterable[Example],
    tokenizer: Any,
    max_length: int,
    mask: Mask = "assistant",
    render: Render = "chat",
    overlong: Overlong = "drop",
) -> tuple[list[dict[str, list[int]]], EncodeReport]:
    """Tokenize examples with loss masks and say what was dropped or cut.

    Args:
        examples: the examples.
        tokenizer: a Hugging Face tokenizer (with a chat template for ``render="chat"``).
        max_length: the longest sequence kept, in tokens.
        mask: ``"assistant"`` (loss on every assistant turn), ``"last"`` (final assistant turn only)
            or ``"none"`` (loss on the whole sequence).
        render: ``"chat"`` (the tokenizer's chat template) or ``"plain"`` (prompt, completion, EOS).
        overlong: ``"drop"`` or ``"truncate"`` examples longer than ``max_length``.

    Returns:
        Rows with ``input_ids``, ``attention_mask`` and ``labels`` (-100 where masked), and the
        :class:`EncodeReport`.

    Raises:
        InputError: an unknown option value.
        TunelabError: the chat template fails the prefix guard (the message names the example id).
    """
    if mask not in ("assistant", "last", "none"):
        raise InputError(f"unknown mask {mask!r} (assistant, last or none)", field="mask")
    if overlong not in ("drop", "truncate"):
        raise InputError(f"unknown overlong {overlong!r} (drop or truncate)", field="overlong")
    if max_length < 1:
        raise InputError("max_length must be positive", field="max_length")
    rep = EncodeReport()
    note_pad_is_eos(tokenizer)  # at most one line per process: labels come from spans, never the pad id
    end_ids = _end_ids(tokenizer) if render == "chat" and mask != "none" else set()
    rows = []
    for ex in examples:
        ids, labels = _encode_one(tokenizer, ex, mask, render, end_ids, rep.warnings)
        if len(ids) > max_length:
            if overlong == "drop":
                rep.dropped_overlong += 1
                rep.dropped.append((ex.id, f"over max_length ({len(ids)} > {max_length} tokens)"))
                continue
            ids, labels = ids[:max_length], labels[:max_length]
            rep.truncated += 1
        if all(x == IGNORE_INDEX for x in labels):
            rep.dropped_all_masked += 1
            rep.dropped.append((ex.id, "every label masked (nothing to learn)"))
            continue
        rows.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    rep.encoded = len(rows)
    for w in rep.warnings[:5]:
        log.warning(w)
    return rows, rep


def encode(
    examples: Iterable[Example],
    tokenizer: Any,
    max_length: int,
    mask: Mask = "assistant",
    render: Render = "chat",
    overlong: Overlong = "drop",
) -> list[dict[str, list[int]]]:
    """Tokenize examples with loss masks (see :func:`encode_with_report` for the arguments).

    Returns:
        Rows with ``input_ids``, ``attention_mask`` and ``labels``.

    Raises:
        TunelabError: the chat template fails the prefix guard.
    """
    return encode_with_report(examples, tokenizer, max_length, mask, render, overlong)[0]
