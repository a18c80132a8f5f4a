"""``tunelab compare`` and ``tunelab report``."""

from __future__ import annotations

import click

from tunelab.cli._common import handle_errors
from tunelab.compare import render_report, run_comparison
from tunelab.config import load_config


def say(msg: str) -> None:
    click.echo(msg, err=True)


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("config", type=click.Path())
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@handle_errors
def compare(config: str, overrides: tuple[str, ...]) -> None:
    """Train the instruction-tuned and the fine-tuned model from one base on one budget (once per seed in
    compare.seeds), grade base and tuned models on every slice (target in the fine-tuning format, seen and
    held-out phrasings, held-out tasks, general instruction following, forgetting as bits per byte and as KL
    from the base), and write compare.json, report.html and report.md into the run directory.

    CONFIG is a YAML file (or a shipped preset name such as `demo`); override any field with
    --section.key=value. Rerunning the same command resumes: finished stages are reused.
    """
    cfg = load_config(config, list(overrides))
    run_comparison(cfg, say)
    html, md = render_report(cfg.run_dir)
    click.echo(md.read_text(encoding="utf-8"))
    click.echo(f"report: {html}\n        {md}")


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@handle_errors
def report(run_dirs: tuple[str, ...]) -> None:
    """Render report.html (self-contained, plots embedded) and report.md for comparison run directories."""
    for d in run_dirs:
        html, md = render_report(d)
        click.echo(f"wrote {html} and {md}")
