"""``tunelab demo``: the main job, end to end on SmolLM2-135M-Instruct (or the tiny model with --quick)."""

from __future__ import annotations

import time

import click

from tunelab.cli._common import handle_errors
from tunelab.compare import render_report, run_comparison
from tunelab.config import load_config


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--out", default="runs", show_default=True, help="Folder that receives the demo run directory.")
@click.option("--name", default="demo", show_default=True, help="Run directory name under --out.")
@click.option(
    "--quick", is_flag=True, help="The embedded tiny model, fewer steps and items (used by the tests)."
)
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@handle_errors
def demo(out: str, name: str, quick: bool, overrides: tuple[str, ...]) -> None:
    """Instruction tuning vs fine-tuning, end to end, on the medical and financial tasks.

    By default the base model is SmolLM2-135M-Instruct (`smollm2-135m-instruct`, obtained and converted on
    first use); --quick uses the embedded 3.7M-parameter tiny model. Trains both approaches on the same budget
    for each seed, grades base and tuned models on every slice (target in the fine-tuning format, seen and
    held-out phrasings, held-out tasks, general instruction following, forgetting two ways) and writes
    report.html and report.md. Override any field with --section.key=value. Rerun the same command to resume.
    """
    t0 = time.time()
    cfg = load_config(
        "demo-quick" if quick else "demo", [f"output_dir={out}", f"run_name={name}", *overrides]
    )

    def say(msg: str) -> None:
        click.echo(f"[{time.time() - t0:6.1f}s] {msg}", err=True)

    say(f"base model {cfg.model.name_or_path}; seeds {cfg.compare.seeds}; run directory {cfg.run_dir}")
    data = run_comparison(cfg, say)
    html, md = render_report(cfg.run_dir)
    click.echo("\n".join(f"- {v}" for v in data["verdict"]))
    say(f"done in {time.time() - t0:.0f} s. report: {html}")
    click.echo(f"report.html: {html}\nreport.md:   {md}")
