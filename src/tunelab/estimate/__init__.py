"""tunelab.estimate: peak training memory, FLOPs and time for a Llama-style model.

Importing this package does not import torch (only :func:`measure_cpu` and hub configs do).
"""

from __future__ import annotations

from tunelab.estimate._arch import ModelArch, arch_from_dict, load_arch
from tunelab.estimate._flops import FlopsEstimate, estimate_flops, estimate_time
from tunelab.estimate._hardware import GPUS, Hardware, get_hardware, measure_cpu
from tunelab.estimate._memory import MemoryEstimate, activation_bytes_per_layer, estimate_memory

__all__ = [
    "ModelArch",
    "arch_from_dict",
    "load_arch",
    "FlopsEstimate",
    "estimate_flops",
    "estimate_time",
    "GPUS",
    "Hardware",
    "get_hardware",
    "measure_cpu",
    "MemoryEstimate",
    "activation_bytes_per_layer",
    "estimate_memory",
]
