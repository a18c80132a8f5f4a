"""What the loop reports: metrics.jsonl, the progress bar, early stopping, hardware facts."""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab._atomic import write_text_atomic

__all__ = [
    "MetricsWriter",
    "Progress",
    "EvalTracker",
    "bf16_is_faster",
    "peak_memory_gib",
]

log = logging.getLogger("tunelab")


class MetricsWriter:
    """Appends one JSON object per line to ``metrics.jsonl`` (main process only).

    Args:
        path: the file.
        enabled: False on non-main processes.
        truncate_after: on resume, drop lines of steps after this one (the killed run's tail).
    """

    def __init__(self, path: Path, enabled: bool, truncate_after: int | None = None) -> None:
        self.path = path
        self.enabled = enabled
        if enabled and truncate_after is not None and path.is_file():
            kept = [
                line
                for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= truncate_after
            ]
            write_text_atomic(path, "".join(k + "\n" for k in kept))

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


class Progress:
    """A rich progress bar (loss, target tokens/s, ETA); silent when not a TTY or TUNELAB_NO_PROGRESS=1."""

    def __init__(self, total: int, start: int, enabled: bool) -> None:
        self.bar: Any = None
        if not enabled or os.environ.get("TUNELAB_NO_PROGRESS") == "1" or not sys.stderr.isatty():
            return
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self.bar = RichProgress(
            TextColumn("train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[tps]} tok/s"),
            TimeRemainingColumn(),
            transient=False,
        )
        self.task = self.bar.add_task("train", total=total, completed=start, loss="-", tps="-")
        self.bar.start()

    def update(self, step: int, loss: float | None = None, tokens_per_s: float | None = None) -> None:
        if self.bar is None:
            return
        fields: dict[str, Any] = {}
        if loss is not None:
            fields["loss"] = f"{loss:.4f}"
        if tokens_per_s is not None:
            fields["tps"] = f"{tokens_per_s:,.0f}"
        self.bar.update(self.task, completed=step, **fields)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@dataclass
class EvalTracker:
    """Best validation loss, early-stopping patience and the overfitting warning.

    ``observe`` takes each validation loss with the mean training loss since the previous
    evaluation. Overfitting is flagged when validation loss rose while training loss fell.
    """

    patience: int = 0
    best_loss: float = math.inf
    best_step: int | None = None
    bad_evals: int = 0
    last_val: float | None = None
    last_train: float | None = None
    stopped_at: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def observe(self, step: int, val_loss: float, train_loss: float | None) -> tuple[bool, bool]:
        """Record an evaluation.

        Returns:
            ``(improved, overfit_warning)``.
        """
        improved = val_loss < self.best_loss
        if improved:
            self.best_loss, self.best_step, self.bad_evals = val_loss, step, 0
        else:
            self.bad_evals += 1
        overfit = (
            self.last_val is not None
            and self.last_train is not None
            and train_loss is not None
            and val_loss > self.last_val
            and train_loss < self.last_train
        )
        self.last_val, self.last_train = val_loss, train_loss
        self.history.append({"step": step, "val_loss": val_loss, "train_loss": train_loss})
        return improved, bool(overfit)

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_evals >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {
            "best_loss": None if math.isinf(self.best_loss) else self.best_loss,
            "best_step": self.best_step,
            "bad_evals": self.bad_evals,
            "last_val": self.last_val,
            "last_train": self.last_train,
            "history": self.history,
        }

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.best_loss = math.inf if s.get("best_loss") is None else float(s["best_loss"])
        self.best_step = s.get("best_step")
        self.bad_evals = int(s.get("bad_evals", 0))
        self.last_val, self.last_train = s.get("last_val"), s.get("last_train")
        self.history = list(s.get("history", []))


def _cpuinfo(field: str) -> str:
    """The first ``field`` line of /proc/cpuinfo ("" where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.split(":", 1)[0].strip() == field:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _cpu_flags() -> set[str]:
    return set(_cpuinfo("flags").split())


def _cpu_model() -> str:
    import platform

    return _cpuinfo("model name") or platform.processor() or platform.machine()


#: where the CPU's bf16-vs-fp32 timing is kept, under tunelab's cache folder (one decision per machine)
HARDWARE_FILE = "hardware.json"


@functools.cache
def bf16_is_faster(device_type: str) -> bool:
    """Whether bf16 autocast beats fp32 on this hardware (``train.bf16: auto``).

    CUDA: when the GPU supports bf16. CPU: only with native bf16 matmuls (AMX, or AVX-512 BF16:
    ``torch.backends.cpu.get_cpu_capability()`` reports AMX, or it reports AVX512 and the CPU
    flags show ``avx512_bf16``), *and* when a bf16 matmul measured here is at least 15% faster
    than fp32: on shared or virtualised machines the flags can promise what the kernels do not
    deliver (a 1024x512x512 product ran 2x slower in bf16 on this project's machines).

    The timing is taken once per machine and kept in ``<tunelab cache>/hardware.json`` (keyed by CPU
    model and torch version): a decision that changes the numbers must not change with the machine's
    load, or the same config and seed would train in fp32 one time and in bf16 the next (and the two
    approaches of one comparison could differ). ``train.bf16: on|off`` overrides it.
    """
    import torch

    if device_type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device_type != "cpu":
        return False
    cap = torch.backends.cpu.get_cpu_capability()
    flags = _cpu_flags()
    if not ("AMX" in cap or ("AVX512" in cap and ("avx512_bf16" in flags or "amx_bf16" in flags))):
        return False
    key = f"cpu bf16 matmul faster: {_cpu_model()}; {cap}; torch {torch.__version__}"
    known = _hardware_facts()
    if isinstance(known.get(key), bool):
        return bool(known[key])

    def best_time(dtype: torch.dtype) -> float:
        a, b = torch.randn(1024, 512, dtype=dtype), torch.randn(512, 512, dtype=dtype)
        best = math.inf
        for _ in range(5):
            t = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t)
        return best

    faster = best_time(torch.bfloat16) * 1.15 < best_time(torch.float32)
    _remember_hardware_fact(key, faster)
    return faster


def _hardware_path() -> Path:
    from tunelab.models import cache_dir

    return cache_dir() / HARDWARE_FILE


def _hardware_facts() -> dict[str, Any]:
    try:
        data = json.loads(_hardware_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember_hardware_fact(key: str, value: bool) -> None:
    facts = {**_hardware_facts(), key: value}
    try:
        _hardware_path().parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(_hardware_path(), json.dumps(facts, indent=1, sort_keys=True) + "\n")
    except OSError as e:  # a read-only cache: decide again next time, and say so
        log.warning("could not record the bf16 timing in %s: %s", _hardware_path(), e)


def peak_memory_gib(device_type: str) -> float:
    """Peak memory: ``torch.cuda.max_memory_allocated`` on a GPU, else the process's peak RSS."""
    if device_type == "cuda":
        import torch

        return float(torch.cuda.max_memory_allocated()) / 2**30
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return float(rss) / (2**30 if sys.platform == "darwin" else 2**20)
