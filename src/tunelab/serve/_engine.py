"""The continuous-batching engine: one worker thread owns the model and steps the running batch.

Between two decode steps the worker admits waiting requests (up to ``max_batch`` running) and drops
finished ones, so a short request sent while a long one runs is answered as soon as its own tokens
are done (Orca, Yu et al. 2022, "iteration-level scheduling"). One step:

1. admit: the new prompts get their prompt pass (grouped by similar length, left-padded) and their KV
   caches are joined with the running batch's, left-padded to one width, so the next step runs once
   for every row; each row keeps its own position ids and attends only to its own tokens;
2. choose: each row's next token from its last logits (greedy rows at once; a sampling row with its
   own temperature, top-p and seeded generator), with log-probabilities where asked;
3. push: each row decodes its token, checks end-of-turn ids, stop strings, its token budget and its
   timeout, and sends text to its client;
4. release: finished rows leave the batch and the cache at once (the cache is re-packed without them,
   and columns that only padded them are cut), then one forward pass over the new tokens.

The step loop is the server's own because the generation layer's decode loop runs a fixed set of
prompts to the end; it reuses that layer's prompt pass, cache join and sampling for each step.

Bounds: at most ``max_queue`` requests wait (``submit`` raises :class:`QueueFull`, the app answers 429);
each request may carry a timeout, checked while it waits and at every step.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import TYPE_CHECKING

from tunelab.generation import (
    Decoding,
    Running,
    attending_spans,
    cache_of,
    eos_token_ids,
    forward_kwargs,
    join_groups,
    joinable,
    keep_freed_memory,
    length_groups,
    next_tokens,
    prefill,
    row_spans,
)
from tunelab.models import packed_linears
from tunelab.serve._rows import (
    Event,
    Failed,
    Finished,
    GenerationRequest,
    Row,
    TextDelta,
    TokenLogprob,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "GenerationEngine",
    "GenerationRequest",
    "QueueFull",
    "TextDelta",
    "Finished",
    "Failed",
    "Event",
    "TokenLogprob",
]

log = logging.getLogger("tunelab.serve")

#: tokens/s is averaged over this many recent seconds
RATE_WINDOW_S = 10.0


class QueueFull(Exception):
    """The waiting queue holds ``max_queue`` requests already."""


class _KV:
    """Keys and values of one cache layer, in the shape the generation layer's join reads."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        self.keys, self.values = keys, values


class GenerationEngine:
    """Owns the model; a background worker thread steps the running batch (see the module doc).

    Args:
        model: a causal LM (eval mode is set here).
        tokenizer: its tokenizer (must have a pad token or an EOS token).
        max_batch: most requests decoded together.
        max_queue: most requests waiting to join the batch; one more raises :class:`QueueFull`.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        max_batch: int = 32,
        max_queue: int = 64,
    ) -> None:
        self.model = model.eval()
        if model.device.type == "cpu":
            keep_freed_memory()
        self.tokenizer = tokenizer
        self.max_batch = max(1, max_batch)
        self.max_queue = max(0, max_queue)
        self.eos_ids = set(eos_token_ids(model, tokenizer))
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad) if pad is not None else min(self.eos_ids)
        self._fw = forward_kwargs(model)
        self._joins: bool | None = None  # whether this model's KV cache can be joined (known after a prefill)
        # statistics read by /metrics and tests (written by the worker thread only)
        self.largest_batch = 0
        self.tokens_generated = 0
        self.requests_finished = 0
        self._recent: collections.deque[tuple[float, int]] = collections.deque()
        # state shared with the submitting threads
        self._waiting: collections.deque[GenerationRequest] = collections.deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        # the running batch (worker thread only)
        self._rows: list[Row] = []
        self._batch: Running | None = None

    # ----- the submitting side -----

    @property
    def queue_length(self) -> int:
        """Requests waiting to join the batch."""
        return len(self._waiting)

    @property
    def running(self) -> int:
        """Requests in the running batch."""
        return len(self._rows)

    def tokens_per_s(self) -> float:
        """Generated tokens per second over the last :data:`RATE_WINDOW_S` seconds."""
        cutoff = time.monotonic() - RATE_WINDOW_S
        return sum(n for t, n in list(self._recent) if t >= cutoff) / RATE_WINDOW_S

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._work, name="tunelab-serve-engine", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Finish the running and waiting requests, then stop the worker."""
        if self._thread is not None:
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            self._thread.join(timeout_s)
            self._thread = None

    def submit(self, req: GenerationRequest) -> None:
        """Queue a request; its events arrive through ``req.on_event``.

        Raises:
            QueueFull: ``max_queue`` requests are waiting already.
            RuntimeError: the engine is not running (or is shutting down).
        """
        with self._cond:
            if self._thread is None or self._stopping:
                raise RuntimeError("the generation engine is not running")
            free = max(0, self.max_batch - len(self._rows))  # requests that join at the next step
            if len(self._waiting) >= self.max_queue + free:
                raise QueueFull(f"{len(self._waiting)} requests are waiting already")
            self._waiting.append(req)
            self._cond.notify_all()

    # ----- the worker -----

    def _take(self) -> list[GenerationRequest] | None:
        """Waiting requests to admit now (blocks while there is nothing to do; ``None``: stop)."""
        with self._cond:
            while not self._waiting and self._batch is None:
                if self._stopping:
                    return None
                self._cond.wait()
            now = time.monotonic()
            for r in [r for r in self._waiting if r.cancelled.is_set() or r.expired(now)]:
                self._waiting.remove(r)
                if not r.cancelled.is_set():
                    _timeout(Row(r, self.tokenizer, self.eos_ids))
            if self._batch is not None and self._joins is False:
                return []  # this model's cache cannot take rows mid-flight: admit when the batch is empty
            room = self.max_batch - len(self._rows)
            return [self._waiting.popleft() for _ in range(min(room, len(self._waiting)))]

    def _work(self) -> None:
        import torch

        with torch.inference_mode(), packed_linears(self.model):
            while (admitted := self._take()) is not None:
                try:
                    if admitted:
                        self._admit(admitted)
                    if self._batch is not None:
                        self._step()
                except Exception as e:  # report to the clients of this batch; keep serving
                    log.exception("generation failed")
                    message = f"generation failed: {type(e).__name__}: {e}"
                    running = {id(row.req) for row in self._rows}
                    new = [Row(r, self.tokenizer, self.eos_ids) for r in admitted if id(r) not in running]
                    for row in self._rows + new:
                        row.fail(message)
                    self._rows, self._batch = [], None
                    if self._joins is None:
                        self._joins = False

    def _admit(self, reqs: list[GenerationRequest]) -> None:
        """Prompt passes of the new requests, joined to the running batch."""
        import torch

        reqs = sorted(reqs, key=lambda r: -len(r.prompt_ids))  # the order length_groups expects
        rows = [Row(r, self.tokenizer, self.eos_ids) for r in reqs]
        for row in rows:
            r = row.req
            row.decoding = Decoding(
                max_new_tokens=r.max_new_tokens, temperature=r.temperature, top_p=r.top_p, stop=r.stop
            )
            if not row.decoding.greedy:
                row.generator = torch.Generator(device=self.model.device)
                if r.seed is None:
                    row.generator.seed()
                else:
                    row.generator.manual_seed(r.seed)
        groups = length_groups([len(r.prompt_ids) for r in reqs]) if self._joins is not False else []
        groups = groups or [list(range(len(reqs)))]
        parts = [
            prefill(self.model, [reqs[i].prompt_ids for i in g], g, self.pad_id, self._fw) for g in groups
        ]
        if self._joins is None:
            self._joins = all(joinable(p.cache) for p in parts)
        if self._joins:
            running = [self._batch] if self._batch is not None else []
            headroom = max(row.remaining for row in self._rows + rows)
            self._batch = join_groups(running + parts, headroom)
        else:
            (self._batch,) = parts
        self._rows += [rows[i] for p in parts for i in p.rows]
        self.largest_batch = max(self.largest_batch, len(self._rows))

    def _choose(self, logits: torch.Tensor) -> tuple[list[int], list[TokenLogprob | None]]:
        """Each row's next token (greedy or its own sample) and, where asked, its log-probabilities."""
        import torch

        tokens = logits.argmax(dim=-1).tolist()  # (B,)
        lps: list[TokenLogprob | None] = [None] * len(self._rows)
        for i, row in enumerate(self._rows):
            if not row.decoding.greedy:
                tokens[i] = int(next_tokens(logits[i : i + 1], row.decoding, row.generator)[0])
            k = row.req.logprobs
            if k is not None:
                lsm = torch.log_softmax(logits[i].float(), dim=-1)  # (V,)
                top = lsm.topk(k) if k > 0 else None
                alts = () if top is None else tuple(zip(top.indices.tolist(), top.values.tolist()))
                lps[i] = TokenLogprob(
                    self._piece(tokens[i]),
                    float(lsm[tokens[i]]),
                    tuple((self._piece(t), float(v)) for t, v in alts),
                    0,
                )
        return tokens, lps

    def _piece(self, token: int) -> str:
        return str(self.tokenizer.decode([token]))

    def _step(self) -> None:
        """Choose and push one token per row, release finished rows, run one forward pass."""
        import torch

        assert self._batch is not None
        tokens, lps = self._choose(self._batch.logits)
        now = time.monotonic()
        for row, t, lp in zip(self._rows, tokens, lps):
            row.push(t, lp)
            if not row.done and row.req.expired(now):
                _timeout(row)
        n_new = len(tokens)
        self.tokens_generated += n_new
        self._recent.append((now, n_new))
        while self._recent and self._recent[0][0] < now - RATE_WINDOW_S:
            self._recent.popleft()
        keep = [i for i, row in enumerate(self._rows) if not row.done]
        self.requests_finished += len(self._rows) - len(keep)
        if len(keep) < len(self._rows):
            self._release(keep)
        if self._batch is None:
            return
        b = self._batch
        nxt = torch.tensor([tokens[i] for i in keep], device=b.attention.device)
        b.attention = torch.cat([b.attention, b.attention.new_ones((len(keep), 1))], dim=1)
        b.last_pos = b.last_pos + 1
        cache_arg, extra = self._fw
        with attending_spans(row_spans(b.attention)):  # rows that joined later skip the older columns
            out = self.model(
                input_ids=nxt[:, None],
                attention_mask=b.attention,
                position_ids=b.last_pos,
                use_cache=True,
                **{cache_arg: b.cache},
                **extra,
            )
        b.cache, b.logits = cache_of(out), out.logits[:, -1, :]

    def _release(self, keep: list[int]) -> None:
        """Drop finished rows from the batch and its cache; cut the columns only they needed."""
        import torch

        self._rows = [self._rows[i] for i in keep]
        if not keep:
            self._batch = None
            with self._cond:
                self._cond.notify_all()
            return
        b = self._batch
        assert b is not None
        sel = torch.tensor(keep, device=b.attention.device)
        attention = b.attention[sel]
        cut = int(attention.any(dim=0).int().argmax())  # leading columns that are padding in every row
        if not self._joins:
            b.cache.batch_select_indices(sel)
            b.attention, b.last_pos, b.logits = attention, b.last_pos[sel], b.logits[sel]
            return
        for li, layer in enumerate(b.cache.layers):
            b.cache.layers[li] = _KV(layer.keys[sel, :, cut:], layer.values[sel, :, cut:])
        packed = Running(list(range(len(keep))), b.cache, attention[:, cut:], b.last_pos[sel], b.logits[sel])
        self._batch = join_groups([packed], max(row.remaining for row in self._rows))


def _timeout(row: Row) -> None:
    row.fail(
        f"the request did not finish within the server's timeout of {row.req.timeout_s:g} s",
        status=504,
        code="request_timeout",
    )
