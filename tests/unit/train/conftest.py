"""Shared fixtures for the training tests: a small random Llama and hand-built examples."""

from __future__ import annotations

import os
import random

import pytest

# The test machines are small and shared: one intra-op thread is faster than two fighting.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["TUNELAB_NO_PROGRESS"] = "1"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def make_model(seed: int = 0, vocab: int = 64, hidden: int = 32, layers: int = 2):  # type: ignore[no-untyped-def]
    """A random LlamaForCausalLM small enough for exact gradient comparisons."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        pad_token_id=0,
        use_cache=False,
    )
    return LlamaForCausalLM(cfg).float().eval()


def make_rows(n: int, seed: int = 0, vocab: int = 64) -> list[dict[str, list[int]]]:
    """Encoded-looking rows of varied length with a masked prompt and an unmasked response."""
    r = random.Random(seed)
    rows = []
    for _ in range(n):
        length = r.randint(5, 30)
        ids = [r.randrange(1, vocab) for _ in range(length)]
        prompt = r.randint(1, length - 2)
        rows.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    return rows


def repeat_examples(n: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """Learnable chat examples: the assistant repeats the words of the request."""
    from tunelab.data import Example

    words = "apple banana cherry delta echo fox golf hotel india juliet kilo lima mike oscar papa".split()
    r = random.Random(seed)
    out = []
    for i in range(n):
        ws = r.sample(words, r.randint(1, 5))
        out.append(
            Example(
                messages=[
                    {"role": "user", "content": "Repeat the words: " + " ".join(ws)},
                    {"role": "assistant", "content": " ".join(ws)},
                ],
                id=f"ex-{i}",
            )
        )
    return out
