"""The training loss: cross-entropy on target tokens only, computed in chunks from hidden states.

A causal LM's logits are (B, T, V); for a 128k vocabulary at B*T = 16k tokens that is 8 GiB in
fp32 before its gradient. Here the decoder returns hidden states (B, T, H), only the positions
that have a target are kept (N, H), and the lm_head + log-softmax run over chunks of them: the
largest live tensor is (chunk, V). The gradient w.r.t. hidden states and lm_head weight is
computed chunk by chunk in the forward pass (the Liger-kernel "fused linear cross-entropy"
idea), so backward needs no recomputation and no saved logits.

The module returns the *sum* of token losses and the token count; the caller divides by the
number of target tokens of the whole accumulated (and all-process) batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from tunelab.data import IGNORE_INDEX
from tunelab.errors import TunelabError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "chunked_cross_entropy",
    "chunk_rows",
    "CausalLMLoss",
    "neftune_hook",
    "decoder_and_head",
    "check_plain_logits",
]

# Config fields of families whose forward post-processes lm_head logits, and the value meaning "none":
# Gemma 2/3 tanh softcapping, Cohere's multiplier, Granite's divisor.
_LOGIT_POSTPROCESSING = {"final_logit_softcapping": None, "logit_scale": 1.0, "logits_scaling": 1.0}
#: bytes of the float32 (chunk, V) logits of one chunk: 128 MiB is 682 rows of a 49k vocabulary
#: (SmolLM2), 262 of a 128k one; more rows do not make the (chunk, H) x (H, V) product faster on a
#: CPU, and on SmolLM2 a 2048-row chunk held 1.2 GiB of logits, softmax and its bf16 copy at once
LOGITS_CHUNK_BYTES = 128 * 2**20


def chunk_rows(vocab_size: int, budget_bytes: int = LOGITS_CHUNK_BYTES) -> int:
    """Target tokens per lm_head chunk for a vocabulary: the float32 logits stay within the budget."""
    return max(64, min(8192, budget_bytes // (4 * max(vocab_size, 1))))


class _FusedLinearCrossEntropy(torch.autograd.Function):
    """sum_i CE(hidden_i @ W^T, target_i), with grads computed during the forward pass."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        hidden: torch.Tensor,  # (N, H)
        weight: torch.Tensor,  # (V, H)
        targets: torch.Tensor,  # (N,)
        chunk: int,
        compute_dtype: torch.dtype,
    ) -> torch.Tensor:
        want_h, want_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        n = hidden.shape[0]
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_h = torch.empty_like(hidden) if want_h else None
        # the (V, H) weight gradient: the first chunk's product as it comes (compute dtype), summed in float32
        # from the second chunk on; no zero-filled vocabulary-sized buffer (on SmolLM2 one chunk covers a
        # 4 x 256-token step, and each fresh 113 MB float32 buffer costs more than the product itself on a CPU)
        grad_w: torch.Tensor | None = None
        w = weight.to(compute_dtype)
        for s in range(0, n, chunk):
            h = hidden[s : s + chunk].to(compute_dtype)  # (c, H)
            t = targets[s : s + chunk]  # (c,)
            logits = (h @ w.t()).float()  # (c, V): the only vocabulary-sized tensor alive
            lse = torch.logsumexp(logits, dim=-1)  # (c,)
            total += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
            if want_h or want_w:
                # d(sum CE)/d logits = softmax - onehot
                g = logits.sub_(lse[:, None]).exp_()
                g[torch.arange(t.shape[0], device=t.device), t] -= 1.0
                g_c = g.to(compute_dtype)
                if grad_h is not None:
                    grad_h[s : s + chunk] = (g_c @ w).to(hidden.dtype)
                if want_w:
                    part = g_c.t() @ h  # (V, H)
                    if grad_w is None:
                        grad_w = part
                    elif grad_w.dtype == torch.float32:
                        grad_w += part
                    else:
                        grad_w = grad_w.float().add_(part)
        if want_w and grad_w is None:  # no rows at all
            grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        ctx.save_for_backward(
            grad_h if grad_h is not None else torch.empty(0),
            grad_w if grad_w is not None else torch.empty(0),
        )
        ctx.weight_dtype = weight.dtype
        ctx.flags = (want_h, want_w)
        return total

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        grad_h, grad_w = ctx.saved_tensors
        want_h, want_w = ctx.flags
        gh = grad_h * grad_out.to(grad_h.dtype) if want_h else None
        gw = None
        # float32 for the weight's gradient: one pass for the cast and the scale where a cast is due
        if want_w:
            gw = grad_w.float().mul_(grad_out) if grad_w.dtype != torch.float32 else grad_w * grad_out
            gw = gw.to(ctx.weight_dtype)
        return gh, gw, None, None, None


def _compute_dtype(device: torch.device, fallback: torch.dtype) -> torch.dtype:
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return fallback


def chunked_cross_entropy(
    hidden: torch.Tensor,
    targets: torch.Tensor,
    lm_head: nn.Module,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed cross-entropy of the target tokens, never building the full (B, T, V) logits.

    Args:
        hidden: final hidden states, (B, T, H) or (N, H).
        targets: next-token ids aligned with ``hidden`` (already shifted), -100 where there is no
            target; same leading shape as ``hidden``.
        lm_head: the output projection. A plain ``nn.Linear`` without bias takes the fused path;
            anything else (a LoRA-wrapped or quantized head) is called chunk by chunk under
            activation checkpointing.
        chunk_size: target tokens per chunk; by default :func:`chunk_rows` of the head's vocabulary.

    Returns:
        ``(loss_sum, n_targets)``: the float32 sum of token losses and the number of targets.
    """
    h = hidden.reshape(-1, hidden.shape[-1])  # (B*T, H)
    t = targets.reshape(-1)  # (B*T,)
    keep = t != IGNORE_INDEX
    h, t = h[keep], t[keep]  # (N, H), (N,): the masked prompt never reaches the lm_head
    n = torch.count_nonzero(keep)
    if t.numel() == 0:
        return hidden.sum() * 0.0, n
    weight = getattr(lm_head, "weight", None)
    if chunk_size is None:
        chunk_size = chunk_rows(
            int(getattr(lm_head, "out_features", 0) or (weight.shape[0] if weight is not None else 0))
        )
    if type(lm_head) is nn.Linear and lm_head.bias is None and weight is not None:
        dtype = _compute_dtype(h.device, weight.dtype)
        with torch.autocast(h.device.type, enabled=False):
            loss = _FusedLinearCrossEntropy.apply(h, weight, t, chunk_size, dtype)
        return loss, n
    from torch.utils.checkpoint import checkpoint

    def piece(hc: torch.Tensor, tc: torch.Tensor) -> torch.Tensor:
        logits = lm_head(hc).float()  # (c, V)
        return nn.functional.cross_entropy(logits, tc, reduction="sum")

    total = torch.zeros((), dtype=torch.float32, device=h.device)
    for s in range(0, h.shape[0], chunk_size):
        total = total + checkpoint(piece, h[s : s + chunk_size], t[s : s + chunk_size], use_reentrant=False)
    return total, n


def decoder_and_head(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """The decoder stack (returns hidden states) and the lm_head of a causal LM, peft-wrapped or not.

    Raises:
        TypeError: the model exposes no decoder / output embeddings.
    """
    base: Any = model
    if hasattr(base, "get_base_model"):  # peft.PeftModel: LoRA layers are injected in place
        base = base.get_base_model()
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else getattr(base, "model", None)
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    if decoder is None or head is None:
        raise TypeError(f"{type(base).__name__} exposes no decoder and lm_head for the chunked loss")
    return decoder, head


def check_plain_logits(model: nn.Module) -> None:
    """Refuse models whose logits are post-processed after the lm_head.

    The chunked loss multiplies hidden states by the lm_head weight itself; a model that softcaps or
    scales those logits would be trained on a different objective than the one it is evaluated with.

    Raises:
        TunelabError: the config sets final-logit softcapping, ``logit_scale`` or ``logits_scaling``.
    """
    wrapped: Any = model
    base: Any = wrapped.get_base_model() if hasattr(wrapped, "get_base_model") else wrapped
    cfg: Any = getattr(base, "config", None)
    cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    for name, neutral in _LOGIT_POSTPROCESSING.items():
        value = getattr(cfg, name, None)
        if value is not None and value != neutral:
            raise TunelabError(
                f"{getattr(cfg, 'model_type', type(base).__name__)} post-processes its logits ({name}={value}); "
                "tunelab's fused loss computes plain lm_head logits and would train on a different objective, "
                "so this model family is refused for training"
            )


class CausalLMLoss(nn.Module):
    """Wraps a causal LM so that ``forward(batch)`` returns ``(loss_sum, n_targets)``.

    Accelerate/DDP wrap *this* module, so gradient synchronisation sees one forward per
    micro-batch while the loss stays chunked.

    Args:
        model: a Hugging Face causal LM or a peft model around one.
        chunk_size: target tokens per lm_head chunk (default: sized by the vocabulary, :func:`chunk_rows`).

    Raises:
        TunelabError: the model post-processes its logits (:func:`check_plain_logits`).
    """

    def __init__(self, model: nn.Module, chunk_size: int | None = None) -> None:
        super().__init__()
        check_plain_logits(model)
        self.model = model
        self.chunk_size = chunk_size
        # FSDP auto-wrapping (accelerate) looks for the decoder-layer classes on the prepared module
        self._no_split_modules = getattr(model, "_no_split_modules", None)

    def forward(
        self,
        input_ids: torch.Tensor,  # (B, T)
        targets: torch.Tensor,  # (B, T) next-token ids, -100 = no loss
        position_ids: torch.Tensor | None = None,  # (B, T), restarting at 0 at each packed example
        attention_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        decoder, head = decoder_and_head(self.model)
        out = decoder(
            input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask, use_cache=False
        )
        hidden = out[0] if isinstance(out, tuple) else out.last_hidden_state  # (B, T, H)
        return chunked_cross_entropy(hidden, targets, head, self.chunk_size)


def neftune_hook(alpha: float) -> Callable[[nn.Module, Any, torch.Tensor], torch.Tensor]:
    """A forward hook for the input embedding adding NEFTune noise while training.

    Noise is uniform(-1, 1) * alpha / sqrt(L * d) with L the sequence length and d the hidden
    size (Jain et al. 2023, "NEFTune: Noisy Embeddings Improve Instruction Finetuning").
    """

    def hook(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
        if not module.training:
            return output
        seq_len, dim = output.shape[-2], output.shape[-1]
        scale = alpha / (seq_len * dim) ** 0.5
        return output + torch.empty_like(output).uniform_(-1.0, 1.0) * scale

    return hook
