"""Training FLOPs per step and a time estimate.

FLOPs per step (B sequences of T tokens, N = matmul parameters = blocks + output projection,
L layers, q = H*hd the attention width):

    full:  6 * N * B*T  +  12 * L * q * T^2 * B
    lora:  4 * N * B*T  +  6 * N_lora * B*T  +  12 * L * q * T^2 * B

6N (Kaplan et al. 2020; Chinchilla) = 2N forward + 4N backward (activation and weight grads);
frozen weights skip the weight-gradient 2N. The attention term (PaLM, appendix B) counts
QK^T and AV without the causal saving. Gradient checkpointing adds one more forward
(+2N per token, +4 * L * q * T^2 * B).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tunelab.estimate._arch import ModelArch
from tunelab.estimate._hardware import Hardware

__all__ = ["FlopsEstimate", "estimate_flops", "estimate_time"]


@dataclass
class FlopsEstimate:
    flops_per_step: float
    flops_per_token: float
    dense_flops_per_step: float
    attention_flops_per_step: float
    formula: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate_flops(
    arch: ModelArch, method: str, seq_len: int, batch: int, grad_ckpt: bool = False, lora_r: int = 16
) -> FlopsEstimate:
    """FLOPs of one training step (see the module docstring for the formula).

    Args:
        arch: the model.
        method: ``full``, ``lora`` or ``qlora`` (same FLOPs as lora; dequantisation not counted).
        seq_len: T.
        batch: B.
        grad_ckpt: add the recomputed forward.
        lora_r: LoRA rank.

    Returns:
        A :class:`FlopsEstimate`.
    """
    n = arch.matmul_params()
    tokens = batch * seq_len
    q = arch.num_heads * arch.head_dim
    attn_fwd = 4 * arch.num_layers * q * seq_len**2 * batch
    if method == "full":
        dense = 6 * n * tokens
        formula = "6*N*B*T + 12*L*q*T^2*B"
    else:
        dense = 4 * n * tokens + 6 * arch.lora_params(lora_r) * tokens
        formula = "4*N*B*T + 6*N_lora*B*T + 12*L*q*T^2*B"
    attn = 3 * attn_fwd
    if grad_ckpt:
        dense += 2 * n * tokens
        attn += attn_fwd
        formula += " + recompute (2*N*B*T + 4*L*q*T^2*B)"
    total = float(dense + attn)
    return FlopsEstimate(total, total / tokens, float(dense), float(attn), formula + f" with N={n}")


def estimate_time(
    flops_per_step: float, tokens_per_step: int, tokens: int, hw: Hardware, dtype: str, mfu: float
) -> dict[str, Any]:
    """Seconds to train on ``tokens`` tokens at ``mfu`` of the device's peak for ``dtype``.

    Returns:
        ``{"hardware", "peak_flops", "mfu", "steps", "seconds", "hours", "tokens_per_s"}``.
    """
    peak = hw.peak_flops(dtype)
    steps = tokens / tokens_per_step
    secs = steps * flops_per_step / (peak * mfu)
    return {
        "hardware": hw.to_dict(),
        "peak_flops": peak,
        "mfu": mfu,
        "tokens": tokens,
        "steps": steps,
        "seconds": secs,
        "hours": secs / 3600,
        "tokens_per_s": tokens / secs if secs > 0 else None,
    }
