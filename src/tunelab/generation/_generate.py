"""Batched generation with a Hugging Face causal LM: left padding, length-sorted batches, per-row stopping.

How a batch is run (the lm-evaluation-harness / vLLM recipe, with our own decode loop over the model's
KV cache rather than ``model.generate``):

1. prompts are tokenized once and sorted by length, longest first, so an out-of-memory error, if any,
   comes with the first batch;
2. a batch's prompt pass runs per group of similar lengths (none shorter than 90% of its group's
   longest), left-padded (each prompt flush right; position ids come from the attention mask), and
   asks for the last position's logits only; the groups' KV caches are then left-padded to one width
   and joined, so the decode steps run once for the whole batch (padding is masked out: each row
   attends to exactly its own tokens);
3. every row stops on its own at EOS (the tokenizer's, the generation config's, the template's end-of-turn) or at a
   stop string, and a stopped row leaves the batch and the KV cache at once (``model.generate`` keeps
   computing finished rows until the longest one ends);
4. out-of-memory (``torch.OutOfMemoryError`` or a ``RuntimeError`` saying "out of memory") halves the
   batch size and retries the same prompts; the smaller size is kept for the rest of the run;
5. results go back to the caller's order.

Three more savings for evaluation-shaped work: tokens that prompts share (the batch's common prefix, such as a
chat template's default system prompt, and runs that clusters of prompts share after it, such as one
phrasing of a task) run once and their KV cache is shared (:mod:`tunelab.generation._prompt_pass`); the KV
cache of the decode steps lives in memory reused from batch to batch (:class:`~._kvcache.KVArena`); and
batches are sized by tokens (padded prompt + budget of new tokens) as well as by items, so short prompts
share big batches and long ones do not run out of memory. On CPU the model's linear layers run over weights
packed once for oneDNN (:func:`tunelab.models.packed_linears`), and a decode step's attention reads each run
of rows' own columns of the joined cache (:mod:`tunelab.generation._spans`).

Greedy decoding is the default (REFERENCE.md: sampling during evaluation makes scores noisy).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tunelab.data import plain_prompt, render_chat, stop_token_ids
from tunelab.errors import InputError, TunelabError
from tunelab.generation._kvcache import (
    Running,
    arena_for,
    cache_of,
    forward_kwargs,
    join_groups,
    joinable,
    keep_freed_memory,
)
from tunelab.generation._prompt_pass import prompt_pass
from tunelab.generation._spans import attending_spans, row_spans
from tunelab.models import packed_linears

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "Decoding",
    "Generation",
    "PromptFormat",
    "render_prompt",
    "encode_prompts",
    "generate",
    "generate_ids",
    "trim_at_stop",
    "is_oom_error",
    "chat_template_hash",
]

log = logging.getLogger("tunelab")

PromptFormat = Literal["chat", "plain"]

#: first batch size tried when the caller asks for an automatic one (on SmolLM2-135M's eval-like pass on a
#: 2-core CPU, 128 eval-like items: 20.2 s at 32 rows, 16.8 s at 64, 15.1 s at 128, 14.6 s at 256; the decode
#: steps' products run faster with more rows and there are half as many steps; :data:`BATCH_TOKENS` caps
#: the rows of long prompts)
AUTO_BATCH_SIZE = 128
#: tokens per batch (rows * (longest prompt + max_new_tokens)) whatever the item count
BATCH_TOKENS = 32_768


@dataclass(frozen=True)
class Decoding:
    """Decoding settings, recorded beside every score.

    Attributes:
        max_new_tokens: generation budget per item.
        temperature: 0 means greedy decoding (the evaluation default); above 0 samples.
        top_p: nucleus sampling threshold (sampling only).
        stop: stop strings; the output is cut before the first one found.
        seed: torch seed set before each sampled batch.
    """

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise InputError("must be at least 1", field="decoding.max_new_tokens")
        for name in ("temperature", "top_p"):
            value = getattr(self, name)
            if isinstance(value, float) and not math.isfinite(value):
                raise InputError(f"{value!r} is not a finite number", field=f"decoding.{name}")
        if self.temperature < 0:
            raise InputError("must be >= 0 (0 = greedy)", field="decoding.temperature")
        if not 0 < self.top_p <= 1:
            raise InputError("must be in (0, 1]", field="decoding.top_p")
        if any(not s for s in self.stop):
            raise InputError("stop strings must be non-empty", field="decoding.stop")
        object.__setattr__(self, "stop", tuple(self.stop))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, with the decoding mode spelled out."""
        d = asdict(self)
        d["stop"] = list(self.stop)
        d["mode"] = "greedy" if self.greedy else "sampling"
        return d


@dataclass
class Generation:
    """One generated continuation.

    Attributes:
        text: the decoded continuation, special tokens removed, cut before the first stop string.
        token_ids: generated ids up to and excluding EOS (stop strings are not cut from the ids).
        n_prompt_tokens: prompt length in tokens.
        finish_reason: ``stop`` (EOS or a stop string) or ``length`` (ran out of ``max_new_tokens``).
    """

    text: str
    token_ids: list[int] = field(default_factory=list)
    n_prompt_tokens: int = 0
    finish_reason: str = "length"


def render_prompt(
    messages: Sequence[dict[str, str]], tokenizer: PreTrainedTokenizerBase | None, prompt_format: PromptFormat
) -> str:
    """Render the prompt turns of an item as the model sees them.

    Args:
        messages: the prompt turns (a final assistant turn, if any, must already be removed).
        tokenizer: its chat template renders ``chat`` prompts (unused for ``plain``).
        prompt_format: ``chat`` = the chat template with ``add_generation_prompt=True``; ``plain`` = the
            fixed fine-tuning format, no template: :func:`tunelab.data.plain_prompt`, the renderer training
            used, so a model trained plain is evaluated on the text it was trained on.

    Returns:
        The prompt text.

    Raises:
        InputError: an unknown format, or ``chat`` without a tokenizer.
    """
    if prompt_format == "plain":
        return plain_prompt(list(messages))
    if prompt_format == "chat":
        if tokenizer is None:
            raise InputError("the chat format needs a tokenizer with a chat template", field="prompt.format")
        return render_chat(tokenizer, messages, add_generation_prompt=True)
    raise InputError(f"unknown prompt format {prompt_format!r} (chat, plain)", field="prompt.format")


def chat_template_hash(tokenizer: PreTrainedTokenizerBase) -> str | None:
    """SHA-256 (first 16 hex digits) of the tokenizer's chat template, recorded beside scores."""
    import hashlib

    tpl = getattr(tokenizer, "chat_template", None)
    if not tpl:
        return None
    if isinstance(tpl, dict):  # named templates
        tpl = "\n".join(f"{k}:{v}" for k, v in sorted(tpl.items()))
    return hashlib.sha256(str(tpl).encode("utf-8")).hexdigest()[:16]


def encode_prompts(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], add_special_tokens: bool
) -> list[list[int]]:
    """Tokenize prompts without padding or truncation.

    ``add_special_tokens`` must be False for chat-rendered text (the template already holds BOS when the
    model uses one) and True for plain text (so BOS is added the way training added it).
    """
    out = tokenizer(list(prompts), add_special_tokens=add_special_tokens, padding=False, truncation=False)
    return [list(ids) for ids in out["input_ids"]]


def trim_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` before the earliest occurrence of any stop string.

    Returns:
        ``(text, stopped)``.
    """
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def is_oom_error(e: BaseException) -> bool:
    """True for the errors torch raises when a device runs out of memory."""
    import torch

    oom_type = getattr(torch, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(e, oom_type):
        return True
    return isinstance(e, RuntimeError) and "out of memory" in str(e).lower()


def eos_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Every id that ends a turn: the tokenizer's EOS, the model's generation-config EOS ids and the chat
    template's end-of-turn token (:func:`tunelab.data.stop_token_ids`)."""
    return stop_token_ids(tokenizer, getattr(getattr(model, "generation_config", None), "eos_token_id", None))


def next_tokens(logits: torch.Tensor, decoding: Decoding, gen: torch.Generator | None) -> torch.Tensor:
    """Greedy argmax, or a temperature / nucleus (top-p) sample, of each row's last-position logits."""
    import torch

    if decoding.greedy:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / decoding.temperature, dim=-1)
    if decoding.top_p < 1.0:
        sorted_p, sorted_i = probs.sort(dim=-1, descending=True)
        # keep the smallest prefix whose mass reaches top_p (the top token always stays)
        drop = sorted_p.cumsum(dim=-1) - sorted_p >= decoding.top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, sorted_i, sorted_p)
    return torch.multinomial(probs, 1, generator=gen).squeeze(-1)


def _decode(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    run: Running,
    decoding: Decoding,
    eos_ids: set[int],
    gen: torch.Generator | None,
    out_ids: list[list[int]],
    reasons: list[str],
    forward_kwargs: tuple[str, dict[str, Any]],
) -> None:
    """Greedy or sampled steps over the KV cache until every row stops. Stopped rows leave the batch and
    the cache once a quarter of the batch has stopped (copying the cache on every single stop would
    cost more than the few extra rows it saves), so later steps cost about the rows still running."""
    import torch

    cache_arg, extra = forward_kwargs
    # a token decodes to at least one character, so the last (longest stop + 4) tokens hold any match that
    # ended at the newest token; earlier matches were caught at earlier steps
    tail = max((len(s) for s in decoding.stop), default=0) + 4
    rows, cache, attention, last_pos, logits = run.rows, run.cache, run.attention, run.last_pos, run.logits
    spans = row_spans(attention)  # the columns each run of rows attends (the same until rows leave)
    done: set[int] = set()
    for _ in range(decoding.max_new_tokens):
        nxt = next_tokens(logits, decoding, gen)
        for r, t in zip(rows, nxt.tolist()):
            if r in done:
                continue
            if t in eos_ids:
                reasons[r] = "stop"
                done.add(r)
                continue
            out_ids[r].append(t)
            if decoding.stop:
                recent = tokenizer.decode(out_ids[r][-tail:], skip_special_tokens=True)
                if any(s in recent for s in decoding.stop):
                    reasons[r] = "stop"
                    done.add(r)
                    continue
            if len(out_ids[r]) >= decoding.max_new_tokens:
                done.add(r)
        keep = [j for j, r in enumerate(rows) if r not in done]
        if not keep:
            return
        if len(keep) <= 0.75 * len(rows):  # stopped rows leave the batch and the cache
            sel = torch.tensor(keep, device=attention.device)
            cache.batch_select_indices(sel)
            nxt, attention, last_pos = nxt[sel], attention[sel], last_pos[sel]
            rows = [rows[j] for j in keep]
            spans = row_spans(attention)
        attention = torch.cat([attention, attention.new_ones((len(rows), 1))], dim=1)
        last_pos = last_pos + 1
        with attending_spans(spans):
            out = model(
                input_ids=nxt[:, None],
                attention_mask=attention,
                position_ids=last_pos,
                use_cache=True,
                **{cache_arg: cache},
                **extra,
            )
        cache, logits = cache_of(out), out.logits[:, -1, :]


def _run_batch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    batch: list[list[int]],
    decoding: Decoding,
    eos_ids: list[int],
    pad_id: int,
) -> list[Generation]:
    """Generate for prompts sorted longest first: a prompt pass per group of similar lengths (little
    padding), then, where the model's KV cache can be joined (transformers' dynamic cache), one decode
    loop for all rows together (few decode steps); otherwise one decode loop per group."""
    import torch

    gen = None
    if not decoding.greedy:
        gen = torch.Generator(device=model.device)
        gen.manual_seed(decoding.seed)
    out_ids: list[list[int]] = [[] for _ in batch]
    reasons = ["length"] * len(batch)
    fw = forward_kwargs(model)
    with torch.inference_mode(), packed_linears(model):
        parts = prompt_pass(model, batch, pad_id, fw)
        joins = all(joinable(p.cache) for p in parts)
        arena = arena_for(model)
        owned = joins and arena.lock.acquire(blocking=False)  # else another thread generates in it
        try:  # where caches join: one running batch, in the model's reused KV memory when free
            runs = [join_groups(parts, decoding.max_new_tokens, arena if owned else None)] if joins else parts
            for run in runs:
                _decode(model, tokenizer, run, decoding, set(eos_ids), gen, out_ids, reasons, fw)
        finally:
            if owned:
                arena.lock.release()
    results = []
    for ids, gen_ids, reason in zip(batch, out_ids, reasons):
        text = str(tokenizer.decode(gen_ids, skip_special_tokens=True))
        text, _ = trim_at_stop(text, decoding.stop)
        results.append(
            Generation(text=text, token_ids=gen_ids, n_prompt_tokens=len(ids), finish_reason=reason)
        )
    return results


def generate_ids(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompt_ids: Sequence[Sequence[int]],
    decoding: Decoding | None = None,
    batch_size: int | None = None,
    progress: Any = None,
) -> list[Generation]:
    """Generate continuations of already tokenized prompts, batched.

    Args:
        model: a causal LM (eval mode is set here).
        tokenizer: decodes outputs; its pad token pads the batches.
        prompt_ids: one id list per prompt (non-empty).
        decoding: settings; greedy with 64 new tokens when omitted.
        batch_size: the most rows per batch; ``None`` starts at :data:`AUTO_BATCH_SIZE` (128) and halves on
            out-of-memory. An explicit size also halves on out-of-memory (with a warning) rather than failing
            the run. A batch also holds at
            most :data:`BATCH_TOKENS` tokens (rows times longest prompt plus ``max_new_tokens``; halved
            with the size on out-of-memory).
        progress: optional callable ``progress(n_done)`` called after each batch.

    Returns:
        One :class:`Generation` per prompt, in the order given.

    Raises:
        InputError: an empty prompt or a bad batch size.
        TunelabError: out of memory even with a batch of one.
    """
    decoding = decoding or Decoding()
    if batch_size is not None and batch_size < 1:
        raise InputError("must be at least 1", field="batch_size")
    if any(len(p) == 0 for p in prompt_ids):
        raise InputError("an empty prompt cannot be generated from", field="prompt")
    model.eval()
    if model.device.type == "cpu":
        keep_freed_memory()
    eos_ids = eos_token_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
    order = sorted(range(len(prompt_ids)), key=lambda i: -len(prompt_ids[i]))
    size = batch_size or AUTO_BATCH_SIZE
    budget = BATCH_TOKENS
    results: list[Generation | None] = [None] * len(prompt_ids)
    start = 0
    while start < len(order):
        longest = len(prompt_ids[order[start]]) + decoding.max_new_tokens  # sorted: the first is longest
        idx = order[start : start + max(1, min(size, budget // longest))]
        try:
            gens = _run_batch(model, tokenizer, [list(prompt_ids[i]) for i in idx], decoding, eos_ids, pad_id)
        except Exception as e:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
            if not is_oom_error(e):
                raise
            if size == 1:
                raise TunelabError("out of memory generating a single prompt; use a smaller model") from e
            size = max(1, min(size, len(idx)) // 2)
            budget = max(1, budget // 2)
            log.warning("out of memory at batch size %d; retrying with %d", len(idx), size)
            _empty_cache()
            continue
        for i, g in zip(idx, gens):
            results[i] = g
        start += len(idx)
        if progress is not None:
            progress(start)
    return [g for g in results if g is not None]


def _empty_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    decoding: Decoding | None = None,
    batch_size: int | None = None,
    add_special_tokens: bool = False,
    progress: Any = None,
) -> list[Generation]:
    """Generate continuations of prompt texts (see :func:`generate_ids` for the batching).

    Args:
        model: a causal LM.
        tokenizer: the model's tokenizer.
        prompts: rendered prompts (see :func:`render_prompt`).
        decoding: settings; greedy when omitted.
        batch_size: rows per batch, or ``None`` for automatic.
        add_special_tokens: False for chat-rendered prompts, True for plain text.
        progress: optional callable ``progress(n_done)``.

    Returns:
        One :class:`Generation` per prompt, in order.
    """
    ids = encode_prompts(tokenizer, prompts, add_special_tokens)
    return generate_ids(model, tokenizer, ids, decoding, batch_size, progress)
