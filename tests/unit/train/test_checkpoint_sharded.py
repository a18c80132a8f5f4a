"""Checkpoints of a sharded model: two CPU processes (torchrun, gloo) shard the tiny model with FSDP2, and
``save_checkpoint`` must write the whole model, not one process's shard. DeepSpeed is not installed here,
so ZeRO-3 is not run (its gather goes through ``accelerator.get_state_dict``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tunelab.models import load_model

WORKER = Path(__file__).with_name("_sharded_worker.py")


@pytest.mark.skipif(sys.platform != "linux", reason="gloo two-process run on linux")
def test_fsdp2_sharded_checkpoint_holds_the_whole_model(tmp_path: Path) -> None:
    torchrun = str(Path(sys.executable).parent / "torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    r = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "--master_port", "29541", str(WORKER), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    world = json.loads((tmp_path / "world.json").read_text())
    assert world["world_size"] == 2
    # really sharded: each process held about half of the parameters
    assert world["local_numel"] < 0.6 * world["full_numel"]
    expected = load_file(str(tmp_path / "expected.safetensors"))
    saved = load_model(str(tmp_path / "checkpoints" / "step-1" / "model"), device="cpu").state_dict()
    shipped = load_model("tunelab-tiny", device="cpu").state_dict()
    assert expected.keys() <= saved.keys()
    for k, v in expected.items():
        assert saved[k].shape == v.shape, k
        assert torch.equal(saved[k], v), k
    assert any(not torch.equal(shipped[k], v) for k, v in expected.items())  # the step changed weights
