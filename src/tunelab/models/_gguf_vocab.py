"""The tokenizer as GGUF metadata: vocabulary, merges, token types, special ids, chat template.

llama.cpp rebuilds a byte-level BPE tokenizer from ``tokenizer.ggml.*`` keys: the vocabulary in id order
(spelled in GPT-2's byte alphabet), the merges, a type per token (control tokens are matched whole), the
BOS/EOS/pad/end-of-turn ids and a *pre-tokenizer name* that selects the regex splitting text before BPE.
That name is read here from the structure of the tokenizer's own ``tokenizer.json`` (llama.cpp's converter
hashes a test string's tokens instead); a structure this module does not know is refused rather than written
with a guessed regex, because a wrong regex tokenizes digits and punctuation differently from training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunelab.errors import InputError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["GGUFVocab", "build_vocab", "end_of_turn_token", "token_id"]

# gguf.TokenType values (kept as ints so this module needs no gguf import for its data)
NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5

# The pre-tokenizer regexes of the byte-level BPE families tunelab exports, as their tokenizer.json writes
# them, with the llama.cpp pre-tokenizer name that applies the same split.
_LLAMA3_REGEX = (
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
)
_QWEN2_REGEX = (
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
)
_SPLIT_PRE = {_LLAMA3_REGEX: "llama-bpe", _QWEN2_REGEX: "qwen2"}

SENTINEL = "\u2063tunelab-content\u2063"  # invisible separator: text no chat template adds by itself


@dataclass
class GGUFVocab:
    """Everything :func:`build_vocab` read from a tokenizer, in the form the GGUF keys take."""

    model: str  # tokenizer.ggml.model ("gpt2" = byte-level BPE)
    pre: str  # tokenizer.ggml.pre
    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    special_ids: dict[str, int] = field(default_factory=dict)  # bos/eos/unk/pad/eot -> id
    add_bos: bool = False
    add_eos: bool = False
    chat_template: str | None = None


def _pre_name(pre: dict[str, Any] | None) -> str:
    """The llama.cpp pre-tokenizer name for a tokenizer.json ``pre_tokenizer`` block."""
    if pre is None:
        raise InputError("the tokenizer has no pre-tokenizer; GGUF export needs a byte-level BPE tokenizer")
    steps = pre["pretokenizers"] if pre.get("type") == "Sequence" else [pre]
    kinds = [s.get("type") for s in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"  # GPT-2's regex, which HF's ByteLevel applies itself
    if (
        kinds == ["Digits", "ByteLevel"]
        and steps[0].get("individual_digits")
        and steps[1].get("use_regex", True)
    ):
        return "smollm"  # each digit alone, then GPT-2's regex (SmolLM/StarCoder)
    if kinds == ["Split", "ByteLevel"] and not steps[1].get("use_regex", True):
        regex = (steps[0].get("pattern") or {}).get("Regex")
        if regex in _SPLIT_PRE:
            return _SPLIT_PRE[regex]
    raise InputError(
        f"unsupported pre-tokenizer {json.dumps(pre)[:200]}: GGUF export knows byte-level BPE with GPT-2, "
        "SmolLM, Llama-3 or Qwen2 splitting",
        field="tokenizer.json: pre_tokenizer",
    )


def end_of_turn_token(tokenizer: PreTrainedTokenizerBase) -> str:
    """The special token the chat template writes right after an assistant reply.

    Found by rendering a reply with the template (``<|im_end|>`` for ChatML, ``<|eot_id|>`` for Llama 3);
    the tokenizer's EOS when the template writes no special token there.
    """
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": SENTINEL}]
    text = str(tokenizer.apply_chat_template(msgs, tokenize=False))
    after = text.split(SENTINEL, 1)[1] if SENTINEL in text else ""
    specials = {str(t) for t in tokenizer.all_special_tokens}
    for tok in sorted(specials, key=len, reverse=True):
        if tok and after.startswith(tok):
            return tok
    if tokenizer.eos_token is None:
        raise InputError("the tokenizer has no EOS token and its chat template no end-of-turn token")
    return str(tokenizer.eos_token)


def token_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
    """The id of one token (raises when the tokenizer does not have it as a single token)."""
    tid = tokenizer.convert_tokens_to_ids(token)
    if not isinstance(tid, int) or tid == tokenizer.unk_token_id and token != tokenizer.unk_token:
        raise InputError(f"the tokenizer has no token {token!r}", field="tokenizer")
    return tid


def build_vocab(tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> GGUFVocab:
    """Read a fast byte-level BPE tokenizer into :class:`GGUFVocab`.

    Args:
        tokenizer: the tokenizer (its chat template set, as :func:`tunelab.models.load_tokenizer` leaves it).
        vocab_size: the model's embedding rows; ids the tokenizer does not use become ``[PAD<id>]`` tokens
            of type UNUSED, as llama.cpp's converter writes them.

    Raises:
        InputError: not a fast tokenizer, not byte-level BPE, an unknown pre-tokenizer, or more tokens than
            the model has embedding rows.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise InputError("GGUF export needs a fast tokenizer (tokenizer.json)", field="tokenizer")
    spec = json.loads(backend.to_str())
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or model.get("byte_fallback"):
        raise InputError(
            f"unsupported tokenizer model {model.get('type')!r} (byte_fallback={model.get('byte_fallback')}): "
            "GGUF export writes byte-level BPE tokenizers (Llama 3, SmolLM2, Qwen2, GPT-2 style); "
            "SentencePiece-style vocabularies are not supported yet",
            field="tokenizer.json: model",
        )
    pre = _pre_name(spec.get("pre_tokenizer"))
    vocab: dict[str, int] = dict(model["vocab"])
    added = {int(a["id"]): a for a in spec.get("added_tokens", [])}
    for i, a in added.items():
        vocab[a["content"]] = i
    n = max(vocab.values()) + 1
    if n > vocab_size:
        raise InputError(f"the tokenizer has {n} ids but the model only {vocab_size} embedding rows")
    by_id: dict[int, str] = {i: t for t, i in vocab.items()}
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(UNUSED)
        elif i in added:
            tokens.append(by_id[i])
            types.append(CONTROL if added[i].get("special") else USER_DEFINED)
        else:
            tokens.append(by_id[i])
            types.append(NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    ids: dict[str, int] = {}
    for key in ("bos", "eos", "unk", "pad"):
        tid = getattr(tokenizer, f"{key}_token_id", None)
        if isinstance(tid, int):
            ids[key] = tid
    template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
    if template:
        ids["eot"] = token_id(tokenizer, end_of_turn_token(tokenizer))
    probe = tokenizer("a", add_special_tokens=True)["input_ids"]
    return GGUFVocab(
        model="gpt2",
        pre=pre,
        tokens=tokens,
        token_types=types,
        merges=merges,
        special_ids=ids,
        add_bos="bos" in ids and probe[:1] == [ids["bos"]],
        add_eos="eos" in ids and probe[-1:] == [ids["eos"]],
        chat_template=template,
    )
