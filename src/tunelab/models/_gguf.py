"""Export a Hugging Face causal LM to one GGUF file (llama.cpp, Ollama, LM Studio), offline, nothing compiled.

The official ``gguf`` package writes the file and quantizes with its numpy quantizers; this module decides
what goes in it:

- tensor names from ``gguf``'s own HF-to-GGUF name map for the architecture; a weight the map cannot name
  is refused (the file would load with that weight missing);
- the Q/K row permutation of Llama-family attention: HF applies rotary embeddings to the two *halves* of each
  head (``rotate_half``), llama.cpp's Llama kernel to *adjacent pairs*, so each head's rows are reordered from
  ``[x0..x(d/2-1), y0..y(d/2-1)]`` to ``[x0, y0, x1, y1, ...]``. Qwen2 runs the half-split (NEOX) kernel in
  llama.cpp and keeps HF's order;
- tensor types the way llama.cpp's converter and quantizer pick them: 1-D tensors (norms, biases) stay F32;
  in the 4/5-bit modes the output projection (or the token embedding when tied to it) is written at Q8_0
  (llama.cpp uses Q6_K there and falls back to Q8_0 for rows that are not a multiple of 256; ``gguf`` has no
  Q6_K quantizer); a matrix whose rows do not split into 32-value blocks falls back to F16;
- tied embeddings written once (llama.cpp reuses ``token_embd`` when ``output`` is absent);
- Mistral written as the ``llama`` architecture, as llama.cpp's converter does (a sliding attention window, where
  the config has one, is not written: llama.cpp attends to the whole context).

The file is written to a temporary name in the target folder, fsynced, then renamed: a refused or failed
export leaves nothing behind under the requested name.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.errors import InputError, TunelabError
from tunelab.models._gguf_vocab import GGUFVocab, build_vocab

if TYPE_CHECKING:
    import numpy as np
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "GGUF_QUANTS",
    "GGUFExport",
    "export_gguf",
    "write_gguf",
    "permute_qk",
    "atomic_target",
    "atomic_write_text",
]

#: quantization name -> (GGML type of the big matrices, llama.cpp file type)
GGUF_QUANTS: dict[str, tuple[str, str]] = {
    "f16": ("F16", "MOSTLY_F16"),
    "bf16": ("BF16", "MOSTLY_BF16"),
    "q8_0": ("Q8_0", "MOSTLY_Q8_0"),
    "q4_0": ("Q4_0", "MOSTLY_Q4_0"),
    "q4_1": ("Q4_1", "MOSTLY_Q4_1"),
    "q5_0": ("Q5_0", "MOSTLY_Q5_0"),
    "q5_1": ("Q5_1", "MOSTLY_Q5_1"),
}

# HF model_type -> (GGUF architecture, apply the Q/K permutation)
_ARCHES: dict[str, tuple[str, bool]] = {
    "llama": ("llama", True),
    "mistral": ("llama", True),
    "qwen2": ("qwen2", False),
}


@dataclass
class GGUFExport:
    """What :func:`write_gguf` wrote."""

    path: Path
    quant: str
    architecture: str
    n_tensors: int
    tensor_types: dict[str, int]  # GGML type -> how many tensors
    size_bytes: int
    vocab: GGUFVocab
    sha256: str
    notes: list[str] = field(default_factory=list)


def permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder each head's rows from HF's half-split rotary layout to llama.cpp's interleaved one.

    Args:
        w: ``(n_head * head_dim, ...)`` — a q/k projection weight or bias.
        n_head: heads of this projection (key/value heads for ``k_proj``).
    """
    head_dim = w.shape[0] // n_head
    # (n_head, 2 halves, head_dim/2, ...) -> (n_head, head_dim/2, 2, ...): row i of the first half is followed
    # by row i of the second half
    return w.reshape(n_head, 2, head_dim // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@contextmanager
def atomic_target(out: Path) -> Iterator[Path]:
    """A temporary path beside ``out`` that replaces ``out`` (fsynced, renamed) when the block succeeds.

    On any error the temporary file is removed and ``out`` is left as it was.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)  # mkstemp made it private; the result gets a normal file's mode
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(out: Path, text: str) -> None:
    """Write ``text`` to ``out`` atomically (see :func:`atomic_target`)."""
    with atomic_target(out) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _rope_theta(cfg: Any) -> float:
    params = getattr(cfg, "rope_parameters", None) or {}
    rope_type = params.get("rope_type", "default")
    scaling = getattr(cfg, "rope_scaling", None)
    if rope_type != "default" or (
        isinstance(scaling, dict) and scaling.get("rope_type", "default") != "default"
    ):
        raise InputError(
            f"rope scaling {rope_type!r} is not supported by GGUF export yet (only unscaled rotary embeddings)",
            field="config.json: rope_parameters",
        )
    theta = params.get("rope_theta", getattr(cfg, "rope_theta", None))
    if theta is None:
        raise InputError("no rope_theta in the model config", field="config.json: rope_parameters")
    return float(theta)


def _tensor_type(gguf_name: str, arr: np.ndarray, main: str, tied: bool) -> str:
    if arr.ndim == 1:
        return "F32"
    is_output = gguf_name == "output.weight" or (tied and gguf_name == "token_embd.weight")
    wanted = "Q8_0" if is_output and main in ("Q4_0", "Q4_1", "Q5_0", "Q5_1") else main
    if wanted not in ("F16", "BF16") and arr.shape[-1] % 32:
        return "F16"  # ggml's 4/5/8-bit types quantize 32-value blocks along each row
    return wanted


def _tensors(model: PreTrainedModel, arch: str, permute: bool) -> list[tuple[str, np.ndarray]]:
    """GGUF name and float32 array of every weight, in the model's order."""
    import gguf
    import torch

    cfg = model.config
    arch_enum = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch)
    name_map = gguf.get_tensor_name_map(arch_enum, cfg.num_hidden_layers)
    tied = bool(getattr(cfg, "tie_word_embeddings", False))
    n_head, n_kv = (
        cfg.num_attention_heads,
        getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads,
    )
    out: list[tuple[str, np.ndarray]] = []
    unmapped: list[str] = []
    for hf_name, t in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp reuses token_embd
        base, _, suffix = hf_name.rpartition(".")
        gguf_base = name_map.get_name(base)
        if gguf_base is None or suffix not in ("weight", "bias"):
            unmapped.append(hf_name)
            continue
        arr = t.detach().to(torch.float32).cpu().numpy()
        if permute and re.search(r"\.self_attn\.q_proj$", base):
            arr = permute_qk(arr, n_head)
        elif permute and re.search(r"\.self_attn\.k_proj$", base):
            arr = permute_qk(arr, n_kv)
        out.append((f"{gguf_base}.{suffix}", arr))
    if unmapped:
        raise InputError(
            f"{len(unmapped)} weight(s) have no GGUF name for architecture {arch!r} "
            f"(e.g. {', '.join(unmapped[:3])}); nothing was written",
            field="model weights",
        )
    return out


def _add_metadata(w: Any, model: PreTrainedModel, arch: str, name: str, quant: str, vocab: GGUFVocab) -> None:
    import gguf

    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    w.add_type("model")
    w.add_name(name)
    w.add_context_length(int(cfg.max_position_embeddings))
    w.add_embedding_length(int(cfg.hidden_size))
    w.add_block_count(int(cfg.num_hidden_layers))
    w.add_feed_forward_length(int(cfg.intermediate_size))
    w.add_head_count(int(cfg.num_attention_heads))
    w.add_head_count_kv(int(getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads))
    w.add_rope_freq_base(_rope_theta(cfg))
    w.add_layer_norm_rms_eps(float(cfg.rms_norm_eps))
    w.add_vocab_size(int(cfg.vocab_size))
    w.add_rope_dimension_count(int(head_dim))
    if head_dim * cfg.num_attention_heads != cfg.hidden_size:
        w.add_key_length(int(head_dim))
        w.add_value_length(int(head_dim))
    w.add_file_type(int(gguf.LlamaFileType[GGUF_QUANTS[quant][1]]))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_tokenizer_model(vocab.model)
    w.add_tokenizer_pre(vocab.pre)
    w.add_token_list(vocab.tokens)
    w.add_token_types(vocab.token_types)
    w.add_token_merges(vocab.merges)
    adders = {"bos": w.add_bos_token_id, "eos": w.add_eos_token_id, "unk": w.add_unk_token_id}
    adders |= {"pad": w.add_pad_token_id, "eot": w.add_eot_token_id}
    for key, tid in vocab.special_ids.items():
        adders[key](tid)
    w.add_add_bos_token(vocab.add_bos)
    w.add_add_eos_token(vocab.add_eos)
    w.add_add_space_prefix(False)
    if vocab.chat_template:
        w.add_chat_template(vocab.chat_template)


def _check_supported(model: PreTrainedModel, quant: str) -> tuple[str, bool]:
    if quant not in GGUF_QUANTS:
        raise InputError(f"unknown quantization {quant!r} (one of {', '.join(GGUF_QUANTS)})", field="--quant")
    model_type = getattr(model.config, "model_type", None)
    if model_type not in _ARCHES:
        raise InputError(
            f"GGUF export does not support architecture {model_type!r} yet (supported: {', '.join(_ARCHES)})",
            field="config.json: model_type",
        )
    return _ARCHES[str(model_type)]


def write_gguf(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    out_file: str | os.PathLike[str],
    quant: str = "f16",
    name: str | None = None,
) -> GGUFExport:
    """Write ``model`` and ``tokenizer`` as one GGUF file.

    Args:
        model: a loaded causal LM of a supported architecture (llama, mistral, qwen2), float weights.
        tokenizer: its fast byte-level BPE tokenizer, chat template set.
        out_file: the ``.gguf`` to write (replaced atomically when it exists).
        quant: one of :data:`GGUF_QUANTS`.
        name: ``general.name`` (default: the folder name of the model).

    Returns:
        What was written.

    Raises:
        InputError: an architecture, tokenizer, rope scaling or quantization this exporter cannot write
            (nothing is written).
    """
    import gguf
    import numpy as np

    arch, permute = _check_supported(model, quant)
    main_type = GGUF_QUANTS[quant][0]
    vocab = build_vocab(tokenizer, int(model.config.vocab_size))
    tensors = _tensors(model, arch, permute)
    tied = not any(n == "output.weight" for n, _ in tensors)
    out = Path(out_file)
    label = name or Path(str(getattr(model, "name_or_path", "") or out.stem)).name
    types: Counter[str] = Counter()
    fallback: list[str] = []
    try:
        with atomic_target(out) as tmp:
            w = gguf.GGUFWriter(tmp, arch)
            _add_metadata(w, model, arch, label, quant, vocab)
            for gguf_name, arr in tensors:
                ttype = _tensor_type(gguf_name, arr, main_type, tied)
                qtype = gguf.GGMLQuantizationType[ttype]
                data = gguf.quants.quantize(arr, qtype) if ttype != "F32" else arr.astype(np.float32)
                w.add_tensor(gguf_name, data, raw_dtype=qtype)
                types[ttype] += 1
                if arr.ndim > 1 and ttype == "F16" and main_type != "F16":
                    fallback.append(gguf_name)
            w.write_header_to_file()
            w.write_kv_data_to_file()
            w.write_tensors_to_file()
            w.close()
    except (OSError, ValueError, gguf.QuantError) as e:
        raise TunelabError(f"writing {out} failed: {e}") from e
    notes = []
    if fallback:
        notes.append(
            f"{len(fallback)} tensor(s) written as F16, their rows not a multiple of the 32-value blocks of "
            f"{main_type} (as llama.cpp does): {', '.join(fallback[:4])}{' ...' if len(fallback) > 4 else ''}"
        )
    digest = _sha256(out)
    return GGUFExport(out, quant, arch, len(tensors), dict(types), out.stat().st_size, vocab, digest, notes)


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_gguf(
    model_dir: str, out_file: str, quant: str = "f16", adapter: str | None = None
) -> tuple[GGUFExport, PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a model folder (merging ``adapter`` into it first) and write it as GGUF.

    Args:
        model_dir: model folder, hub id, or ``tunelab-tiny``.
        out_file: the ``.gguf`` to write.
        quant: one of :data:`GGUF_QUANTS`.
        adapter: a peft LoRA/DoRA adapter folder, merged with :func:`tunelab.models.merge_adapter`.

    Returns:
        ``(export, source model, tokenizer)``: the model written, for round-trip verification.
    """
    from tunelab.models._load import load_model, load_tokenizer
    from tunelab.models._merge import merge_adapter

    if quant not in GGUF_QUANTS:  # refuse before loading anything
        raise InputError(f"unknown quantization {quant!r} (one of {', '.join(GGUF_QUANTS)})", field="--quant")
    name = Path(model_dir).name
    with tempfile.TemporaryDirectory(prefix="tunelab-merge-") as tmp:
        src = model_dir
        if adapter is not None:
            src = str(merge_adapter(model_dir, adapter, tmp))
            name = f"{name}+{Path(adapter).resolve().name}"
        tokenizer = load_tokenizer(src)
        model = load_model(src, "float32", "cpu").eval()
        export = write_gguf(model, tokenizer, out_file, quant, name=name)
    return export, model, tokenizer
