"""Measurements shared by the real-model benchmarks: per-run peak RSS and the matmul peak."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import time
from pathlib import Path


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
    """GFLOP/s of a 1024^3 product in fp32 and bf16 at the current thread count (best of 10)."""
    import torch

    out = {}
    for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(1024, 1024, dtype=dt), torch.randn(1024, 1024, dtype=dt)
        a @ b
        best = float("inf")
        for _ in range(10):
            t = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t)
        out[name] = 2 * 1024**3 / best / 1e9
    return out
