"""Shared by the training benchmarks: per-run peak RSS, the matmul peak, tunelab's run config, and one run in a
fresh process."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any


def tunelab_config(
    model: str,
    data: Path,
    out: Path,
    method: str,
    steps: int,
    rows: int,
    length: int,
    lr: float,
    seed: int = 0,
    lora: dict[str, Any] | None = None,
    **train: Any,
) -> Any:
    """tunelab's config for a timed run: packed rows of ``length`` tokens from one JSONL file in its order
    (no validation split, no dedup), ``rows`` per step, cosine from ``lr`` to 0 without warm-up, a log line
    every step and no evaluation or checkpoints in the timed steps; ``train`` overrides the train section."""
    from tunelab.config import config_from_dict

    return config_from_dict(
        {
            "lora": lora or {},
            "run_name": "tunelab",
            "output_dir": str(out),
            "model": {"name_or_path": model},
            "data": {
                "sources": [{"path": str(data)}],
                "val_ratio": 0.0,
                "max_length": length,
                "packing": True,
                "dedup": False,
                "shuffle_seed": seed,
            },
            "train": {
                "method": method,
                "max_steps": steps,
                "batch_size": rows,
                "lr": lr,
                "warmup_steps": 0,
                "schedule": "cosine",
                "min_lr_ratio": 0.0,
                "eval_every": 0,
                "log_every": 1,
                "save_every": 0,
                "bf16": "auto",
                "seed": seed,
                **train,
            },
        }
    )


def peak_reset() -> None:
    """Free what can be freed and reset this process's RSS high-water mark (Linux ``clear_refs``)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def matmul_peaks() -> dict[str, float]:
    """The matmul peak in fp32 and bf16 (GFLOP/s, the best over ``PEAK_SHAPES``: squares and the tall, thin
    shapes of a training step, on which oneDNN's AMX kernels run fastest; 1024^3 alone gave half the best
    shape's rate on the Intel AMX host of issue 16), and ``bf16_1024``: the 1024^3 product alone, as this
    benchmark measured its peak before."""
    import torch

    from tunelab.estimate._hardware import matmul_rate, peak_rate

    return {
        "fp32": peak_rate(torch.float32) / 1e9,
        "bf16": peak_rate(torch.bfloat16) / 1e9,
        "bf16_1024": matmul_rate(1024, 1024, 1024, torch.bfloat16) / 1e9,
    }


def _child_setup(threads: int) -> None:
    import logging

    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(threads)
    logging.getLogger("tunelab").setLevel(logging.ERROR)
    hf_logging.set_verbosity_error()


def in_fresh_process(threads: int, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a new (spawned) Python process with ``threads`` torch threads; its result.

    Every timed run of a benchmark gets a process of its own: a trainer then starts from the same state as when a
    user runs it (an empty heap, nothing cached by the runs before it), its peak RSS is its own, and the order of
    the runs cannot favour one trainer. ``fn`` must be a module-level function (it is pickled by name)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx, initializer=_child_setup, initargs=(threads,)) as ex:
        return ex.submit(fn, *args, **kwargs).result()
