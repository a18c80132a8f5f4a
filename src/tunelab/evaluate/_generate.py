"""Batched generation with a Hugging Face causal LM: left padding, length-sorted batches, per-row stopping.

How a batch is run (the lm-evaluation-harness / vLLM recipe, on ``model.generate`` with its KV cache):

1. prompts are tokenized once and sorted by length, longest first, so each batch holds prompts of similar
   length (little padding) and an out-of-memory error, if any, comes with the first batch;
2. each batch is left-padded (the last prompt token of every row sits in the last column, so the next
   token of every row is read from the same position; position ids come from the attention mask);
3. every row stops on its own at EOS (any id in the tokenizer's and the model's ``eos_token_id``) or at a
   stop string; the batch ends when all rows have stopped or ``max_new_tokens`` is reached;
4. out-of-memory (``torch.OutOfMemoryError`` or a ``RuntimeError`` saying "out of memory") halves the
   batch size and retries the same prompts; the smaller size is kept for the rest of the run;
5. results go back to the caller's order.

Greedy decoding is the default (REFERENCE.md: sampling during evaluation makes scores noisy).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tunelab.errors import InputError, TunelabError

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

#: first batch size tried when the caller asks for an automatic one
AUTO_BATCH_SIZE = 64


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
            fixed fine-tuning format: the turns' text as is, joined by newlines, no template.

    Returns:
        The prompt text.

    Raises:
        InputError: an unknown format, or ``chat`` without a tokenizer.
    """
    if prompt_format == "plain":
        return "\n".join(m["content"] for m in messages)
    if prompt_format == "chat":
        if tokenizer is None:
            raise InputError("the chat format needs a tokenizer with a chat template", field="prompt.format")
        text = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        return str(text)
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
    """Every id that ends a turn: the tokenizer's EOS and the model's generation-config EOS ids."""
    ids: set[int] = set()
    for src in (
        tokenizer.eos_token_id,
        getattr(getattr(model, "generation_config", None), "eos_token_id", None),
    ):
        if isinstance(src, int):
            ids.add(src)
        elif isinstance(src, (list, tuple)):
            ids.update(int(i) for i in src)
    if not ids:
        raise TunelabError("the tokenizer has no EOS token: generation could never stop")
    return sorted(ids)


def _stop_criteria(tokenizer: PreTrainedTokenizerBase, stop: Sequence[str], n_prompt_cols: int) -> Any:
    """A per-row StoppingCriteria that fires when a row's new text contains a stop string."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    # a token decodes to at least one character, so the last (longest stop + margin) tokens hold any match
    # that ended at the newest token; earlier matches were caught at earlier steps
    tail = max(len(s) for s in stop) + 4

    class _StopStrings(StoppingCriteria):
        def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
            new = input_ids[:, n_prompt_cols:]
            done = [
                any(s in tokenizer.decode(row[-tail:], skip_special_tokens=True) for s in stop)
                for row in new.tolist()
            ]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]

    return StoppingCriteriaList([_StopStrings()])


def _run_batch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    batch: list[list[int]],
    decoding: Decoding,
    eos_ids: list[int],
    pad_id: int,
) -> list[Generation]:
    import torch
    from transformers import GenerationConfig

    width = max(len(ids) for ids in batch)
    device = model.device
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    for r, ids in enumerate(batch):  # left padding: (B, T) with each prompt flush right
        input_ids[r, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        attention[r, width - len(ids) :] = 1
    gen_cfg = GenerationConfig(
        max_new_tokens=decoding.max_new_tokens,
        do_sample=not decoding.greedy,
        temperature=decoding.temperature if not decoding.greedy else None,
        top_p=decoding.top_p if not decoding.greedy else None,
        top_k=0 if not decoding.greedy else None,
        eos_token_id=eos_ids,
        pad_token_id=pad_id,
        use_cache=True,
    )
    kwargs: dict[str, Any] = {}
    if decoding.stop:
        kwargs["stopping_criteria"] = _stop_criteria(tokenizer, decoding.stop, width)
    if not decoding.greedy:
        torch.manual_seed(decoding.seed)
    with torch.inference_mode():
        out = model.generate(  # type: ignore[operator]
            input_ids=input_ids.to(device),
            attention_mask=attention.to(device),
            generation_config=gen_cfg,
            **kwargs,
        )
    new_rows = out[:, width:].tolist()  # (B, new)
    eos_set = set(eos_ids)
    results = []
    for ids, row in zip(batch, new_rows):
        cut = next((i for i, t in enumerate(row) if t in eos_set), None)
        gen_ids = row if cut is None else row[:cut]
        if decoding.stop:  # a row stopped by a stop string is padded by generate() while the others run on
            while gen_ids and gen_ids[-1] == pad_id:
                gen_ids = gen_ids[:-1]
        text = str(tokenizer.decode(gen_ids, skip_special_tokens=True))
        text, stopped = trim_at_stop(text, decoding.stop)
        reason = "stop" if cut is not None or stopped else "length"
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
        batch_size: rows per batch; ``None`` starts at 64 and halves on out-of-memory. An explicit size
            also halves on out-of-memory (with a warning) rather than failing the run.
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
    eos_ids = eos_token_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
    order = sorted(range(len(prompt_ids)), key=lambda i: -len(prompt_ids[i]))
    size = batch_size or AUTO_BATCH_SIZE
    results: list[Generation | None] = [None] * len(prompt_ids)
    start = 0
    while start < len(order):
        idx = order[start : start + size]
        try:
            gens = _run_batch(model, tokenizer, [list(prompt_ids[i]) for i in idx], decoding, eos_ids, pad_id)
        except Exception as e:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
            if not is_oom_error(e):
                raise
            if size == 1:
                raise TunelabError("out of memory generating a single prompt; use a smaller model") from e
            size = max(1, size // 2)
            log.warning("out of memory at batch size %d; retrying with %d", size * 2, size)
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
