"""``tunelab compare`` and ``tunelab report``."""

from __future__ import annotations

import click

from tunelab.cli._common import not_yet


@click.command()
@click.argument("config", type=click.Path())
@click.argument("overrides", nargs=-1)
def compare(config: str, overrides: tuple[str, ...]) -> None:
    """Train the instruction-tuned and the fine-tuned model on one budget and compare them."""
    not_yet("compare")


@click.command()
@click.argument("run_dirs", nargs=-1, type=click.Path())
def report(run_dirs: tuple[str, ...]) -> None:
    """Render report.html and report.md for one or more run directories."""
    not_yet("report")
