"""The batching engine: one worker thread owns the model and runs batched ``generate`` calls.

Requests that arrive while the worker is idle are collected for ``batch_wait_s`` (a few ms), or
while a batch is running they simply queue up; the worker then takes up to ``max_batch`` of them,
groups them by sampling settings (``generate`` takes one temperature/top_p per call), left-pads
each group and runs one ``model.generate``.

Per-row work happens in a :class:`transformers.StoppingCriteria` called after every decoding
step: each row tracks its own generated ids, its own ``max_tokens``, its own stop strings, and
pushes text deltas to its request as soon as they are safe to show (text that could still become
a stop string is held back). So streaming is *real* token-by-token streaming out of the batched
call, and streaming and non-streaming requests share one batch.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunelab.data import stop_token_ids

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["GenerationEngine", "GenerationRequest", "TextDelta", "Finished", "Failed", "Event"]

log = logging.getLogger("tunelab.serve")


@dataclass(frozen=True)
class TextDelta:
    """New text for a request."""

    text: str


@dataclass(frozen=True)
class Finished:
    """The request is done. ``finish_reason`` is ``stop`` (EOS or a stop string) or ``length``."""

    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Failed:
    """Generation failed for this request."""

    message: str


Event = TextDelta | Finished | Failed


@dataclass
class GenerationRequest:
    """One prompt to complete.

    Args:
        prompt_ids: token ids of the rendered prompt.
        max_new_tokens: at most this many generated tokens (EOS included in the count).
        temperature: 0 means greedy decoding.
        top_p: nucleus sampling threshold (sampling only).
        stop: stop strings; the text is cut before the first one found.
        on_event: called from the worker thread with each :data:`Event`.
        seed: seeds torch's RNG before the batch (requests with different seeds never share a batch).
    """

    prompt_ids: list[int]
    max_new_tokens: int
    temperature: float
    top_p: float
    stop: tuple[str, ...]
    on_event: Callable[[Event], None]
    seed: int | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    def sampling_key(self) -> tuple[Any, ...]:
        if self.temperature <= 0:
            return ("greedy", self.seed)
        return ("sample", self.temperature, self.top_p, self.seed)


class _Row:
    """Decoding state of one request inside a running batch."""

    def __init__(self, req: GenerationRequest, tokenizer: PreTrainedTokenizerBase, eos_ids: set[int]) -> None:
        self.req = req
        self.tok = tokenizer
        self.eos_ids = eos_ids
        self.ids: list[int] = []
        self.emitted = 0  # characters of the decoded text already sent
        self.done = False

    def _emit(self, text: str) -> None:
        if text:
            self._send(TextDelta(text))

    def _send(self, ev: Event) -> None:
        try:
            self.req.on_event(ev)
        except RuntimeError:  # the client's event loop is gone (client went away): stop this row
            self.done = True

    def _finish(self, reason: str, text: str, cut: int) -> None:
        self._emit(text[self.emitted : cut])
        self.emitted = cut
        self.done = True
        self._send(Finished(reason, len(self.req.prompt_ids), len(self.ids)))

    def push(self, token: int) -> None:
        """Take one generated token; emit safe text; decide whether the row is finished."""
        if self.done:
            return
        if self.req.cancelled.is_set():
            self.done = True
            return
        self.ids.append(token)
        text = str(self.tok.decode(self.ids, skip_special_tokens=True))
        if token in self.eos_ids:
            self._finish("stop", text, len(text))
            return
        stops = self.req.stop
        if stops:
            longest = max(len(s) for s in stops)
            start = max(0, self.emitted - longest)
            hits = [i for i in (text.find(s, start) for s in stops) if i >= 0]
            if hits:
                self._finish("stop", text, min(hits))
                return
        if len(self.ids) >= self.req.max_new_tokens:
            self._finish("length", text, len(text))
            return
        safe = len(text)
        while safe > self.emitted and text[safe - 1] == "\ufffd":  # an incomplete UTF-8 sequence
            safe -= 1
        hold = 0
        for s in stops:  # keep back a tail that may grow into a stop string
            for k in range(min(len(s) - 1, safe - self.emitted), hold, -1):
                if text[safe - k : safe] == s[:k]:
                    hold = k
                    break
        cut = safe - hold
        if cut > self.emitted:
            self._emit(text[self.emitted : cut])
            self.emitted = cut

    def close(self) -> None:
        """Generation ended without this row finishing (e.g. the model's length limit)."""
        if not self.done:
            text = str(self.tok.decode(self.ids, skip_special_tokens=True))
            self._finish("length", text, len(text))


def _make_stopper(rows: list[_Row]) -> Any:
    import torch
    from transformers import StoppingCriteria

    class _RowStopper(StoppingCriteria):
        def __call__(
            self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
        ) -> torch.BoolTensor:
            last = input_ids[:, -1].tolist()  # (B,) the token each row just produced
            for row, tok in zip(rows, last):
                row.push(int(tok))
            return torch.tensor([r.done for r in rows], dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]

    return _RowStopper()


class GenerationEngine:
    """Owns the model; a background worker thread batches and runs the requests.

    Args:
        model: a causal LM (eval mode is set here).
        tokenizer: its tokenizer (must have a pad token).
        max_batch: most requests in one ``generate`` call.
        batch_wait_s: how long an idle worker waits for more requests after the first arrives.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        max_batch: int = 32,
        batch_wait_s: float = 0.005,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_batch = max(1, max_batch)
        self.batch_wait_s = batch_wait_s
        self.eos_ids = self._eos_ids()
        self.batches_run = 0
        self.largest_batch = 0
        self._queue: queue.Queue[GenerationRequest | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def _eos_ids(self) -> set[int]:
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        return set(stop_token_ids(self.tokenizer, gen_eos))

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="tunelab-serve-engine", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Finish queued requests, then stop the worker."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout_s)
            self._thread = None

    def submit(self, req: GenerationRequest) -> None:
        """Queue a request; its events arrive through ``req.on_event``."""
        if self._thread is None:
            raise RuntimeError("the generation engine is not running")
        self._queue.put(req)

    def _collect(self, first: GenerationRequest) -> tuple[list[GenerationRequest], bool]:
        batch = [first]
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.max_batch:
            try:  # take what is already queued at once; wait a little only for the rest
                item = self._queue.get_nowait()
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = self._queue.get(timeout=left)
                except queue.Empty:
                    break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _work(self) -> None:
        import torch

        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch, stopping = self._collect(first)
            groups: dict[tuple[Any, ...], list[GenerationRequest]] = {}
            for r in batch:
                if not r.cancelled.is_set():
                    groups.setdefault(r.sampling_key(), []).append(r)
            for group in groups.values():
                try:
                    with torch.inference_mode():
                        self._generate(group)
                except Exception as e:  # report to the clients; keep serving
                    log.exception("generation failed")
                    for r in group:
                        try:
                            r.on_event(Failed(f"generation failed: {type(e).__name__}: {e}"))
                        except RuntimeError:
                            pass

    def _generate(self, group: list[GenerationRequest]) -> None:
        import torch
        from transformers import GenerationConfig, StoppingCriteriaList

        tok = self.tokenizer
        tok.padding_side = "left"  # generation continues from the last column of every row
        enc = tok.pad({"input_ids": [r.prompt_ids for r in group]}, return_tensors="pt")
        device = next(self.model.parameters()).device
        input_ids = enc["input_ids"].to(device)  # (B, T_prompt) left-padded
        attention_mask = enc["attention_mask"].to(device)  # (B, T_prompt)
        head = group[0]
        sample = head.temperature > 0
        cfg = GenerationConfig(
            max_new_tokens=max(r.max_new_tokens for r in group),
            do_sample=sample,
            temperature=head.temperature if sample else None,
            top_p=head.top_p if sample else None,
            top_k=0 if sample else None,  # OpenAI semantics: no top-k truncation
            pad_token_id=tok.pad_token_id,
            eos_token_id=sorted(self.eos_ids) or None,
        )
        if head.seed is not None:
            torch.manual_seed(head.seed)
        rows = [_Row(r, tok, self.eos_ids) for r in group]
        self.batches_run += 1
        self.largest_batch = max(self.largest_batch, len(group))
        self.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            generation_config=cfg,
            stopping_criteria=StoppingCriteriaList([_make_stopper(rows)]),
        )
        for row in rows:
            row.close()
