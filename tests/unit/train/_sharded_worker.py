"""Run by ``torchrun --nproc_per_node 2`` from test_checkpoint_sharded.py: a tiny model sharded with FSDP2
(``fully_shard``) across two CPU processes (gloo), one training step, then tunelab's ``save_checkpoint``.

Rank 0 writes ``expected.safetensors`` (the full weights, all-gathered from the shards independently of
tunelab's code) and ``world.json`` (world size and how many parameter elements each process held)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from accelerate import Accelerator
from safetensors.torch import save_file
from torch.distributed.fsdp import fully_shard

from tunelab.models import load_model
from tunelab.train import CausalLMLoss, save_checkpoint

out = Path(sys.argv[1])
acc = Accelerator(cpu=True)
model = load_model("tunelab-tiny", device="cpu")
wrapper = CausalLMLoss(model)
for layer in model.model.layers:
    fully_shard(layer)
fully_shard(model)  # each process now holds half of every parameter (DTensor shards)
opt = torch.optim.AdamW(wrapper.parameters(), lr=1e-2)
gen = torch.Generator().manual_seed(acc.process_index)
ids = torch.randint(3, 2000, (2, 24), generator=gen)
model(input_ids=ids, labels=ids).loss.backward()
opt.step()  # the weights now differ from the shipped ones, and differ per shard

expected = {n: p.full_tensor().detach().clone() for n, p in model.named_parameters()}
local = sum(p.to_local().numel() for p in model.parameters())
full = sum(p.numel() for p in model.parameters())
save_checkpoint(acc, wrapper, out / "checkpoints", 1, {"step": 1})
if acc.is_main_process:
    save_file({k: v.contiguous() for k, v in expected.items()}, str(out / "expected.safetensors"))
    info = {"world_size": acc.num_processes, "local_numel": local, "full_numel": full}
    (out / "world.json").write_text(json.dumps(info))
acc.wait_for_everyone()
