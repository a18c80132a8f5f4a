"""Setup of a training run: the ``accelerate`` Accelerator (devices, precision, trackers) and the model and
tokenizer as the config asks (full, LoRA/DoRA, QLoRA; per-example attention for packed rows on CPU)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from tunelab.config import Config
from tunelab.errors import InputError
from tunelab.models import (
    apply_lora,
    cast_frozen_linears,
    fuse_lora_layers,
    load_model,
    load_qlora_base,
    load_tokenizer,
    pick_device,
)
from tunelab.train._attention import check_packing_support, register_segment_attention
from tunelab.train._monitor import bf16_is_faster

if TYPE_CHECKING:
    from accelerate import Accelerator

__all__ = ["load_for_training", "make_accelerator"]


def make_accelerator(config: Config) -> Accelerator:
    from accelerate import Accelerator

    device = pick_device(config.model.device)
    bf16 = {"on": True, "off": False}.get(config.train.bf16, bf16_is_faster(device))
    trackers = []
    for name in config.train.report_to:
        module = {"tensorboard": "tensorboard", "mlflow": "mlflow"}.get(name)
        if module is None:
            raise InputError(f"unknown tracker {name!r} (tensorboard, mlflow)", field="train.report_to")
        try:
            __import__(module)
        except ImportError as e:
            raise InputError(f"{name} is not installed: pip install {module}", field="train.report_to") from e
        trackers.append(name)
    from accelerate.state import AcceleratorState, PartialState

    if AcceleratorState._shared_state and PartialState().num_processes == 1:
        # a second run in the same process (tests, compare) may use other precision settings;
        # accelerate keeps a process-wide singleton, which is safe to reset without a process group
        AcceleratorState._reset_state(reset_partial_state=True)
    return Accelerator(
        cpu=device == "cpu",
        mixed_precision="bf16" if bf16 else "no",
        log_with=trackers or None,
        project_dir=str(config.run_dir),
    )


def load_for_training(config: Config, accelerator_device: str, bf16: bool = False) -> tuple[Any, Any]:
    m, t = config.model, config.train
    tokenizer = load_tokenizer(m.name_or_path, m.chat_template, m.trust_remote_code, m.revision)
    if t.method == "qlora":
        model = load_qlora_base(m.name_or_path, m.trust_remote_code, m.revision)
    else:
        model = load_model(
            m.name_or_path, m.dtype, "cpu", m.trust_remote_code, m.revision
        )  # accelerate places it
    model.config.use_cache = False
    if config.data.packing:
        check_packing_support(accelerator_device)
    if config.data.packing and model.config._attn_implementation == "sdpa" and accelerator_device == "cpu":
        # per-example causal attention instead of a (B, 1, T, T) block-diagonal mask (on GPUs,
        # sdpa's masked kernels or flash-attention varlen do better than a Python loop)
        model.set_attn_implementation(register_segment_attention())
    if t.dropout > 0:  # attention dropout lives on each attention module (read at forward time)
        model.config.attention_dropout = t.dropout
        for mod in model.modules():
            if isinstance(getattr(mod, "attention_dropout", None), float):
                mod.attention_dropout = t.dropout
    if t.grad_ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if t.method in ("lora", "qlora"):
        lc = config.lora
        model = apply_lora(
            model, lc.r, lc.alpha, lc.dropout, lc.target_modules, lc.dora, quantized=t.method == "qlora"
        )
        if bf16 and t.method == "lora" and not lc.dora:  # the base weights are only ever read in bf16
            cast_frozen_linears(model, torch.bfloat16)
        if t.method == "lora":  # one autograd function per adapted layer (peft's forward where it must)
            fuse_lora_layers(model)
    return model, tokenizer
