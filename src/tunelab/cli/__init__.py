"""The ``tunelab`` command.

Each command group lives in its own module and is imported only when it is invoked, so
``tunelab --help`` stays fast and ``import tunelab.cli`` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from tunelab._version import __version__

__all__ = ["main", "cli"]

# command name -> (module, attribute, one-line help shown by `tunelab --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("tunelab.cli.demo", "demo", "The main job on the embedded tiny model, end to end."),
    "model": ("tunelab.cli.model", "model", "Write the tiny base model, inspect a model, merge an adapter."),
    "data": ("tunelab.cli.data", "data", "Validate, describe and convert data files."),
    "synth": ("tunelab.cli.synth", "synth", "Generate verified synthetic data and filter it."),
    "train": ("tunelab.cli.train", "train", "Train one model from a YAML config."),
    "eval": ("tunelab.cli.eval", "eval_cmd", "Evaluate a model on a suite."),
    "metrics": ("tunelab.cli.metrics", "metrics", "Score prediction and reference files (JSON on stdout)."),
    "compare": ("tunelab.cli.compare", "compare", "Instruction tuning vs fine-tuning on one budget."),
    "report": ("tunelab.cli.compare", "report", "Render report.html and report.md for run directories."),
    "estimate": ("tunelab.cli.estimate", "estimate", "Memory and compute estimates (JSON on stdout)."),
    "serve": ("tunelab.cli.serve", "serve", "OpenAI-compatible HTTP server for a model."),
    "ui": ("tunelab.cli.ui", "ui", "Local web app: launch, watch, browse, judge blind, chat."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        cmd = getattr(importlib.import_module(module), attr)
        assert isinstance(cmd, click.Command)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tunelab")
def cli() -> None:
    """tunelab: adapt a language model by instruction tuning or by task fine-tuning,
    and see which served better.

    Exit codes: 0 success; 1 the job failed; 2 bad usage or bad input.
    """


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="tunelab")
