"""Run in a fresh process: train a randomly initialised Llama for a few AdamW steps on CPU and print
the peak resident memory added by the model and the training (JSON on stdout).

Measurement: after all imports, the kernel's peak-RSS counter is reset (``5`` written to
/proc/self/clear_refs resets VmHWM to the current RSS, Linux >= 4.0); the result is the final
VmHWM minus the RSS at that moment. RSS is what the process really holds, allocator slack
included; the parent sets ``MALLOC_MMAP_THRESHOLD_`` so that large tensors are mmapped and
returned to the OS when freed (glibc otherwise raises the threshold after the first free and
keeps freed tensors in its heap, which would make RSS a high-water mark of the heap, not of the
live tensors). The training step is written the plain standard way: ``model(input_ids,
labels=input_ids).loss``, ``backward()``, ``AdamW.step()``, ``zero_grad()``.

Usage: python measure_train_peak.py '{"config": {...}, "method": "full", "batch": 8, "seq_len": 256}'
"""

from __future__ import annotations

import json
import sys


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def main() -> None:
    args = json.loads(sys.argv[1])
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = LlamaConfig(**args["config"])
    ids = torch.randint(0, cfg.vocab_size, (args["batch"], args["seq_len"]))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base_kib = _status_kib("VmRSS")
    model = LlamaForCausalLM(cfg)
    if args["method"] == "lora":
        targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        model = get_peft_model(
            model,
            LoraConfig(r=args.get("lora_r", 16), lora_alpha=32, lora_dropout=0.0, target_modules=targets),
        )
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    for _ in range(args.get("steps", 2)):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    peak_kib = _status_kib("VmHWM")
    print(json.dumps({"peak_delta_bytes": (peak_kib - base_kib) * 1024, "loss": float(loss)}))


if __name__ == "__main__":
    main()
