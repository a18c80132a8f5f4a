"""``tunelab ui``: the local web app over a folder of comparison runs."""

from __future__ import annotations

import click

from tunelab.cli._common import handle_errors

__all__ = ["ui"]


@click.command("ui")
@click.option("--runs", "runs_dir", default="runs", show_default=True, help="Folder of run directories.")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Bind address (loopback unless you say otherwise)."
)
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port (0: any free one).",
)
@handle_errors
def ui(runs_dir: str, host: str, port: int) -> None:
    """Open a local web app: launch a comparison, watch it live, browse where the models differ,
    judge them blind, chat with two of them side by side.

    Prints a URL with a fresh access token (every request needs it). Any --host other than loopback prints a
    warning: whoever reaches that address with the URL can launch jobs.
    """
    from tunelab.ui import run_ui

    run_ui(runs_dir, host=host, port=port)
