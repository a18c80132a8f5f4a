"""``tunelab train CONFIG.yaml [--section.key=value ...] [--resume]``."""

from __future__ import annotations

import logging

import click

from tunelab.cli._common import handle_errors
from tunelab.config import load_config
from tunelab.errors import InputError

__all__ = ["train"]


@click.command(
    "train",
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": ["-h", "--help"],
    },
)
@click.argument("config_path", metavar="CONFIG.yaml")
@click.option("--resume", is_flag=True, help="Continue from the latest checkpoint in the run directory.")
@click.pass_context
@handle_errors
def train(ctx: click.Context, config_path: str, resume: bool) -> None:
    """Train one model from a YAML config.

    Overrides follow the config: --train.lr=0.0003 --train.method=lora --data.max_length=256.
    CONFIG.yaml may also name a shipped preset (instruction, finetune). Writes
    output_dir/run_name/ (config.yaml, metrics.jsonl, checkpoints/, final/, train_summary.json).
    Runs on CPU or one GPU as is; for several processes:

        torchrun --nproc_per_node N $(which tunelab) train CONFIG.yaml

    or `accelerate launch $(which tunelab) train CONFIG.yaml` with an accelerate config
    (DDP, FSDP, DeepSpeed). On a small shared CPU, OMP_NUM_THREADS=1 is often much faster.
    """
    for extra in ctx.args:
        if not extra.startswith("--") or "=" not in extra:
            raise InputError(
                f"unexpected argument {extra!r}: overrides look like --section.key=value", field="overrides"
            )
    cfg = load_config(config_path, list(ctx.args))
    logger = logging.getLogger("tunelab")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    from tunelab.train import train as run_train

    result = run_train(cfg, resume=resume)
    s = result.summary
    best = (
        f", best val loss {s['best_val_loss']:.4f} at step {s['best_step']}"
        if s["best_val_loss"] is not None
        else ""
    )
    click.echo(
        f"trained {result.steps} steps, {result.target_tokens} target tokens, "
        f"{s['tokens_per_s']:.0f} tokens/s{best}; final model: {result.final_dir}"
    )
