"""Hardware entries for time estimates: known GPUs (memory, peak dense 16-bit FLOP/s from the
vendors' data sheets, no sparsity) and the local CPU measured with a timed matmul."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from tunelab.errors import InputError

__all__ = ["Hardware", "GPUS", "PEAK_SHAPES", "get_hardware", "matmul_rate", "measure_cpu", "peak_rate"]


@dataclass(frozen=True)
class Hardware:
    """One device: memory and peak dense matmul throughput (FLOP/s) for 16-bit and fp32 inputs."""

    name: str
    memory_gib: float
    peak_bf16_flops: float | None
    peak_fp16_flops: float
    measured: bool = False
    note: str = ""

    def peak_flops(self, dtype: str) -> float:
        """Peak FLOP/s for ``dtype`` (bf16 falls back to fp16 on chips without bf16 tensor cores)."""
        if dtype == "bfloat16" and self.peak_bf16_flops is not None:
            return self.peak_bf16_flops
        return self.peak_fp16_flops

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


T = 1e12
#: Dense (non-sparse) tensor-core peaks from NVIDIA data sheets.
GPUS: dict[str, Hardware] = {
    h.name: h
    for h in (
        Hardware("H100-SXM", 80, 989 * T, 989 * T),
        Hardware("H100-PCIe", 80, 756 * T, 756 * T),
        Hardware("H200", 141, 989 * T, 989 * T),
        Hardware("A100-40GB", 40, 312 * T, 312 * T),
        Hardware("A100-80GB", 80, 312 * T, 312 * T),
        Hardware("L4", 24, 121 * T, 121 * T),
        Hardware("A10G", 24, 70 * T, 70 * T, note="AWS A10G; NVIDIA lists A10 at 125 TFLOP/s"),
        Hardware("RTX-4090", 24, 165 * T, 165 * T, note="fp16/bf16 with fp32 accumulate"),
        Hardware("T4", 16, None, 65 * T, note="no bf16: fp16 peak used"),
        Hardware("V100", 32, None, 125 * T, note="SXM2; no bf16: fp16 peak used"),
    )
}


def get_hardware(name: str) -> Hardware:
    """Look a GPU up by name (case and ``-``/``_``/space insensitive), or ``cpu`` to measure this CPU.

    Raises:
        InputError: unknown name.
    """
    if name.lower() in ("cpu", "local-cpu"):
        return measure_cpu()
    key = name.lower().replace("_", "-").replace(" ", "-")
    for n, h in GPUS.items():
        if n.lower() == key:
            return h
    raise InputError(f"unknown GPU {name!r}; known: {', '.join(GPUS)}, cpu", field="gpu")


#: (M, K, N) products timed for a CPU's matmul peak: squares and the tall, thin shapes of a training step's
#: projections (tokens x hidden x out). oneDNN's bf16 (AMX) kernels differ by shape: on an Intel AMX host a 1024^3
#: product ran at 1.3 TFLOP/s and 2048 x 1024 x 512 at 2.5, so one square is no peak.
PEAK_SHAPES: tuple[tuple[int, int, int], ...] = (
    (1024, 1024, 1024),
    (2048, 2048, 2048),
    (2048, 1024, 512),
    (2048, 512, 1024),
    (2048, 1024, 1024),
    (2048, 512, 2048),
    (1024, 576, 1536),
)


def matmul_rate(m: int, k: int, n: int, dtype: Any, reps: int = 10) -> float:
    """FLOP/s of an (m x k) @ (k x n) product at the current thread count (best of ``reps``, after one)."""
    import torch

    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    a @ b  # warm-up (and oneDNN's kernel for the shape)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * m * k * n / best


def peak_rate(dtype: Any, shapes: tuple[tuple[int, int, int], ...] = PEAK_SHAPES, reps: int = 10) -> float:
    """The best :func:`matmul_rate` over ``shapes`` in ``dtype`` (FLOP/s)."""
    return max(matmul_rate(*s, dtype, reps) for s in shapes)


def measure_cpu(shapes: tuple[tuple[int, int, int], ...] = PEAK_SHAPES, reps: int = 3) -> Hardware:
    """This CPU's matmul peak in fp32 and bf16: the best rate over ``shapes`` (best of ``reps`` each)."""
    import torch

    out = {str(dt): peak_rate(dt, shapes, reps) for dt in (torch.float32, torch.bfloat16)}
    return Hardware(
        "local-cpu",
        0.0,
        out["torch.bfloat16"],
        out["torch.float32"],
        measured=True,
        note=f"best of {len(shapes)} matmul shapes, {torch.get_num_threads()} threads; 'fp16' field holds the fp32 rate",
    )
