"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from tunelab.errors import InputError, TunelabError

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Map tunelab errors to the CLI contract: InputError -> exit 2, TunelabError -> exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InputError as e:
            click.echo(f"error: {e.render()}", err=True)
            sys.exit(2)
        except TunelabError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def not_yet(name: str) -> None:
    """Say plainly that a command is not available yet (exit 2), never pretend."""
    click.echo(
        f"tunelab {name}: not yet available in this version (see the status table in README.md).",
        err=True,
    )
    sys.exit(2)


def print_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=False, default=str))


def backend_option(help_text: str) -> Callable[[F], F]:
    """``--backend transformers|vllm`` (the local generation engine), as ``eval`` and ``serve`` take it."""
    return click.option(
        "--backend",
        "backend_name",
        default="transformers",
        show_default=True,
        type=click.Choice(["transformers", "vllm"]),
        help=help_text,
    )
