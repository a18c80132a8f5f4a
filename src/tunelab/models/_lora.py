"""LoRA / DoRA / QLoRA wiring through ``peft`` (adapters that plain ``peft`` loads as they are)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunelab.errors import InputError
from tunelab.models._load import resolve_model_path

if TYPE_CHECKING:
    from transformers import PreTrainedModel

__all__ = ["apply_lora", "cast_frozen_linears", "load_qlora_base", "trainable_parameters"]


def apply_lora(
    model: PreTrainedModel,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.05,
    target_modules: list[str] | None = None,
    use_dora: bool = False,
    quantized: bool = False,
) -> Any:
    """Wrap a causal LM with a LoRA adapter; only the adapter trains.

    Args:
        model: the base model.
        r: rank.
        alpha: scale numerator (scale = alpha / r).
        dropout: dropout on the adapter input.
        target_modules: module names to adapt; names missing from the model are an error.
        use_dora: weight-decomposed LoRA (Liu et al. 2024).
        quantized: the base is 4-bit (QLoRA): prepare it for k-bit training first.

    Returns:
        A ``peft.PeftModel``.

    Raises:
        InputError: bad rank, or target modules the model does not have.
    """
    from peft import LoraConfig, get_peft_model

    if r < 1:
        raise InputError("must be >= 1", field="lora.r")
    targets = list(target_modules or [])
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [t for t in targets if t not in names]
    if not targets or len(missing) == len(targets):
        raise InputError(
            f"none of {targets} is a module of this model (linear layers include: "
            f"{', '.join(sorted(n for n in names if n.endswith('proj'))[:12])})",
            field="lora.target_modules",
        )
    if quantized:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    cfg = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=[t for t in targets if t in names],
        use_dora=use_dora,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, cfg)


def cast_frozen_linears(model: Any, dtype: Any) -> int:
    """Store the frozen weights of linear layers in ``dtype`` once (LoRA under bf16 autocast).

    Autocast caches its casts only of weights that require grad; a frozen fp32 base weight is cast
    again by every forward of every layer (14% of a CPU LoRA step on SmolLM2-135M), and its fp32 copy
    is memory that no update ever reads. Casting it once gives the same products (autocast would
    have cast it to the same values) at half the memory. Weights shared with the input embedding
    (tied ``lm_head``) stay as they are, so the embedding output and the residual stream keep their
    precision.

    Returns:
        The number of weights cast.
    """
    from torch import nn

    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    tied = getattr(emb, "weight", None)
    n = 0
    for mod in model.modules():
        w = getattr(mod, "weight", None)
        if not isinstance(mod, nn.Linear) or w is None or w.requires_grad or w is tied or w.dtype == dtype:
            continue
        w.data = w.data.to(dtype)
        n += 1
    return n


def load_qlora_base(name_or_path: str, trust_remote_code: bool = False, revision: str | None = None) -> Any:
    """Load a base model in 4-bit NF4 (bitsandbytes) for QLoRA, on the current CUDA device.

    Raises:
        InputError: no CUDA device, or bitsandbytes is not installed.
    """
    import torch

    if not torch.cuda.is_available():
        raise InputError(
            "QLoRA needs a CUDA GPU (bitsandbytes 4-bit kernels); on this machine use train.method=lora",
            field="train.method",
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as e:
        raise InputError(
            "QLoRA needs bitsandbytes: pip install bitsandbytes (or use train.method=lora)",
            field="train.method",
        ) from e
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    bnb = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16,
    )
    # no .to(device) afterwards: 4-bit weights are placed by device_map and must not be moved
    return AutoModelForCausalLM.from_pretrained(
        resolve_model_path(name_or_path),
        quantization_config=bnb,
        device_map={"": torch.cuda.current_device()},
        use_safetensors=True,
        trust_remote_code=trust_remote_code,
        revision=revision,
    )


def trainable_parameters(model: Any) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
