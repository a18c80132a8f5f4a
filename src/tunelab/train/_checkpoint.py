"""Checkpoints: atomic writes, keep-last-N plus best, finding the latest to resume from.

Layout of ``checkpoints/step-N/``:
    model/               save_pretrained of the model or the LoRA adapter (loads without tunelab)
    state/               accelerate.save_state: weights, optimizer, scheduler, RNG states per process
    trainer_state.json   step, data position, token count, early-stopping and best-loss bookkeeping

A checkpoint is written to ``checkpoints/.tmp-step-N``, every file fsync'ed, then renamed: a run
killed mid-write leaves a ``.tmp-`` folder that resume ignores and the next save removes.

Sharded training (FSDP, DeepSpeed ZeRO-3): every process holds only a shard of each parameter.
``state/`` is accelerate's own format for that (``save_state`` writes per-process shards under FSDP's
default ``SHARDED_STATE_DICT``, or a gathered file under ``FULL_STATE_DICT``; ``load_state`` reads
either back), and resume reads only ``state/``. ``model/`` (and the run's ``final/``) must be a whole
model that loads without tunelab, so :func:`save_model` first gathers the full state dict onto the main
process: with torch's ``get_model_state_dict(full_state_dict=True, cpu_offload=True)`` (what accelerate's
``get_state_dict`` calls under FSDP2; it also handles FSDP1, DDP and an unsharded model), or, under
DeepSpeed, with ``accelerator.get_state_dict`` (ZeRO-3 needs ``stage3_gather_16bit_weights_on_model_save``).
Every process takes part in that gather.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from accelerate.utils import DistributedType
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

__all__ = ["save_checkpoint", "save_model", "latest_checkpoint", "prune_checkpoints", "read_trainer_state"]

#: the prepared module is the loss wrapper (``train._loss.CausalLMLoss``) holding the model as ``.model``
_WRAPPED = "model."

_STEP_RE = re.compile(r"^step-(\d+)$")


def _fsync_tree(root: Path) -> None:
    for dirpath, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def save_model(accelerator: Any, prepared: Any, out: Path) -> None:
    """``save_pretrained`` of the whole model or adapter into ``out`` (every process must call it).

    Args:
        accelerator: the run's ``Accelerator``.
        prepared: the module given to ``accelerator.prepare`` (the loss wrapper; the model is its ``.model``).
        out: the folder to write (on the main process).
    """
    # a collective under FSDP / ZeRO-3: all processes call it; the main process gets the whole dict
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        state = accelerator.get_state_dict(prepared)
    else:
        state = get_model_state_dict(
            prepared, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
        )
    if accelerator.is_main_process:
        full = {k[len(_WRAPPED) :]: v for k, v in state.items() if k.startswith(_WRAPPED)}
        model = accelerator.unwrap_model(prepared).model
        model.save_pretrained(str(out), state_dict=full, safe_serialization=True)


def save_checkpoint(
    accelerator: Any, prepared: Any, ckpt_root: Path, step: int, trainer_state: dict[str, Any]
) -> Path:
    """Write ``ckpt_root/step-{step}`` atomically (every process must call it).

    Args:
        accelerator: the run's ``Accelerator`` (its prepared objects are saved with ``save_state``).
        prepared: the prepared loss wrapper (its model is saved whole with :func:`save_model`).
        ckpt_root: the ``checkpoints`` folder.
        step: the optimizer step just completed.
        trainer_state: JSON-serialisable loop state.

    Returns:
        The final checkpoint folder.
    """
    final = ckpt_root / f"step-{step}"
    tmp = ckpt_root / f".tmp-step-{step}"
    if accelerator.is_main_process:
        ckpt_root.mkdir(parents=True, exist_ok=True)
        for stale in ckpt_root.glob(".tmp-step-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp.mkdir()
    accelerator.wait_for_everyone()
    # tied embeddings (the tiny model's lm_head is its embedding): accelerate drops the duplicate and
    # warns on every save; the weights reload tied, so the warning is noise here
    acc_log = logging.getLogger("accelerate.utils.other")
    level = acc_log.level
    acc_log.setLevel(logging.ERROR)
    try:
        accelerator.save_state(str(tmp / "state"), safe_serialization=True)
    finally:
        acc_log.setLevel(level)
    save_model(accelerator, prepared, tmp / "model")
    if accelerator.is_main_process:
        (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=1), encoding="utf-8")
        _fsync_tree(tmp)
        if final.exists():  # a rerun of the same step (resumed after a crash past it)
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(ckpt_root)
    accelerator.wait_for_everyone()
    return final


def _steps(ckpt_root: Path) -> list[tuple[int, Path]]:
    if not ckpt_root.is_dir():
        return []
    found = []
    for p in ckpt_root.iterdir():
        m = _STEP_RE.match(p.name)
        if m and p.is_dir() and (p / "trainer_state.json").is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(ckpt_root: Path) -> Path | None:
    """The complete checkpoint with the highest step, or ``None``."""
    steps = _steps(ckpt_root)
    return steps[-1][1] if steps else None


def prune_checkpoints(ckpt_root: Path, keep_last: int, best_step: int | None) -> list[Path]:
    """Delete all but the ``keep_last`` newest checkpoints and the best one.

    Returns:
        The folders removed.
    """
    steps = _steps(ckpt_root)
    keep = {s for s, _ in steps[-keep_last:]} if keep_last > 0 else set()
    if best_step is not None:
        keep.add(best_step)
    removed = []
    for s, p in steps:
        if s not in keep:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def read_trainer_state(ckpt: Path) -> dict[str, Any]:
    """The loop state stored with a checkpoint."""
    state: dict[str, Any] = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
    return state
