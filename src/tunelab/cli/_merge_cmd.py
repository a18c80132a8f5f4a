"""``tunelab model merge --base DIR --adapter DIR --out DIR`` (attached to the ``model`` group)."""

from __future__ import annotations

import click

from tunelab.cli._common import handle_errors
from tunelab.models import merge_adapter

__all__ = ["merge_cmd"]


@click.command("merge")
@click.option("--base", "base", required=True, help="Base model folder, hub id, or tunelab-tiny.")
@click.option(
    "--adapter",
    "adapter",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="LoRA adapter folder (e.g. RUN_DIR/final).",
)
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False), help="Where to write the merged model."
)
@click.option(
    "--dtype", default="float32", type=click.Choice(["float32", "bfloat16", "float16"]), show_default=True
)
@handle_errors
def merge_cmd(base: str, adapter: str, out: str, dtype: str) -> None:
    """Merge a LoRA adapter into its base model (safetensors + tokenizer, loadable by transformers)."""
    path = merge_adapter(base, adapter, out, dtype)
    click.echo(f"merged model written to {path}")
