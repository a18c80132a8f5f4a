"""``tunelab estimate``: peak training memory, FLOPs per step and training time.

``--json`` prints one JSON object with the keys ``model``, ``arch``, ``inputs``, ``memory``
(``weights_bytes``, ``gradients_bytes``, ``optimizer_bytes``, ``activations_bytes``,
``logits_bytes``, ``step_temp_bytes``, ``peak_bytes``, ``peak_gib``, ``peak_phase``,
``total_params``, ``trainable_params``, ``assumptions``), ``flops`` (``flops_per_step``,
``flops_per_token``, ``formula``, ...), ``time`` (``hardware``, ``peak_flops``, ``mfu``, ``steps``,
``seconds``, ``hours``; null without ``--gpu``/``--measure-cpu``) and ``fits`` (true/false/null).
Without ``--json`` a table is printed.
"""

from __future__ import annotations

import json
from typing import Any

import click

from tunelab.cli._common import handle_errors
from tunelab.estimate import estimate_flops, estimate_memory, estimate_time, get_hardware, load_arch

__all__ = ["estimate"]


@click.command("estimate")
@click.option(
    "--model",
    "model",
    required=True,
    help="Model folder, hub id (config only), tunelab-tiny, or a config .json/.yaml.",
)
@click.option("--method", type=click.Choice(["full", "lora", "qlora"]), required=True)
@click.option("--seq-len", type=click.IntRange(1), required=True, help="Tokens per sequence (T).")
@click.option("--batch", type=click.IntRange(1), required=True, help="Sequences per step per device (B).")
@click.option("--grad-ckpt", is_flag=True, help="Gradient checkpointing per decoder block.")
@click.option(
    "--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default="bfloat16", show_default=True
)
@click.option("--lora-r", type=click.IntRange(1), default=16, show_default=True)
@click.option(
    "--loss",
    type=click.Choice(["standard", "chunked"]),
    default="chunked",
    show_default=True,
    help="chunked = tunelab's trainer (chunked cross-entropy).",
)
@click.option("--ce-chunk-tokens", type=click.IntRange(1), default=1024, show_default=True)
@click.option("--attn", type=click.Choice(["sdpa", "eager"]), default="sdpa", show_default=True)
@click.option(
    "--gpu",
    default=None,
    help="Hardware for the time estimate: H100-SXM, H100-PCIe, H200, A100-40GB, A100-80GB, L4, A10G, RTX-4090, T4, V100, or cpu.",
)
@click.option("--measure-cpu", is_flag=True, help="Time a matmul on this CPU and use it as the hardware.")
@click.option(
    "--tokens",
    type=click.IntRange(1),
    default=None,
    help="Training tokens for the time estimate (default: one step).",
)
@click.option(
    "--mfu",
    type=click.FloatRange(0.01, 1.0),
    default=0.4,
    show_default=True,
    help="Assumed model FLOPs utilisation.",
)
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout instead of a table.")
@handle_errors
def estimate(
    model: str,
    method: str,
    seq_len: int,
    batch: int,
    grad_ckpt: bool,
    dtype: str,
    lora_r: int,
    loss: str,
    ce_chunk_tokens: int,
    attn: str,
    gpu: str | None,
    measure_cpu: bool,
    tokens: int | None,
    mfu: float,
    as_json: bool,
) -> None:
    """Estimate peak training memory (weights, gradients, AdamW states, activations, logits),
    FLOPs per step and training time for MODEL."""
    arch = load_arch(model)
    hw = get_hardware("cpu") if measure_cpu else (get_hardware(gpu) if gpu else None)
    on_cpu = hw is not None and hw.measured
    mem = estimate_memory(
        arch,
        method,
        seq_len,
        batch,
        dtype,
        grad_ckpt,
        lora_r,
        loss,
        ce_chunk_tokens,
        attn,
        foreach=not on_cpu,
    )
    fl = estimate_flops(arch, method, seq_len, batch, grad_ckpt, lora_r)
    timing = (
        estimate_time(fl.flops_per_step, batch * seq_len, tokens or batch * seq_len, hw, dtype, mfu)
        if hw
        else None
    )
    fits = None if hw is None or hw.measured else mem.peak_bytes <= hw.memory_gib * 1024**3
    out: dict[str, Any] = {
        "model": model,
        "arch": arch.to_dict(),
        "inputs": mem.inputs,
        "memory": mem.to_dict(),
        "flops": fl.to_dict(),
        "time": timing,
        "fits": fits,
    }
    out["memory"].pop("inputs")
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    _table(out)


def _table(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    m = out["memory"]
    t = Table(
        title=f"tunelab estimate: {out['model']} ({out['inputs']['method']}, B={out['inputs']['batch']}, T={out['inputs']['seq_len']})"
    )
    t.add_column("part")
    t.add_column("GiB", justify="right")
    for k in ("weights", "gradients", "optimizer", "activations", "logits", "step_temp"):
        t.add_row(k, f"{m[k + '_bytes'] / 1024**3:.3f}")
    t.add_row(f"peak ({m['peak_phase']})", f"{m['peak_gib']:.3f}")
    t.add_row("params (trainable / total)", f"{m['trainable_params']:,} / {m['total_params']:,}")
    t.add_row("FLOPs per step", f"{out['flops']['flops_per_step']:.3e}")
    if out["time"]:
        tm = out["time"]
        t.add_row(f"time on {tm['hardware']['name']} at MFU {tm['mfu']}", f"{tm['hours']:.3f} h")
    if out["fits"] is not None:
        t.add_row("fits in device memory", str(out["fits"]))
    Console().print(t)
