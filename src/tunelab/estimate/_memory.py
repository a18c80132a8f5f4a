"""Peak training memory of a Llama-style model: weights, gradients, optimizer, activations, logits.

Assumptions (all reported in the estimate's ``assumptions``):
- Optimizer AdamW (``torch.optim.AdamW``): two moments per trainable parameter in fp32
  (8 B), plus an fp32 master copy (4 B) when trainable weights are stored in 16 bits (ZeRO's
  2+2+12 bytes accounting), plus a transient fp32 copy of the second moments during the step (all of
  them with the foreach path, torch's GPU default; one tensor's with the per-tensor CPU path).
- ``--dtype`` is the storage/compute dtype of weights and activations. ``qlora`` stores frozen
  block linears in NF4 with double quantisation (4.127 bits/param); embeddings, norms and lm_head
  stay in ``dtype``; LoRA adapters are trained in fp32 (peft's default upcast).
- Loss form ``standard``: ``model(input_ids, labels=...)`` (HF ``ForCausalLMLoss``), logits kept
  only until the loss is built. Peak at backward start: fp32 log-probs saved by log_softmax, their
  gradient and the logits' gradient: 3 x B*T*V*4 B. Loss form ``chunked``: cross-entropy over
  ``ce_chunk_tokens`` rows at a time with each chunk's logits recomputed in backward (tunelab's
  trainer): 3 x C*V*4 B plus the saved final hidden states.
- Activations: what autograd saves in a Llama block with SDPA attention (the transformers
  default; the flash/efficient kernel with a causal flag stores q, k, v, the output and the fp32
  log-sum-exp, never the T x T matrix). ``eager`` attention adds the fp32 softmax (B*H*T*T).
  Gradient checkpointing keeps only each block's input plus one recomputed block.
- Phases: peak = weights + max(optimizer + activations + logits  [backward start, step >= 2],
  gradients + optimizer + step temporaries  [optimizer step]).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tunelab.errors import InputError
from tunelab.estimate._arch import LINEAR_MODULES, ModelArch

__all__ = ["MemoryEstimate", "estimate_memory", "activation_bytes_per_layer", "DTYPE_BYTES"]

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
NF4_BYTES_PER_PARAM = 4.127 / 8  # 4-bit codes + double-quantised absmax constants (QLoRA paper, sec. 3)
GIB = 1024**3


@dataclass
class MemoryEstimate:
    """Bytes for each part of a training step's peak memory (``*_bytes``) and the inputs used."""

    weights_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int
    logits_bytes: int
    step_temp_bytes: int
    peak_bytes: int
    peak_phase: str
    total_params: int
    trainable_params: int
    inputs: dict[str, Any] = field(default_factory=dict)
    assumptions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["peak_gib"] = round(self.peak_bytes / GIB, 4)
        return d


def activation_bytes_per_layer(
    arch: ModelArch, tokens: int, seq_len: int, dtype_bytes: int, method: str, lora_r: int, attn: str = "sdpa"
) -> float:
    """Bytes autograd saves for one decoder block over ``tokens`` = B*T tokens.

    Per token, in elements of ``dtype`` (d hidden, I intermediate, q = H*hd, kv = KV*hd):
      block input d; input RMSNorm: normalised x and its output, 2d; attention: RoPE'd q and k,
      v, q-sized pre-RoPE copy, SDPA output and its (B,T,q) reshape: 4q + 2kv; residual sum d;
      post-attention RMSNorm 2d; MLP: gate, silu(gate), up, product: 4I; plus fp32 log-sum-exp
      (H values) and two fp32 rsqrt scalars. With frozen norm weights (LoRA) the two normalised
      tensors are not saved (-2d); each LoRA pair saves its rank-r intermediate (+r per target).
      ``eager`` attention also saves the fp32 softmax, H*T values per token.
    """
    d, i = arch.hidden_size, arch.intermediate_size
    q, kv = arch.num_heads * arch.head_dim, arch.num_kv_heads * arch.head_dim
    if arch.num_kv_heads < arch.num_heads:
        kv_saved = 2 * q  # k and v repeated to H heads before SDPA
    else:
        kv_saved = 2 * kv
    per_token = 6 * d + 4 * q + kv_saved + 4 * i
    if method in ("lora", "qlora"):
        per_token += -2 * d + lora_r * len(LINEAR_MODULES)
    fp32_elems = arch.num_heads + 2
    if attn == "eager":
        fp32_elems += arch.num_heads * seq_len
    return tokens * (per_token * dtype_bytes + fp32_elems * 4)


def _check_inputs(method: str, dtype: str, loss: str, attn: str, sizes: dict[str, int]) -> None:
    """Raise :class:`InputError` for an unknown method, dtype, loss form or attention, or a size <= 0."""
    if method not in ("full", "lora", "qlora"):
        raise InputError(f"unknown method {method!r} (full, lora, qlora)", field="method")
    if dtype not in DTYPE_BYTES:
        raise InputError(f"unknown dtype {dtype!r} ({', '.join(DTYPE_BYTES)})", field="dtype")
    if loss not in ("standard", "chunked"):
        raise InputError(f"unknown loss form {loss!r} (standard, chunked)", field="loss")
    if attn not in ("sdpa", "eager"):
        raise InputError(f"unknown attention implementation {attn!r} (sdpa, eager)", field="attn")
    for name, v in sizes.items():
        if v <= 0:
            raise InputError(f"must be positive, got {v}", field=name)


def _parameter_memory(
    arch: ModelArch, method: str, s: int, lora_r: int, foreach: bool
) -> tuple[int, float, float, float, float]:
    """``(trainable params, weights, gradients, optimizer states, AdamW step temporaries)`` in bytes, for
    ``s`` bytes per weight."""
    n_total = arch.total_params()
    if method == "full":
        trainable = n_total
        weights = n_total * s
        grad_b = s
        optimizer = trainable * (8 + (4 if s < 4 else 0))
    else:
        trainable = arch.lora_params(lora_r)
        block_linears = arch.num_layers * (arch.layer_params() - 2 * arch.hidden_size)
        other = n_total - block_linears
        base = block_linears * (NF4_BYTES_PER_PARAM if method == "qlora" else s) + other * s
        weights = int(base) + trainable * 4  # adapters in fp32
        grad_b = 4
        optimizer = trainable * 8
    gradients = trainable * grad_b
    if foreach:  # multi-tensor AdamW: sqrt(exp_avg_sq) of every parameter at once, fp32
        step_temp = trainable * 4
    elif method == "full":  # one parameter at a time: the largest matrix
        step_temp = (
            max(arch.vocab_size * arch.hidden_size, max(a * b for a, b in arch.linear_shapes().values())) * 4
        )
    else:
        step_temp = max(r * max(a, b) for a, b in arch.linear_shapes().values() for r in (lora_r,)) * 4
    return trainable, weights, gradients, optimizer, step_temp


def estimate_memory(
    arch: ModelArch,
    method: str,
    seq_len: int,
    batch: int,
    dtype: str = "float32",
    grad_ckpt: bool = False,
    lora_r: int = 16,
    loss: str = "standard",
    ce_chunk_tokens: int = 1024,
    attn: str = "sdpa",
    foreach: bool = True,
) -> MemoryEstimate:
    """Estimate peak memory of one training step (forward, backward, AdamW step).

    Args:
        arch: the model (see :func:`tunelab.estimate.load_arch`).
        method: ``full``, ``lora`` (all block linears targeted) or ``qlora``.
        seq_len: tokens per sequence (T).
        batch: sequences per step (B, per device).
        dtype: weight/activation dtype: ``float32``, ``bfloat16``, ``float16``.
        grad_ckpt: gradient (activation) checkpointing per decoder block.
        lora_r: LoRA rank.
        loss: ``standard`` (full B*T*V logits) or ``chunked`` (chunked cross-entropy).
        ce_chunk_tokens: rows per chunk for ``chunked``.
        attn: ``sdpa`` (default) or ``eager``.
        foreach: AdamW's multi-tensor path (torch's default on GPU) holds a full fp32 copy of the
            second moments during the step; the per-tensor path (the default on CPU) one tensor's.

    Returns:
        A :class:`MemoryEstimate`.

    Raises:
        InputError: unknown method, dtype, loss or non-positive sizes.
    """
    _check_inputs(
        method,
        dtype,
        loss,
        attn,
        {"seq_len": seq_len, "batch": batch, "lora_r": lora_r, "ce_chunk_tokens": ce_chunk_tokens},
    )
    s = DTYPE_BYTES[dtype]
    n_total = arch.total_params()
    tokens = batch * seq_len

    trainable, weights, gradients, optimizer, step_temp = _parameter_memory(arch, method, s, lora_r, foreach)

    per_layer = activation_bytes_per_layer(arch, tokens, seq_len, s, method, lora_r, attn)
    final_norm = tokens * arch.hidden_size * s * (1 if method == "full" else 0)
    if grad_ckpt:
        activations = arch.num_layers * tokens * arch.hidden_size * s + per_layer
    else:
        activations = arch.num_layers * per_layer
    activations += final_norm
    rows = tokens if loss == "standard" else min(ce_chunk_tokens, tokens)
    logits = 3 * rows * arch.vocab_size * 4
    if loss == "chunked":
        logits += tokens * arch.hidden_size * s  # final hidden states kept for the recomputation

    backward_phase = optimizer + activations + logits
    step_phase = gradients + optimizer + step_temp
    phase = "backward" if backward_phase >= step_phase else "optimizer_step"
    peak = weights + max(backward_phase, step_phase)
    return MemoryEstimate(
        weights_bytes=int(weights),
        gradients_bytes=int(gradients),
        optimizer_bytes=int(optimizer),
        activations_bytes=int(activations),
        logits_bytes=int(logits),
        step_temp_bytes=int(step_temp),
        peak_bytes=int(peak),
        peak_phase=phase,
        total_params=n_total,
        trainable_params=trainable,
        inputs={
            "method": method,
            "seq_len": seq_len,
            "batch": batch,
            "dtype": dtype,
            "grad_ckpt": grad_ckpt,
            "lora_r": lora_r if method != "full" else None,
            "lora_targets": list(LINEAR_MODULES) if method != "full" else None,
            "loss": loss,
            "ce_chunk_tokens": ce_chunk_tokens if loss == "chunked" else None,
            "attn": attn,
            "optimizer": "AdamW (torch, " + ("foreach" if foreach else "per-tensor") + ")",
        },
        assumptions=[
            "AdamW: 2 fp32 moments per trainable parameter; fp32 master weights when weights are 16-bit",
            "peak = weights + max(optimizer + activations + logits, gradients + optimizer + AdamW temporaries)",
            "standard loss: HF forward(labels=...) -> 3 fp32 B*T*V buffers at backward start; "
            "chunked: 3 fp32 chunk*V buffers with per-chunk recomputation",
            f"activations: Llama block with {attn} attention; grad checkpointing keeps block inputs + one block",
            "framework overhead (CUDA context, allocator caching, fragmentation) is not included",
        ],
    )
