"""Test tokenizers of two chat-template families, built offline from a tiny byte-level BPE."""

from __future__ import annotations

from typing import Any

import pytest

WORDS = (
    "the patient was given a dose of medicine and the doctor checked the blood pressure every hour "
    "revenue grew by ten percent while costs fell and the company reported a profit for the quarter "
    "translate this sentence into french please answer the question with a number hello world you are "
    "a helpful assistant what is the capital of france paris is the answer compute the ratio of two values"
).split()

LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
CHATML_TEMPLATE = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Marks the final message differently: the prompt is then not a prefix of the whole conversation.
BROKEN_TEMPLATE = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] }}"
    "{% if loop.last %}{{ ' [final]' }}{% endif %}{{ '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _corpus() -> list[str]:
    import random

    rng = random.Random(0)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14))) + rng.choice([".", "?", "!", ""])
        for _ in range(400)
    ]


def build_tokenizer(specials: list[str], template: str, bos: str | None, eos: str, pad: str) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(_corpus(), trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token=bos, eos_token=eos, pad_token=pad)
    tok.chat_template = template
    return tok


@pytest.fixture(scope="session")
def llama3_tok() -> Any:
    """Llama-3 style: BOS in the template, ``<|eot_id|>`` closes every turn, distinct pad."""
    specials = [
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
        "<|pad|>",
    ]
    return build_tokenizer(specials, LLAMA3_TEMPLATE, "<|begin_of_text|>", "<|eot_id|>", "<|pad|>")


@pytest.fixture(scope="session")
def chatml_tok() -> Any:
    """ChatML style: ``<|im_end|>`` (EOS) then a newline after every turn, no BOS."""
    return build_tokenizer(
        ["<|im_start|>", "<|im_end|>", "<|pad|>"], CHATML_TEMPLATE, None, "<|im_end|>", "<|pad|>"
    )


@pytest.fixture(scope="session")
def broken_tok() -> Any:
    return build_tokenizer(
        ["<|im_start|>", "<|im_end|>", "<|pad|>"], BROKEN_TEMPLATE, None, "<|im_end|>", "<|pad|>"
    )


@pytest.fixture(scope="session")
def pad_is_eos_tok() -> Any:
    return build_tokenizer(["<|im_start|>", "<|im_end|>"], CHATML_TEMPLATE, None, "<|im_end|>", "<|im_end|>")


@pytest.fixture(params=["llama3", "chatml"])
def chat_tok(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(f"{request.param}_tok")
