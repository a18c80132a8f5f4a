"""Pretraining the embedded base model, ``tunelab-tiny``: a small Llama-architecture causal LM with its own
byte-level BPE tokenizer and a ChatML chat template (pad ``<|pad|>`` != EOS ``<|im_end|>``).

It is a *base* model: pretrained here on generated general, clinical and financial text (plus a
little generic ChatML dialogue so the template's special tokens have trained embeddings), never on
the synthetic tasks the demo tunes it for. It ships with the package (``models/tiny/``); rebuild it
with ``tunelab model tiny --rebuild --out DIR`` (about 3 minutes on 2 CPU cores).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunelab.models import FALLBACK_CHAT_TEMPLATE
from tunelab.synth import dialogue_text, pretraining_corpus

__all__ = ["build_tiny", "TINY_ARCH"]

SPECIAL_TOKENS = ["<|pad|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>"]

#: architecture of the shipped model (about 3.6M parameters)
TINY_ARCH = dict(
    hidden_size=256,
    intermediate_size=688,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=4,
    max_position_embeddings=1024,
    rms_norm_eps=1e-5,
    rope_theta=10000.0,
    tie_word_embeddings=True,
)
VOCAB_SIZE = 2048


def _train_tokenizer(texts: list[str]):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(texts, trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        pad_token="<|pad|>",
        eos_token="<|im_end|>",
        bos_token=None,
        unk_token=None,
        additional_special_tokens=["<|im_start|>", "<|endoftext|>"],
        model_max_length=TINY_ARCH["max_position_embeddings"],
        clean_up_tokenization_spaces=False,
    )
    tok.chat_template = FALLBACK_CHAT_TEMPLATE
    return tok


def _pretrain(
    model: Any,
    data: Any,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    progress: Callable[[int, int, float], None] | None,
) -> float:
    """AdamW over seeded random batches of ``data`` (R, T+1) rows, warmup 5% then cosine to 10%; the last loss."""
    import torch

    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    warm = max(1, steps // 20)

    def lr_at(s: int) -> float:
        if s < warm:
            return lr * (s + 1) / warm
        p = (s - warm) / max(1, steps - warm)
        return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))

    n_rows = data.shape[0]
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(n_rows, generator=g)
    pos = 0
    for step in range(steps):
        if pos + batch_size > n_rows:
            order, pos = torch.randperm(n_rows, generator=g), 0
        batch = data[order[pos : pos + batch_size]]  # (B, T+1)
        pos += batch_size
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(input_ids=batch[:, :-1]).logits  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), batch[:, 1:].flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if progress is not None and (step % 20 == 0 or step == steps - 1):
            loss_val = loss.item()
            progress(step, steps, loss_val)
    return float(loss.item())


def build_tiny(
    out: str | Path,
    seed: int = 0,
    n_docs: int = 12_000,
    steps: int = 700,
    seq_len: int = 256,
    batch_size: int = 16,
    lr: float = 3e-3,
    progress: Callable[[int, int, float], None] | None = None,
) -> Path:
    """Build the tiny base model from scratch: corpus -> tokenizer -> pretraining -> HF folder.

    Args:
        out: folder to write (``save_pretrained`` layout, safetensors).
        seed: seed of the corpus, the initialization and the data order.
        n_docs: generated documents in the corpus.
        steps: optimizer steps; tokens seen = steps * batch_size * seq_len.
        seq_len: packed row length for pretraining.
        batch_size: rows per step.
        lr: peak AdamW learning rate (warmup 5%, cosine to 10%).
        progress: called as ``progress(step, steps, loss)`` every few steps.

    Returns:
        The output folder.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    t0 = time.time()
    r = random.Random(seed)
    docs = pretraining_corpus(n_docs, seed=seed) + dialogue_text(r, n_docs // 10)
    r.shuffle(docs)
    tok = _train_tokenizer(docs)
    eos = tok.convert_tokens_to_ids("<|endoftext|>")
    stream: list[int] = []
    for d in docs:
        stream.extend(tok(d, add_special_tokens=False)["input_ids"])
        stream.append(eos)
    n_rows = len(stream) // (seq_len + 1)
    data = torch.tensor(stream[: n_rows * (seq_len + 1)]).view(n_rows, seq_len + 1)  # (R, T+1)

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
        **TINY_ARCH,  # type: ignore[arg-type]
    )
    model = LlamaForCausalLM(cfg)
    loss_val = _pretrain(model, data, steps, batch_size, lr, seed, progress)

    outp = Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.generation_config = GenerationConfig(
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, do_sample=False
    )
    model.save_pretrained(outp, safe_serialization=True)
    tok.save_pretrained(outp)
    (outp / "tunelab_tiny.json").write_text(
        json.dumps(
            {
                "name": "tunelab-tiny",
                "note": "Embedded demonstration base model (toy scale), pretrained by tunelab on generated text.",
                "seed": seed,
                "n_docs": n_docs,
                "steps": steps,
                "tokens_seen": steps * batch_size * seq_len,
                "corpus_tokens": len(stream),
                "final_loss": round(loss_val, 4),
                "build_seconds": round(time.time() - t0, 1),
                "rebuild": "tunelab model tiny --rebuild --out DIR",
            },
            indent=2,
        )
        + "\n"
    )
    return outp
