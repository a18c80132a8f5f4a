"""One request inside the running batch: its events, incremental detokenization, stop strings, logprobs.

Text is decoded incrementally (the prefix-offset method of Hugging Face's text-generation-inference):
each new token is decoded together with the few tokens before it and only the new characters are kept,
so a step costs a constant amount of tokenizer work instead of decoding the whole answer again.
Text is sent as soon as it is safe to show: an incomplete UTF-8 sequence, or a tail that could still
grow into a stop string, is held back until the next token decides it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "Event",
    "Failed",
    "Finished",
    "GenerationRequest",
    "Row",
    "TextDelta",
    "TokenLogprob",
]


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token: its own text (special tokens shown as such), log-probability under the model
    (before temperature and top-p), the most likely alternatives, and where its text starts in the
    answer (characters)."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...]
    offset: int


@dataclass(frozen=True)
class TextDelta:
    """New text for a request, with the log-probabilities of the tokens it came from (when asked)."""

    text: str
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True)
class Finished:
    """The request is done. ``finish_reason`` is ``stop`` (end of turn or a stop string) or ``length``."""

    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Failed:
    """Generation failed for this request; ``status`` is the HTTP status it maps to."""

    message: str
    status: int = 500
    code: str | None = None


Event = TextDelta | Finished | Failed


@dataclass
class GenerationRequest:
    """One prompt to complete.

    Args:
        prompt_ids: token ids of the rendered prompt.
        max_new_tokens: at most this many generated tokens (the end-of-turn token included in the count).
        on_event: called from the engine's thread with each :data:`Event`.
        temperature: 0 means greedy decoding.
        top_p: nucleus sampling threshold (sampling only).
        stop: stop strings; the text is cut before the first one found.
        seed: seeds this request's own random generator, so a seeded answer does not depend on what
            else is in the batch.
        logprobs: ``None`` for no log-probabilities, else how many alternatives per token to report.
        timeout_s: the request fails (504) when it is not finished this long after it was submitted.
    """

    prompt_ids: list[int]
    max_new_tokens: int
    on_event: Callable[[Event], None]
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: int | None = None
    timeout_s: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    submitted_at: float = field(default_factory=time.monotonic)

    def expired(self, now: float) -> bool:
        """Past its timeout."""
        return self.timeout_s is not None and now - self.submitted_at > self.timeout_s


class Row:
    """Decoding state of one request inside the running batch (owned by the engine's thread)."""

    def __init__(self, req: GenerationRequest, tokenizer: PreTrainedTokenizerBase, eos_ids: set[int]) -> None:
        self.req = req
        self.tok = tokenizer
        self.eos_ids = eos_ids
        self.decoding: Any = None  # the sampling settings and generator, set by the engine
        self.generator: Any = None
        self.ids: list[int] = []
        self.text = ""  # the decoded answer so far
        self.emitted = 0  # characters of self.text already sent
        self._prefix = 0  # incremental detokenization offsets into self.ids
        self._read = 0
        self._pending: list[TokenLogprob] = []  # logprobs of tokens whose text is not sent yet
        self.done = False

    @property
    def remaining(self) -> int:
        """Tokens this row may still generate."""
        return self.req.max_new_tokens - len(self.ids)

    def _send(self, ev: Event) -> None:
        try:
            self.req.on_event(ev)
        except RuntimeError:  # the client's event loop is gone (client went away): stop this row
            self.done = True

    def _release(self, cut: int) -> None:
        """Send text up to character ``cut`` with the logprobs of the tokens that start before it."""
        lps = tuple(p for p in self._pending if p.offset < cut)
        if cut > self.emitted or lps:
            self._send(TextDelta(self.text[self.emitted : cut], lps))
        self._pending = [p for p in self._pending if p.offset >= cut]
        self.emitted = max(self.emitted, cut)

    def finish(self, reason: str, cut: int | None = None) -> None:
        """Send the remaining text (up to ``cut``) and the :class:`Finished` event."""
        if self.done:
            return
        if cut is None and self._read < len(self.ids):  # an incomplete UTF-8 tail: shown as it decodes
            tail = self.tok.decode(self.ids[self._prefix :], skip_special_tokens=True)
            head = self.tok.decode(self.ids[self._prefix : self._read], skip_special_tokens=True)
            self.text += str(tail[len(head) :])
        self._release(len(self.text) if cut is None else cut)
        self.done = True
        self._send(Finished(reason, len(self.req.prompt_ids), len(self.ids)))

    def fail(self, message: str, status: int = 500, code: str | None = None) -> None:
        """End the row with a :class:`Failed` event."""
        if not self.done:
            self.done = True
            self._send(Failed(message, status, code))

    def _decode_new(self) -> str:
        """The characters the newest token adds (empty while it ends in an incomplete UTF-8 sequence)."""
        prefix = str(self.tok.decode(self.ids[self._prefix : self._read], skip_special_tokens=True))
        full = str(self.tok.decode(self.ids[self._prefix :], skip_special_tokens=True))
        if len(full) > len(prefix) and not full.endswith("\ufffd"):
            self._prefix, self._read = self._read, len(self.ids)
            return full[len(prefix) :]
        return ""

    def push(self, token: int, logprob: TokenLogprob | None = None) -> None:
        """Take one generated token; send safe text; decide whether the row is finished."""
        if self.done:
            return
        if self.req.cancelled.is_set():
            self.done = True
            return
        self.ids.append(token)
        if token in self.eos_ids:  # end of turn: not part of the text, nor of the logprobs
            self.finish("stop")
            return
        start = len(self.text)
        self.text += self._decode_new()
        if logprob is not None:
            self._pending.append(TokenLogprob(logprob.token, logprob.logprob, logprob.top, start))
        stops = self.req.stop
        if stops:
            longest = max(len(s) for s in stops)
            begin = max(0, self.emitted - longest)
            hits = [i for i in (self.text.find(s, begin) for s in stops) if i >= 0]
            if hits:
                self.finish("stop", min(hits))
                return
        if len(self.ids) >= self.req.max_new_tokens:
            self.finish("length")
            return
        safe = len(self.text)
        hold = 0
        for s in stops:  # keep back a tail that may grow into a stop string
            for k in range(min(len(s) - 1, safe - self.emitted), hold, -1):
                if self.text[safe - k : safe] == s[:k]:
                    hold = k
                    break
        if safe - hold > self.emitted:
            self._release(safe - hold)
