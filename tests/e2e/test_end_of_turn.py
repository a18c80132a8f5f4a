"""Stopping at the chat template's end-of-turn token when it is not EOS (the Qwen2.5 base layout:
EOS ``<|endoftext|>``, turns closed by ``<|im_end|>``), built on the tiny model's tokenizer."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import yaml
from click.testing import CliRunner

os.environ["TUNELAB_NO_PROGRESS"] = "1"

WORDS = "apple banana cherry delta echo fox golf hotel india juliet kilo lima".split()


def qwen_base_layout(tmp: Path) -> Path:
    """tunelab-tiny with EOS (tokenizer, config, generation config) moved to ``<|endoftext|>``."""
    from transformers import AutoTokenizer

    from tunelab.models import write_tiny

    folder = write_tiny(tmp / "qwen-layout")
    tok = AutoTokenizer.from_pretrained(folder)
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    for name in ("config.json", "generation_config.json"):
        d = json.loads((folder / name).read_text())
        d["eos_token_id"] = eot
        (folder / name).write_text(json.dumps(d))
    tok.eos_token = "<|endoftext|>"
    tok.save_pretrained(folder)
    return folder


def test_stop_ids_include_the_template_end_of_turn(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from tunelab.data import end_of_turn_ids, stop_token_ids

    tok = AutoTokenizer.from_pretrained(qwen_base_layout(tmp_path))
    im_end, eot = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    assert tok.eos_token_id == eot != im_end
    assert end_of_turn_ids(tok) == {im_end}
    assert stop_token_ids(tok, eot) == sorted({im_end, eot})


def test_model_trained_on_the_layout_stops_at_end_of_turn(tmp_path: Path) -> None:
    from tunelab.cli import cli
    from tunelab.generation import Decoding, render_prompt
    from tunelab.generation import generate as generate_texts
    from tunelab.models import load_model, load_tokenizer

    base = qwen_base_layout(tmp_path)
    r = random.Random(0)
    data = tmp_path / "data.jsonl"
    with data.open("w") as f:
        for _ in range(160):
            ws = " ".join(r.sample(WORDS, r.randint(1, 3)))
            msgs = [
                {"role": "user", "content": f"Repeat the words: {ws}"},
                {"role": "assistant", "content": ws},
            ]
            f.write(json.dumps({"messages": msgs}) + "\n")
    cfg = {
        "run_name": "eot",
        "output_dir": str(tmp_path / "runs"),
        "model": {"name_or_path": str(base)},
        "data": {"sources": [{"path": str(data)}], "val_ratio": 0.1, "max_length": 64},
        "train": {"max_steps": 40, "batch_size": 8, "lr": 0.003, "warmup_steps": 3, "eval_every": 40},
    }
    (tmp_path / "eot.yaml").write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(cli, ["train", str(tmp_path / "eot.yaml")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    final = tmp_path / "runs" / "eot" / "final"
    model, tok = load_model(str(final), device="cpu"), load_tokenizer(str(final))
    assert tok.eos_token == "<|endoftext|>"
    asks = ["apple fox", "kilo", "delta echo lima", "banana"]
    prompts = [
        render_prompt([{"role": "user", "content": f"Repeat the words: {w}"}], tok, "chat") for w in asks
    ]
    gens = generate_texts(model, tok, prompts, Decoding(max_new_tokens=24))
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert im_end != tok.eos_token_id and im_end not in [model.generation_config.eos_token_id]
    for ask, g in zip(asks, gens):
        assert g.finish_reason == "stop", (ask, g.text)
        assert im_end not in g.token_ids and len(g.token_ids) < 24
        assert "\n" not in g.text and "user" not in g.text  # nothing past the end of the turn
    # what stopped each row was the end-of-turn token (greedy: the argmax after the kept ids), not EOS
    import torch

    for p, g in zip(prompts, gens):
        ids = tok(p, add_special_tokens=False)["input_ids"] + g.token_ids
        with torch.no_grad():
            nxt = int(model(torch.tensor([ids])).logits[0, -1].argmax())
        assert nxt == im_end, (g.text, tok.convert_ids_to_tokens(nxt))
