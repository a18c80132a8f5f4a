"""The training loop, top to bottom: setup -> fit -> save.

One loop serves instruction tuning and fine-tuning (they differ by data mixture, templates and
loss mask, all set in the config) and full, LoRA and QLoRA training. Distribution is
accelerate's: the same code runs as one CPU process, one GPU, or under ``accelerate launch`` /
``torchrun`` (DDP, FSDP, DeepSpeed).

Tokens per optimizer step = batch_size * grad_accum * world_size rows * max_length (packed).
The loss of a step is sum(token CE) / (target tokens of the whole step, all micro-batches and
all processes), so accumulation over micro-batches equals one big batch.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from tunelab._atomic import atomic_dir, write_text_atomic
from tunelab.config import Config, dump_config
from tunelab.errors import InputError, TunelabError
from tunelab.train._batches import BatchStream, build_train_data, collate, write_examples
from tunelab.train._checkpoint import (
    latest_checkpoint,
    prune_checkpoints,
    read_trainer_state,
    save_checkpoint,
    save_model,
)
from tunelab.train._loss import CausalLMLoss, decoder_and_head, neftune_hook
from tunelab.train._monitor import EvalTracker, MetricsWriter, Progress, peak_memory_gib
from tunelab.train._optim import build_optimizer, build_scheduler
from tunelab.train._setup import load_for_training, make_accelerator

if TYPE_CHECKING:
    from accelerate import Accelerator

__all__ = ["TrainResult", "train", "forward_backward", "evaluate_loss"]

log = logging.getLogger("tunelab")


@dataclass
class TrainResult:
    """What a run produced.

    Attributes:
        run_dir: ``output_dir/run_name``.
        final_dir: the saved model or adapter (``run_dir/final``).
        steps: optimizer steps done.
        target_tokens: tokens that carried loss, all processes.
        final_train_loss: mean training loss of the last logging window.
        best_val_loss: lowest validation loss (None without validation).
        best_step: the step of ``best_val_loss``.
        early_stop_step: the step early stopping ended the run at, if it did.
        summary: the contents of ``train_summary.json``.
    """

    run_dir: Path
    final_dir: Path
    steps: int
    target_tokens: int
    final_train_loss: float | None
    best_val_loss: float | None
    best_step: int | None
    early_stop_step: int | None
    summary: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------ one step


def forward_backward(
    model: torch.nn.Module, micro_batches: list[dict[str, torch.Tensor]], accelerator: Accelerator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward and backward over one optimizer step's micro-batches (no optimizer update).

    Each micro-batch's summed token loss is scaled by ``world_size / N`` where ``N`` is the
    number of target tokens in all micro-batches of all processes (one all-reduce, before any
    backward); DDP's gradient averaging divides by ``world_size`` again, so the gradient is that
    of ``sum CE / N``: exactly the big batch's, however the tokens fall into micro-batches.

    Args:
        model: the prepared :class:`~tunelab.train._loss.CausalLMLoss` module.
        micro_batches: this process's collated micro-batches.
        accelerator: the run's accelerator.

    Returns:
        ``(loss_sum, n_targets)``: this process's summed token loss (detached) and the global
        target-token count, both 0-d tensors on the device (no host sync).
    """
    device = accelerator.device
    n_local = sum(int(b["n_targets"]) for b in micro_batches)  # counted on the host while collating
    n_global = accelerator.reduce(torch.tensor(float(n_local), device=device), reduction="sum")
    scale = accelerator.num_processes / n_global.clamp(min=1.0)
    loss_sum = torch.zeros((), device=device)
    for i, b in enumerate(micro_batches):
        last = i == len(micro_batches) - 1
        with nullcontext() if last else accelerator.no_sync(model):  # all-reduce grads once per step
            with accelerator.autocast():
                s, _ = model(
                    input_ids=b["input_ids"].to(device),  # (B, T)
                    targets=b["targets"].to(device),  # (B, T)
                    position_ids=b["position_ids"].to(device),  # (B, T)
                )
            accelerator.backward(s * scale)
        loss_sum += s.detach()
    return loss_sum, n_global


def evaluate_loss(
    model: torch.nn.Module,
    rows: list[dict[str, Any]],
    batch_tokens: int,
    pad_id: int,
    accelerator: Accelerator,
) -> float:
    """Token-level mean cross-entropy over ``rows`` (each process scores its share).

    Batches are sized by tokens, not rows: rows are taken longest first and a batch grows while
    ``rows * longest`` (padding included) stays within ``batch_tokens``, so short unpacked rows
    share a batch and long ones do not run out of memory.

    Returns:
        sum(token CE) / (target tokens), pooled over all processes.
    """
    model.eval()
    mine = sorted(
        rows[accelerator.process_index :: accelerator.num_processes], key=lambda r: -len(r["input_ids"])
    )
    sums = torch.zeros(2, device=accelerator.device)
    with torch.no_grad(), accelerator.autocast():
        i = 0
        while i < len(mine):
            width = len(mine[i]["input_ids"])  # the batch's longest row (sorted)
            n = max(1, min(len(mine) - i, batch_tokens // max(width, 1)))
            b = collate(mine[i : i + n], pad_id)
            i += n
            s, k = model(
                input_ids=b["input_ids"].to(accelerator.device),
                targets=b["targets"].to(accelerator.device),
                position_ids=b["position_ids"].to(accelerator.device),
            )
            sums += torch.stack([s.float(), k.float()])
    sums = accelerator.reduce(sums, reduction="sum")
    model.train()
    return float(sums[0] / sums[1].clamp(min=1.0))


# ------------------------------------------------------------------------------------ save (setup: _setup.py)


def _save_final(
    accelerator: Accelerator, prepared: Any, tokenizer: Any, run_dir: Path, best: Path | None
) -> Path:
    """``final/``: the best checkpoint's model when given, else the current one; plus the tokenizer.

    Written beside ``final/`` and swapped in whole: a killed save leaves the previous ``final/`` or none.
    """
    final = run_dir / "final"
    staging = atomic_dir(final) if accelerator.is_main_process else nullcontext(final)
    with staging as tmp:
        if best is None:
            save_model(
                accelerator, prepared, tmp
            )  # a collective under FSDP / ZeRO-3; the main process writes
        elif accelerator.is_main_process:
            shutil.copytree(best / "model", tmp, dirs_exist_ok=True)
        if accelerator.is_main_process:
            tokenizer.save_pretrained(str(tmp))
    accelerator.wait_for_everyone()
    return final


# ------------------------------------------------------------------------------------ the run


def train(config: Config, resume: bool = False) -> TrainResult:
    """Train one model as ``config`` says, writing everything into ``config.run_dir``.

    Args:
        config: the resolved configuration.
        resume: continue from the latest complete checkpoint in ``run_dir/checkpoints``
            (same data order, RNG, optimizer and scheduler state).

    Returns:
        The :class:`TrainResult`.

    Raises:
        InputError: bad configuration or data (nothing to train on, every label masked, QLoRA
            without CUDA, ...).
        TunelabError: the loss became NaN/inf (the last good checkpoint is kept).
    """
    from accelerate.utils import set_seed

    t0 = time.perf_counter()
    tc = config.train
    run_dir = config.run_dir
    ckpt_root = run_dir / "checkpoints"

    # ---- setup: accelerator, model, data, optimizer
    accelerator = make_accelerator(config)
    set_seed(tc.seed)
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        dump_config(config, run_dir / "config.yaml")
    model, tokenizer = load_for_training(
        config, accelerator.device.type, accelerator.mixed_precision == "bf16"
    )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    data = build_train_data(config, tokenizer)
    if accelerator.is_main_process:
        write_examples(data, run_dir)  # run_dir/data/{train,val}.jsonl: what this run was given
    world, rank = accelerator.num_processes, accelerator.process_index
    stream = BatchStream(
        data.train_rows, tc.batch_size, config.data.shuffle_seed + tc.seed, pad_id, world, rank
    )
    rows_per_step = tc.batch_size * tc.grad_accum * world
    log.info(
        "data: %d train rows (%d examples, token efficiency %.2f), %d val rows; %d rows per step",
        len(data.train_rows),
        data.report["train_examples"],
        data.report["token_efficiency"],
        len(data.val_rows),
        rows_per_step,
    )
    if tc.neftune_alpha > 0:
        model.get_input_embeddings().register_forward_hook(neftune_hook(tc.neftune_alpha))
    if tc.compile:
        decoder_and_head(model)[0].compile()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    wrapper = CausalLMLoss(model)
    optimizer = build_optimizer(wrapper, tc.lr, tc.weight_decay)
    scheduler = build_scheduler(optimizer, tc.max_steps, tc.warmup_steps, tc.schedule, tc.min_lr_ratio)
    wrapper, optimizer = accelerator.prepare(wrapper, optimizer)
    accelerator.register_for_checkpointing(scheduler)  # not prepared: it must step once per optimizer step
    if tc.report_to:
        accelerator.init_trackers(config.run_name)

    # ---- resume
    step, tokens_done = 0, 0.0
    tracker = EvalTracker(patience=tc.early_stopping_patience)
    start = latest_checkpoint(ckpt_root) if resume else None
    if resume and start is None:
        log.info("--resume: no checkpoint in %s, starting from scratch", ckpt_root)
    if start is not None:
        accelerator.load_state(str(start / "state"))
        st = read_trainer_state(start)
        if st["rows_per_step"] != rows_per_step:
            raise InputError(
                f"checkpoint used {st['rows_per_step']} rows per step, this run {rows_per_step}: keep "
                "train.batch_size * train.grad_accum * processes unchanged to resume",
                field="train.batch_size",
            )
        stream.load_state_dict(st["data"])
        tracker.load_state_dict(st["tracker"])
        step, tokens_done = int(st["step"]), float(st["tokens"])
        log.info("resumed from %s (step %d)", start, step)
    metrics = MetricsWriter(run_dir / "metrics.jsonl", accelerator.is_main_process, step if start else None)
    if start is None and accelerator.is_main_process:
        metrics.path.write_text("", encoding="utf-8")

    def trainer_state() -> dict[str, Any]:
        return {
            "step": step,
            "tokens": tokens_done,
            "data": stream.state_dict(),
            "tracker": tracker.state_dict(),
            "rows_per_step": rows_per_step,
            "world_size": world,
        }

    # ---- fit
    # validation on a fixed subset (the rows are in a seeded order already), in batches of the training
    # micro-batch's tokens
    val_rows = data.val_rows[: tc.eval_max_rows] if tc.eval_max_rows > 0 else data.val_rows
    val_tokens = tc.batch_size * config.data.max_length
    has_val = bool(val_rows)
    initial_val = None
    if has_val and start is None:  # the base model's validation loss: what training improves on
        initial_val = evaluate_loss(wrapper, val_rows, val_tokens, pad_id, accelerator)
    progress = Progress(tc.max_steps, step, accelerator.is_main_process)
    win_loss = torch.zeros((), device=accelerator.device)  # summed token loss since the last log
    win_tokens = torch.zeros((), device=accelerator.device)
    eval_window: list[float] = []  # logged train losses since the last evaluation
    last_train_loss: float | None = None
    last_good: Path | None = start
    train_time, t_win = 0.0, time.perf_counter()
    check_every_step = accelerator.device.type == "cpu"  # a host sync costs nothing there
    wrapper.train()
    while step < tc.max_steps:
        t_step = time.perf_counter()
        micro = stream.next_step(tc.grad_accum)
        loss_sum, n_tokens = forward_backward(wrapper, micro, accelerator)
        if tc.max_grad_norm > 0:
            accelerator.clip_grad_norm_(wrapper.parameters(), tc.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        win_loss += loss_sum
        win_tokens += n_tokens
        train_time += time.perf_counter() - t_step

        is_last = step == tc.max_steps
        do_eval = has_val and ((tc.eval_every > 0 and step % tc.eval_every == 0) or is_last)
        do_save = tc.save_every > 0 and step % tc.save_every == 0
        do_log = step % tc.log_every == 0 or do_eval or do_save or is_last
        if do_log or do_save or check_every_step:
            step_loss = float(accelerator.reduce(loss_sum, reduction="sum") / n_tokens.clamp(min=1.0))
            if not math.isfinite(step_loss):
                where = f"; the last good checkpoint is {last_good}" if last_good else ""
                raise TunelabError(
                    f"the training loss became {step_loss} at step {step}{where}. Lower train.lr, "
                    "keep train.max_grad_norm > 0, or check the data"
                )
        record: dict[str, Any] = {}
        if do_log:
            tok = float(win_tokens)
            loss = float(accelerator.reduce(win_loss, reduction="sum")) / max(tok, 1.0)
            tokens_done += tok
            elapsed = time.perf_counter() - t_win
            record = {
                "step": step,
                "epoch": round(stream.epoch_float, 4),
                "loss": loss,
                "lr": scheduler.get_last_lr()[0],
                "tokens": int(tokens_done),
                "tokens_per_s": tok / max(elapsed, 1e-9),
            }
            last_train_loss = loss
            eval_window.append(loss)
            win_loss.zero_()
            win_tokens.zero_()
            progress.update(step, loss, record["tokens_per_s"])
        else:
            progress.update(step)
        improved = False
        if do_eval:
            val = evaluate_loss(wrapper, val_rows, val_tokens, pad_id, accelerator)
            train_mean = sum(eval_window) / len(eval_window) if eval_window else None
            eval_window = []
            improved, overfit = tracker.observe(step, val, train_mean)
            record["val_loss"] = val
            if overfit:
                record["overfit_warning"] = True
                log.warning(
                    "step %d: validation loss rose (%.4f) while training loss fell: overfitting?", step, val
                )
        if record:
            metrics.write(record)
            accelerator.log({k: v for k, v in record.items() if k != "step"}, step=step)
            t_win = time.perf_counter()
        stop = do_eval and tracker.should_stop
        if do_save or (improved and tc.final == "best" and not is_last):
            last_good = save_checkpoint(accelerator, wrapper, ckpt_root, step, trainer_state())
            if accelerator.is_main_process:
                prune_checkpoints(ckpt_root, tc.keep_last, tracker.best_step)
        if stop:
            tracker.stopped_at = step
            log.info(
                "early stopping at step %d: no improvement in %d evaluations",
                step,
                tc.early_stopping_patience,
            )
            break
    progress.close()

    # ---- save
    best_dir = None
    if tracker.best_step is not None and tracker.best_step != step and tc.final == "best":
        candidate = ckpt_root / f"step-{tracker.best_step}"
        best_dir = candidate if (candidate / "model").is_dir() else None
    final = _save_final(accelerator, wrapper, tokenizer, run_dir, best_dir)
    wall = time.perf_counter() - t0
    summary = {
        "wall_s": round(wall, 3),
        "train_s": round(train_time, 3),
        "steps": step,
        "target_tokens": int(tokens_done),
        "tokens_per_s": tokens_done / max(train_time, 1e-9),
        "peak_memory_gib": round(peak_memory_gib(accelerator.device.type), 4),
        "val_rows_scored": len(val_rows),
        "trainable_params": trainable,
        "method": tc.method,
        "bf16": accelerator.mixed_precision == "bf16",
        "device": accelerator.device.type,
        "world_size": world,
        "final_train_loss": last_train_loss,
        "initial_val_loss": initial_val,
        "best_val_loss": None if tracker.best_step is None else tracker.best_loss,
        "best_step": tracker.best_step,
        "final_weights_step": tracker.best_step if best_dir is not None else step,
        "early_stop_step": tracker.stopped_at,
        "resumed_from": str(start) if start else None,
        "data": data.report,
    }
    if accelerator.is_main_process:
        write_text_atomic(run_dir / "train_summary.json", json.dumps(summary, indent=1, default=str))
    accelerator.end_training()
    return TrainResult(
        run_dir=run_dir,
        final_dir=final,
        steps=step,
        target_tokens=int(tokens_done),
        final_train_loss=last_train_loss,
        best_val_loss=summary["best_val_loss"],
        best_step=tracker.best_step,
        early_stop_step=tracker.stopped_at,
        summary=summary,
    )
