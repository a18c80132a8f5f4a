"""``tunelab synth``: list the verifiable tasks, generate verified synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tunelab.cli._common import handle_errors, not_yet
from tunelab.errors import InputError

__all__ = ["synth"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def synth() -> None:
    """Generate verified synthetic data and filter it."""


@synth.command("tasks")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of {name, domain, answer_type, scorer}.")
@handle_errors
def tasks_cmd(as_json: bool) -> None:
    """List the verifiable synthetic tasks."""
    from tunelab.synth import list_tasks

    infos = list_tasks()
    if as_json:
        rows = [
            {"name": t.name, "domain": t.domain, "answer_type": t.answer_type, "scorer": t.scorer}
            for t in infos
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(infos)} verifiable tasks")
    for col in ("name", "domain", "answer type", "scorer", "description"):
        table.add_column(col)
    for t in infos:
        table.add_row(t.name, t.domain, t.answer_type, t.scorer, t.description)
    Console(width=160).print(table)


@synth.command("generate")
@click.option("--task", required=True, help="Task name (see `tunelab synth tasks`).")
@click.option("--n", "n", type=int, required=True, help="Number of verified examples to write.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output JSONL file."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed (same seed, same bytes).")
@click.option(
    "--templates",
    type=click.Choice(["train", "heldout", "finetune"]),
    default="train",
    show_default=True,
    help="Training phrasings, held-out phrasings, or the fixed fine-tuning format.",
)
@handle_errors
def generate_cmd(task: str, n: int, out: Path, seed: int, templates: str) -> None:
    """Generate N verified examples of TASK as JSONL (one Example per line)."""
    from tunelab.synth import generate_report

    if n < 0:
        raise InputError(f"--n must be >= 0, got {n}", field="n")
    report = generate_report(task, n, seed=seed, templates=templates)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for ex in report.examples:
            fh.write(ex.to_json() + "\n")
    click.echo(
        f"{task}: generated {report.generated}, verified {report.verified}, rejected {report.rejected} -> {out}"
    )
    for reason, count in report.reasons.items():
        click.echo(f"  rejected {count}: {reason}")


@synth.command("self-instruct", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def self_instruct_cmd() -> None:
    """Self-Instruct generation over an OpenAI-compatible backend (not yet available)."""
    not_yet("synth self-instruct")


@synth.command("evol", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def evol_cmd() -> None:
    """Evol-Instruct rewriting of instructions (not yet available)."""
    not_yet("synth evol")


@synth.command("filter", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def filter_cmd() -> None:
    """Filter generated data (not yet available)."""
    not_yet("synth filter")
