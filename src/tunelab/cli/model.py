"""``tunelab model``: write the embedded tiny base model, describe a model, merge an adapter, export GGUF."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tunelab.cli._common import handle_errors, print_json
from tunelab.models import is_tiny, load_tokenizer, resolve_model_path, write_tiny


@click.group()
def model() -> None:
    """Write the tiny base model, inspect a model, merge a LoRA adapter, export to GGUF."""


@model.command("tiny")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option(
    "--rebuild",
    is_flag=True,
    help="Pretrain it from scratch here (about 10 minutes on 2 CPU cores) instead of copying the shipped one.",
)
@click.option("--seed", default=0, show_default=True, help="Seed for --rebuild.")
@click.option("--steps", default=500, show_default=True, help="Pretraining steps for --rebuild.")
@handle_errors
def tiny(out: str, rebuild: bool, seed: int, steps: int) -> None:
    """Write the embedded base model `tunelab-tiny` as a normal Hugging Face model folder.

    The folder loads with plain transformers (AutoModelForCausalLM / AutoTokenizer), weights in
    safetensors, ChatML chat template, pad token distinct from EOS.
    """
    if rebuild:
        from rich.console import Console

        from tunelab.train import build_tiny  # imports torch

        console = Console(stderr=True)

        def progress(step: int, total: int, loss: float) -> None:
            console.print(f"pretraining step {step + 1}/{total}  loss {loss:.3f}")

        path = build_tiny(out, seed=seed, steps=steps, progress=progress)
    else:
        path = write_tiny(out)
    click.echo(f"wrote tunelab-tiny to {path}")


def describe_model(name_or_path: str) -> dict[str, Any]:
    """Architecture, parameter count, vocabulary and template of a model folder or hub id."""
    from transformers import AutoConfig

    path = resolve_model_path(name_or_path)
    cfg = AutoConfig.from_pretrained(path)
    tok = load_tokenizer(name_or_path)
    info: dict[str, Any] = {
        "path": path,
        "architecture": (cfg.architectures or [cfg.model_type])[0],
        "model_type": cfg.model_type,
        "hidden_size": getattr(cfg, "hidden_size", None),
        "num_layers": getattr(cfg, "num_hidden_layers", None),
        "num_heads": getattr(cfg, "num_attention_heads", None),
        "num_kv_heads": getattr(cfg, "num_key_value_heads", None),
        "intermediate_size": getattr(cfg, "intermediate_size", None),
        "max_position_embeddings": getattr(cfg, "max_position_embeddings", None),
        "vocab_size": cfg.vocab_size,
        "tokenizer_size": len(tok),
        "pad_token": tok.pad_token,
        "eos_token": tok.eos_token,
        "chat_template": tok.chat_template,
        "template_source": "tunelab fallback (ChatML)"
        if tok.init_kwargs.get("tunelab_fallback_template")
        else "tokenizer",
        "tiny_demo_model": is_tiny(path),
    }
    weights = sorted(Path(path).glob("*.safetensors")) if Path(path).is_dir() else []
    if weights:
        from safetensors import safe_open

        n = 0
        for w in weights:
            with safe_open(str(w), framework="pt") as f:
                for k in f.keys():  # noqa: SIM118 - safe_open has no __iter__
                    n += _prod(f.get_slice(k).get_shape())
        info["parameters"] = n
    tiny_meta = Path(path) / "tunelab_tiny.json"
    if tiny_meta.is_file():
        info["tiny"] = json.loads(tiny_meta.read_text())
    return info


def _prod(shape: list[int]) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out


@model.command("info")
@click.argument("model_dir")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@handle_errors
def info(model_dir: str, as_json: bool) -> None:
    """Print a model's architecture, parameter count, vocabulary and chat template."""
    data = describe_model(model_dir)
    if as_json:
        print_json(data)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"model {model_dir}", show_header=False)
    for k, v in data.items():
        if k == "tiny":
            continue
        if k == "parameters":
            v = f"{v:,}"
        table.add_row(k, repr(v) if k == "chat_template" else str(v))
    Console().print(table)
    if data.get("tiny_demo_model"):
        click.echo("note: this is tunelab's embedded demonstration model (toy scale).")


from tunelab.cli._merge_cmd import merge_cmd  # noqa: E402  (the merge command lives with the LoRA code)

model.add_command(merge_cmd, "merge")

from tunelab.cli._export_cmd import export_cmd  # noqa: E402  (GGUF export lives with the models layer)

model.add_command(export_cmd, "export")
