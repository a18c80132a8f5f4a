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
    "lora_peft_forward": ("peft's LoRA forward instead of the fused LoRA layer", {}, {"fuse": True}),
    "attention_bf16": ("attention in bf16 under autocast", {}, {"attn": True}),
    "ce_chunk_2048": ("2048-row CE chunks", {}, {"chunk": True}),
}


def _stand_ins() -> dict[str, tuple[Any, str, Any]]:
    """patch key -> (module, attribute, stand-in that undoes the change)."""
    import tunelab.train._attention as attn_mod
    import tunelab.train._loss as loss_mod
    import tunelab.train._setup as setup_mod  # where the run setup looks the LoRA helpers up

    return {
        "cast": (setup_mod, "cast_frozen_linears", lambda *x, **k: 0),
        "fuse": (setup_mod, "fuse_lora_layers", lambda *x, **k: 0),
        "attn": (attn_mod, "attention_dtype", lambda dev, low: low),
        "chunk": (loss_mod, "chunk_rows", lambda *x, **k: 2048),
    }


def apply_stand_ins(keys: list[str]) -> list[tuple[Any, str, Any]]:
    """Put the stand-ins ``keys`` in place; returns what :func:`restore` needs to put the originals back."""
    applied = [_stand_ins()[key] for key in keys]
    saved = [(mod, attr, getattr(mod, attr)) for mod, attr, _ in applied]
    for mod, attr, fn in applied:
        setattr(mod, attr, fn)
    return saved


def restore(saved: list[tuple[Any, str, Any]]) -> None:
    for mod, attr, old in saved:
        setattr(mod, attr, old)


def ablate(
    call: Callable[..., dict[str, Any]],
    run_undone: Callable[..., dict[str, Any]],
    model: str,
    d: dict[str, Any],
    tmp: Path,
    method: str,
    a: Any,
    geo: dict[str, Any],
) -> dict[str, Any]:
    """tunelab with one of this issue's changes undone at a time (short runs): what each change buys. ``call``
    runs a function the way the benchmark runs its trainers (a fresh process each, or in this one);
    ``run_undone(keys, ...)`` is tunelab's run with the stand-ins ``keys`` in place."""
    out = {}
    for name, (what, overrides, patch) in ABLATIONS.items():
        if method == "full" and (overrides.get("lora") or patch.get("cast") or patch.get("fuse")):
            continue
        r = call(
            run_undone, list(patch), model, d, tmp, steps=a.probe_steps + 1, heldout=False, **geo, **overrides
        )
        out[name] = {"undoes": what, **{k: round(v, 3) for k, v in r.items() if isinstance(v, float)}}
        print(
            f"[{method}] ablation {name}: {r['processed_tokens_per_s']:.0f} processed tok/s, peak {r['peak_rss_gib']:.2f} GiB",
            file=sys.stderr,
            flush=True,
        )
    return out
