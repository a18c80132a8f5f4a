"""The embedded base model loads with plain transformers, through the same code as any model."""

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tunelab.errors import InputError
from tunelab.models import is_tiny, load_model, load_tokenizer, resolve_model_path, write_tiny


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny(tmp_path_factory.mktemp("tiny"))


def test_plain_transformers_loads_and_generates(tiny_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    assert tok.pad_token_id is not None and tok.pad_token_id != tok.eos_token_id
    text = tok.apply_chat_template(
        [{"role": "user", "content": "Hello!"}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|im_start|>assistant\n")
    ids = tok(text, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**ids, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]
    assert any(p.suffix == ".safetensors" for p in tiny_dir.iterdir())
    assert not any(p.suffix == ".bin" for p in tiny_dir.iterdir())


def test_tiny_is_a_pretrained_base_not_random(tiny_dir: Path) -> None:
    """Pretrained weights predict in-domain text far better than a random init of the same shape."""
    tok = load_tokenizer(str(tiny_dir))
    model = load_model(str(tiny_dir), device="cpu")
    text = "Vital signs: blood pressure 120/80 mmHg, heart rate 72 beats per minute."
    ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        trained = model(input_ids=ids, labels=ids).loss.item()
        torch.manual_seed(0)
        rand = type(model)(model.config)
        random_loss = rand(input_ids=ids, labels=ids).loss.item()
    assert trained < 0.6 * random_loss, (trained, random_loss)


def test_same_loading_path_for_name_and_folder(tiny_dir: Path) -> None:
    assert is_tiny("tunelab-tiny") and is_tiny(str(tiny_dir))
    a = load_model("tunelab-tiny", device="cpu")
    b = load_model(str(tiny_dir), device="cpu")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_fallback_template_only_when_missing(
    tiny_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tok = load_tokenizer(str(tiny_dir))
    assert not tok.init_kwargs.get("tunelab_fallback_template")
    bare = tmp_path / "bare"
    write_tiny(bare)
    (bare / "chat_template.jinja").unlink()
    import json

    cfg = json.loads((bare / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (bare / "tokenizer_config.json").write_text(json.dumps(cfg))
    with caplog.at_level("WARNING", logger="tunelab"):
        tok2 = load_tokenizer(str(bare))
    assert tok2.init_kwargs.get("tunelab_fallback_template")
    assert "has no chat template" in caplog.text
    msgs = [{"role": "user", "content": "x"}]
    assert tok2.apply_chat_template(msgs, tokenize=False) == tok.apply_chat_template(msgs, tokenize=False)


def test_refuses_pickled_weights(tiny_dir: Path, tmp_path: Path) -> None:
    d = tmp_path / "pickled"
    write_tiny(d)
    (d / "model.safetensors").rename(d / "pytorch_model.bin")
    with pytest.raises(InputError, match="safetensors"):
        load_model(str(d), device="cpu")


def test_missing_local_folder_is_input_error() -> None:
    with pytest.raises(InputError, match="no such model folder"):
        resolve_model_path("./does/not/exist")


def test_hub_ids_pass_through() -> None:
    assert resolve_model_path("Qwen/Qwen2-0.5B") == "Qwen/Qwen2-0.5B"


def test_load_for_inference_merges_the_adapter_and_refuses_a_non_adapter_folder(tmp_path: Path) -> None:
    """The one inference loader: base + LoRA adapter -> a plain (merged) model whose logits equal the unmerged
    peft model's; the adapter's own tokenizer is used; a folder without adapter_config.json is bad input."""
    import torch

    from tunelab.models import apply_lora, load_for_inference

    peft_model = apply_lora(
        load_model("tunelab-tiny", device="cpu"),
        r=4,
        alpha=8,
        dropout=0.0,
        target_modules=["q_proj", "v_proj"],
    )
    torch.manual_seed(0)
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:  # B starts at zero (a no-op adapter); make it change the model
            torch.nn.init.normal_(p, std=0.05)
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    tok = load_tokenizer("tunelab-tiny")
    tok.save_pretrained(adapter)
    ids = torch.tensor([tok("Patient note: a cough.", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        want = peft_model.eval()(input_ids=ids).logits
        base = load_model("tunelab-tiny", device="cpu").eval()(input_ids=ids).logits
        model, tok2 = load_for_inference("tunelab-tiny", str(adapter), device="cpu")
        got = model(input_ids=ids).logits
    assert type(model).__name__ == "LlamaForCausalLM" and not model.training
    assert torch.allclose(got, want, atol=1e-4) and not torch.allclose(got, base, atol=1e-3)
    assert tok2.name_or_path == str(adapter)
    with pytest.raises(InputError, match="adapter_config.json"):
        load_for_inference("tunelab-tiny", str(tmp_path), device="cpu")
