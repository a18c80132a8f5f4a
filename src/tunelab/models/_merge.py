"""Merge a LoRA adapter into its base model and write a plain Hugging Face model folder."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tunelab._atomic import atomic_dir, refuse_same_path
from tunelab.errors import InputError
from tunelab.models._load import load_model, load_tokenizer, resolve_model_path

__all__ = ["merge_adapter"]

_MISMATCH = re.compile(
    r"size mismatch for (\S+?): copying a param with shape (.+?) from checkpoint, the shape in current model is (.+?)\.$",
    re.M,
)


def _shape(text: str) -> str:
    return text.removeprefix("torch.Size(").removesuffix(")")


def _apply_adapter(base: Any, base_dir: str, adapter_dir: str, trained_on: str | None) -> Any:
    """peft's ``from_pretrained``, its shape and module errors turned into one clear InputError."""
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(base, adapter_dir)
    except (RuntimeError, ValueError) as e:
        msg = str(e)
        found = _MISMATCH.findall(msg)
        if not found and "not found in the base model" not in msg:
            raise
        where = f" (it was trained on {trained_on})" if trained_on else ""
        if found:
            name, theirs, ours = found[0]
            more = f"; {len(found) - 1} more weight(s) differ" if len(found) > 1 else ""
            detail = f"{name} is {_shape(theirs)} in the adapter, {_shape(ours)} in the base{more}"
        else:
            detail = msg[:200]
        raise InputError(
            f"this adapter was not trained on the base {base_dir}{where}: {detail}",
            file=adapter_dir,
            field="--adapter",
        ) from None


def merge_adapter(base_dir: str, adapter_dir: str, out_dir: str, dtype: str = "float32") -> Path:
    """Fold ``adapter_dir``'s LoRA/DoRA weights into ``base_dir`` and save the result.

    The folder is written beside ``out_dir`` and renamed into place when complete: a killed merge leaves
    the previous ``out_dir`` (or none).

    Args:
        base_dir: the base model (folder, hub id, or ``tunelab-tiny``).
        adapter_dir: a peft adapter folder (``adapter_config.json`` + weights).
        out_dir: where to write the merged model (safetensors) and the tokenizer.
        dtype: weight dtype to load and save in.

    Returns:
        ``out_dir`` as a path.

    Raises:
        InputError: the adapter folder is not a peft adapter, the adapter was trained on another base, or
            ``out_dir`` is (or holds) the base or the adapter.
    """
    cfg_file = Path(adapter_dir) / "adapter_config.json"
    if not cfg_file.is_file():
        raise InputError("not a peft adapter folder (no adapter_config.json)", file=adapter_dir)
    base_path = resolve_model_path(base_dir)
    refuse_same_path(out_dir, "--out", {"--base": base_path, "--adapter": adapter_dir})
    out = Path(out_dir)
    info = json.loads(cfg_file.read_text(encoding="utf-8"))
    base = load_model(base_dir, dtype, "cpu")
    merged = _apply_adapter(
        base, base_dir, adapter_dir, info.get("base_model_name_or_path")
    ).merge_and_unload()
    # the tokenizer: the adapter folder's when training saved one there, else the base's
    tok_src = adapter_dir if (Path(adapter_dir) / "tokenizer_config.json").is_file() else base_dir
    tokenizer = load_tokenizer(tok_src)
    with atomic_dir(out, replaces="config.json") as tmp:
        merged.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        marker = Path(base_path) / "tunelab_tiny.json"
        if marker.is_file():  # keep saying that this is (derived from) the embedded tiny model
            (tmp / "tunelab_tiny.json").write_text(marker.read_text(encoding="utf-8"), encoding="utf-8")
        (tmp / "tunelab_merge.json").write_text(
            json.dumps(
                {"base": base_dir, "adapter": adapter_dir, "peft_type": info.get("peft_type")}, indent=1
            ),
            encoding="utf-8",
        )
    return out
