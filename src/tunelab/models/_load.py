"""Loading used everywhere: a Hugging Face hub id or a local folder, dtype and device selection,
the tokenizer with its chat template (tunelab's ChatML fallback only when it has none).

Weights load from safetensors only; ``trust_remote_code`` is off unless the caller asks.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.errors import InputError, TunelabError
from tunelab.models._fetch import fetch_model, read_provenance
from tunelab.models._registry import get_registered
from tunelab.models._shipped import tiny_model_dir

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "TINY_NAME",
    "FALLBACK_CHAT_TEMPLATE",
    "resolve_model_path",
    "pick_device",
    "resolve_dtype",
    "load_tokenizer",
    "load_model",
    "load_model_and_tokenizer",
    "is_tiny",
    "describe_source",
]

log = logging.getLogger("tunelab")

TINY_NAME = "tunelab-tiny"

#: ChatML, used only when a tokenizer ships no chat template (and tunelab says so).
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def resolve_model_path(name_or_path: str) -> str:
    """Map ``tunelab-tiny`` to the shipped model folder and a registered name (``smollm2-135m-instruct``)
    to its cached folder (obtained on first use); pass folders and hub ids through.

    Raises:
        InputError: a path that looks local (starts with ``.``, ``/`` or ``~``) but does not exist.
    """
    if name_or_path == TINY_NAME:
        return str(tiny_model_dir())
    if get_registered(name_or_path) is not None:
        return str(fetch_model(name_or_path))
    p = Path(name_or_path).expanduser()
    if p.exists():
        if not p.is_dir():
            raise InputError("a model must be a folder (save_pretrained layout) or a hub id", file=str(p))
        return str(p)
    if name_or_path.startswith((".", "/", "~")) or os.sep in name_or_path.strip("/").replace("/", "", 1):
        raise InputError("no such model folder", file=name_or_path)
    return name_or_path  # a hub id: transformers resolves it (offline: from the local cache only)


def is_tiny(name_or_path: str) -> bool:
    """True when the path is (a copy of) the embedded tiny model."""
    if name_or_path == TINY_NAME:
        return True
    marker = Path(name_or_path) / "tunelab_tiny.json"
    return marker.is_file()


def describe_source(name_or_path: str) -> dict[str, Any]:
    """Where a model's weights came from, for ``model info`` and reports (never fetches anything).

    Returns:
        ``kind`` (``package-index``, ``tiny``, ``folder`` or ``hub``), a one-line ``summary``, and the
        provenance record for a converted registered model.
    """
    entry = get_registered(name_or_path)
    if entry is not None:
        from tunelab.models._registry import model_cache_path

        name_or_path = str(model_cache_path(entry.name))
    if is_tiny(name_or_path):
        return {"kind": "tiny", "summary": "tunelab-tiny, the embedded 3.7M-parameter demonstration model"}
    prov = read_provenance(name_or_path) if Path(name_or_path).is_dir() else None
    if prov is not None:
        summary = (
            f"{prov['name']}: {prov['requirement']} from the package index; {prov['weights']}, "
            f"{prov['quality_note']}"
        )
        return {"kind": "package-index", "summary": summary, "provenance": prov}
    if Path(name_or_path).expanduser().exists():
        return {"kind": "folder", "summary": f"local folder {name_or_path}"}
    return {"kind": "hub", "summary": f"{name_or_path} from the Hugging Face hub (its published weights)"}


def pick_device(device: str = "auto") -> str:
    """``auto`` -> cuda, then mps, then cpu; an explicit choice is checked."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("CUDA was requested but no CUDA device is available", field="model.device")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError("MPS was requested but is not available", field="model.device")
    if device not in ("cpu", "cuda", "mps"):
        raise InputError(f"unknown device {device!r} (auto, cpu, cuda, mps)", field="model.device")
    return device


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """``auto`` -> bfloat16 on a GPU that supports it, float32 elsewhere."""
    import torch

    if dtype == "auto":
        if device == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in table:
        raise InputError(f"unknown dtype {dtype!r} (auto, float32, bfloat16, float16)", field="model.dtype")
    return table[dtype]


def load_tokenizer(
    name_or_path: str,
    chat_template: str | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
) -> PreTrainedTokenizerBase:
    """Load a tokenizer; make sure it has a chat template and a pad token.

    Args:
        name_or_path: hub id, local folder, or ``tunelab-tiny``.
        chat_template: a Jinja template (or a path to a file holding one) overriding the tokenizer's.
        trust_remote_code: allow tokenizer code shipped with the model.
        revision: hub revision.

    Returns:
        The tokenizer, with ``chat_template`` set (the ChatML fallback when it had none, with a
        warning) and ``pad_token`` set (to EOS when it had none, with a warning: the data layer's
        masks never use the pad id to find labels, so EOS still gets its loss).
    """
    from transformers import AutoTokenizer

    path = resolve_model_path(name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code, revision=revision)
    except OSError as e:
        raise InputError(f"cannot load a tokenizer: {e}", file=name_or_path) from e
    if chat_template:
        p = Path(chat_template)
        tok.chat_template = p.read_text(encoding="utf-8") if p.is_file() else chat_template
    elif not getattr(tok, "chat_template", None):
        log.warning("%s has no chat template; using tunelab's built-in ChatML template", name_or_path)
        tok.chat_template = FALLBACK_CHAT_TEMPLATE
        tok.init_kwargs["tunelab_fallback_template"] = True
    if tok.pad_token is None:  # the data layer says once that pad == EOS is harmless here
        tok.pad_token = tok.eos_token
    return tok


def load_model(
    name_or_path: str,
    dtype: str = "float32",
    device: str = "auto",
    trust_remote_code: bool = False,
    revision: str | None = None,
    **kwargs: Any,
) -> PreTrainedModel:
    """Load a causal LM from safetensors (never pickle) onto a device.

    Raises:
        InputError: missing folder, no safetensors weights, bad device/dtype.
        TunelabError: anything else transformers refuses.
    """
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # tunelab shows its own progress
    path = resolve_model_path(name_or_path)
    dev = pick_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    p = Path(path)
    if p.is_dir() and not any(p.glob("*.safetensors")):
        raise InputError(
            "no *.safetensors weights in this folder (tunelab never loads pickled .bin weights)",
            file=str(p),
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path,
            dtype=torch_dtype,
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
            revision=revision,
            **kwargs,
        )
    except OSError as e:
        raise InputError(f"cannot load a model: {e}", file=name_or_path) from e
    except ValueError as e:
        raise TunelabError(f"cannot load {name_or_path}: {e}") from e
    return model.to(dev)  # type: ignore[arg-type]  # transformers' .to accepts a device string


def load_model_and_tokenizer(cfg: Any) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Both, from a :class:`tunelab.config.ModelConfig`."""
    tok = load_tokenizer(cfg.name_or_path, cfg.chat_template, cfg.trust_remote_code, cfg.revision)
    model = load_model(cfg.name_or_path, cfg.dtype, cfg.device, cfg.trust_remote_code, cfg.revision)
    return model, tok
