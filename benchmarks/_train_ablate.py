"""tunelab with one of issue 16's changes undone at a time: what each change buys (``--ablate``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ABLATIONS = {
    # name: (what it undoes, config overrides, attribute patches)
    "lora_dropout_0.05": ("the LoRA dropout default (0.05 before)", {"lora": {"dropout": 0.05}}, {}),
    "frozen_fp32": ("frozen base weights kept fp32 (autocast re-casts them)", {}, {"cast": True}),
    "attention_bf16": ("attention in bf16 under autocast", {}, {"attn": True}),
    "ce_chunk_2048": ("2048-row CE chunks", {}, {"chunk": True}),
}


def ablate(
    run_tunelab: Callable[..., dict[str, Any]],
    model: str,
    d: dict[str, Any],
    tmp: Path,
    method: str,
    a: Any,
    geo: dict[str, Any],
) -> dict[str, Any]:
    """tunelab with one of this issue's changes undone at a time (short runs): what each change buys."""
    import tunelab.models._lora as lora_mod
    import tunelab.train._attention as attn_mod
    import tunelab.train._loss as loss_mod

    out = {}
    for name, (what, overrides, patch) in ABLATIONS.items():
        if method == "full" and (overrides.get("lora") or patch.get("cast")):
            continue
        saved = (lora_mod.cast_frozen_linears, attn_mod.attention_dtype, loss_mod.chunk_rows)
        if patch.get("cast"):
            lora_mod.cast_frozen_linears = lambda *x, **k: 0  # type: ignore[assignment]
        if patch.get("attn"):
            attn_mod.attention_dtype = lambda dev, low: low  # type: ignore[assignment]
        if patch.get("chunk"):
            loss_mod.chunk_rows = lambda *x, **k: 2048  # type: ignore[assignment]
        try:
            r = run_tunelab(model, d, tmp, steps=a.probe_steps + 1, heldout=False, **geo, **overrides)
        finally:
            lora_mod.cast_frozen_linears, attn_mod.attention_dtype, loss_mod.chunk_rows = saved
        out[name] = {"undoes": what, **{k: round(v, 3) for k, v in r.items() if isinstance(v, float)}}
        print(
            f"[{method}] ablation {name}: {r['processed_tokens_per_s']:.0f} processed tok/s, peak {r['peak_rss_gib']:.2f} GiB",
            file=sys.stderr,
            flush=True,
        )
    return out
