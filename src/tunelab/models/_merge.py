"""Merge a LoRA adapter into its base model and write a plain Hugging Face model folder."""

from __future__ import annotations

import json
from pathlib import Path

from tunelab.errors import InputError
from tunelab.models._load import load_model, load_tokenizer, resolve_model_path

__all__ = ["merge_adapter"]


def merge_adapter(base_dir: str, adapter_dir: str, out_dir: str, dtype: str = "float32") -> Path:
    """Fold ``adapter_dir``'s LoRA/DoRA weights into ``base_dir`` and save the result.

    Args:
        base_dir: the base model (folder, hub id, or ``tunelab-tiny``).
        adapter_dir: a peft adapter folder (``adapter_config.json`` + weights).
        out_dir: where to write the merged model (safetensors) and the tokenizer.
        dtype: weight dtype to load and save in.

    Returns:
        ``out_dir`` as a path.

    Raises:
        InputError: the adapter folder is not a peft adapter.
    """
    from peft import PeftModel

    cfg_file = Path(adapter_dir) / "adapter_config.json"
    if not cfg_file.is_file():
        raise InputError("not a peft adapter folder (no adapter_config.json)", file=adapter_dir)
    base = load_model(base_dir, dtype, "cpu")
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out), safe_serialization=True)
    # the tokenizer: the adapter folder's when training saved one there, else the base's
    tok_src = adapter_dir if (Path(adapter_dir) / "tokenizer_config.json").is_file() else base_dir
    load_tokenizer(tok_src).save_pretrained(str(out))
    marker = Path(resolve_model_path(base_dir)) / "tunelab_tiny.json"
    if marker.is_file():  # keep saying that this is (derived from) the embedded tiny model
        (out / "tunelab_tiny.json").write_text(marker.read_text(encoding="utf-8"), encoding="utf-8")
    info = json.loads(cfg_file.read_text(encoding="utf-8"))
    (out / "tunelab_merge.json").write_text(
        json.dumps({"base": base_dir, "adapter": adapter_dir, "peft_type": info.get("peft_type")}, indent=1),
        encoding="utf-8",
    )
    return out
