"""``tunelab demo``: the main job, end to end on the embedded tiny model."""

from __future__ import annotations

import time

import click

from tunelab.cli._common import handle_errors
from tunelab.compare import render_report, run_comparison
from tunelab.config import load_config


@click.command()
@click.option("--out", default="runs", show_default=True, help="Folder that receives the demo run directory.")
@click.option("--name", default="demo", show_default=True, help="Run directory name under --out.")
@click.option("--quick", is_flag=True, help="A smaller, faster run (used by the tests).")
@handle_errors
def demo(out: str, name: str, quick: bool) -> None:
    """Instruction tuning vs fine-tuning on the embedded tiny model, end to end.

    Loads the shipped base model `tunelab-tiny`, generates verified medical and financial data,
    trains both approaches on the same budget, evaluates base and both tuned models, and writes
    report.html and report.md. Rerun the same command to resume an interrupted demo.
    """
    t0 = time.time()
    overrides = [f"output_dir={out}", f"run_name={name}"]
    cfg = load_config("demo-quick" if quick else "demo", overrides)

    def say(msg: str) -> None:
        click.echo(f"[{time.time() - t0:6.1f}s] {msg}", err=True)

    say(f"base model {cfg.model.name_or_path}; run directory {cfg.run_dir}")
    data = run_comparison(cfg, say)
    html, md = render_report(cfg.run_dir)
    click.echo("\n".join(f"- {v}" for v in data["verdict"]))
    say(f"done. report: {html}")
    click.echo(f"report.html: {html}\nreport.md:   {md}")
