"""One way to load a model for generation or scoring: the CLI, the server, the comparison and the synthetic-data
backends all call :func:`load_for_inference`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tunelab.errors import InputError
from tunelab.models._load import load_model, load_tokenizer

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["load_for_inference"]


def load_for_inference(
    model: str,
    adapter: str | None = None,
    *,
    dtype: str = "float32",
    device: str = "auto",
    chat_template: str | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a model, with a peft LoRA adapter merged in when one is given, and its tokenizer, in eval mode.

    The adapter is merged (``merge_and_unload``): generation then runs as fast as the base model, and the
    adapter files are untouched. The tokenizer comes from the adapter folder when it ships one (training saves
    the tokenizer beside its adapter), else from ``model``.

    Args:
        model: a model folder, a hub id, or ``tunelab-tiny``.
        adapter: a folder saved by peft (``adapter_config.json``).
        dtype: ``float32``, ``bfloat16``, ``float16`` or ``auto``.
        device: ``auto``, ``cpu``, ``cuda``, ``mps``.
        chat_template: a Jinja template (or a file holding one) overriding the tokenizer's.
        trust_remote_code: allow code shipped with the model.
        revision: hub revision of ``model``.

    Returns:
        ``(model, tokenizer)``.

    Raises:
        InputError: a missing folder, or an adapter folder without ``adapter_config.json``.
    """
    m = load_model(model, dtype=dtype, device=device, trust_remote_code=trust_remote_code, revision=revision)
    tok_source, tok_revision = model, revision
    if adapter is not None:
        a = Path(adapter)
        if not (a / "adapter_config.json").is_file():
            raise InputError(
                "not a peft adapter folder (no adapter_config.json)", file=adapter, field="adapter"
            )
        from peft import PeftModel

        m = PeftModel.from_pretrained(m, str(a)).merge_and_unload()  # type: ignore[assignment]
        if (a / "tokenizer_config.json").is_file():
            tok_source, tok_revision = str(a), None
    tok = load_tokenizer(tok_source, chat_template, trust_remote_code, tok_revision)
    return m.eval(), tok
