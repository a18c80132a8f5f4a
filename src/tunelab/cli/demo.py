"""``tunelab demo``: the main job on the embedded tiny model."""

from __future__ import annotations

import click

from tunelab.cli._common import not_yet


@click.command()
@click.option("--out", default="runs/demo", show_default=True, help="Where the demo writes its run.")
def demo(out: str) -> None:
    """Instruction tuning vs fine-tuning on the embedded tiny model, end to end."""
    not_yet("demo")
