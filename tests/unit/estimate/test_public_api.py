"""The public API of ``tunelab.estimate``, pinned: adding or removing a name is a deliberate change made here."""

from __future__ import annotations

import tunelab.estimate as pkg

PUBLIC = {
    "activation_bytes_per_layer",
    "arch_from_dict",
    "estimate_flops",
    "estimate_memory",
    "estimate_time",
    "FlopsEstimate",
    "get_hardware",
    "GPUS",
    "Hardware",
    "load_arch",
    "measure_cpu",
    "MemoryEstimate",
    "ModelArch",
}


def test_public_api_is_pinned() -> None:
    assert set(pkg.__all__) == PUBLIC
    assert len(pkg.__all__) == len(PUBLIC), "a name is listed twice in __all__"
    for name in pkg.__all__:
        assert hasattr(pkg, name), name
