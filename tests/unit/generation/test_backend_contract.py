"""The contract every generation backend keeps, run on the transformers backend here and on vLLM where it is
installed (a CUDA GPU): one result per prompt in order, the model's chat template, the stop rules, the budget."""

from __future__ import annotations

import importlib.util
import os

import pytest

from tunelab.errors import InputError
from tunelab.generation import Decoding, TransformersBackend, VLLMBackend, encode_prompts
from tunelab.models import load_model, load_tokenizer

os.environ.setdefault("OMP_NUM_THREADS", "1")
HAS_VLLM = importlib.util.find_spec("vllm") is not None
CHAT = [
    [{"role": "user", "content": "Hello there"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}],
    [{"role": "user", "content": "Count: one two three"}],
]


def _transformers():  # type: ignore[no-untyped-def]
    tok = load_tokenizer("tunelab-tiny")
    return TransformersBackend(load_model("tunelab-tiny", "float32", "cpu"), tok, None, "tunelab-tiny")


def _vllm():  # type: ignore[no-untyped-def]
    return VLLMBackend("tunelab-tiny", dtype="float32", enforce_eager=True, gpu_memory_utilization=0.2)


@pytest.fixture(
    scope="module",
    params=[
        "transformers",
        pytest.param(
            "vllm", marks=pytest.mark.skipif(not HAS_VLLM, reason="vLLM is not installed (needs a CUDA GPU)")
        ),
    ],
)
def backend(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return _transformers() if request.param == "transformers" else _vllm()


def test_one_result_per_prompt_in_order(backend) -> None:  # type: ignore[no-untyped-def]
    dec = Decoding(max_new_tokens=12)
    prompts = [*CHAT, "Plain prompt text", CHAT[0]]
    together = backend.generate(prompts, dec)
    alone = [backend.generate([p], dec)[0] for p in prompts]
    assert len(together) == len(prompts)
    assert [g.text for g in together] == [g.text for g in alone]
    assert together[0].text == together[-1].text  # greedy: the same prompt, the same answer


def test_chat_prompts_use_the_models_template(backend) -> None:  # type: ignore[no-untyped-def]
    tok = load_tokenizer("tunelab-tiny")
    [g] = backend.generate([CHAT[1]], Decoding(max_new_tokens=4))
    text = tok.apply_chat_template(CHAT[1], add_generation_prompt=True, tokenize=False)
    assert g.n_prompt_tokens == len(encode_prompts(tok, [text], add_special_tokens=False)[0])


def test_budget_and_finish_reasons(backend) -> None:  # type: ignore[no-untyped-def]
    gens = backend.generate(CHAT, Decoding(max_new_tokens=3))
    for g in gens:
        assert len(g.token_ids) <= 3
        assert g.finish_reason in ("stop", "length")
        assert g.finish_reason == "stop" or len(g.token_ids) == 3
    long = backend.generate(CHAT, Decoding(max_new_tokens=24))
    checked = 0
    for prompt, g in zip(CHAT, long):
        if len(g.text) < 4:
            continue
        cut = g.text[1:3]  # a stop string the model is known to produce
        [s] = backend.generate([prompt], Decoding(max_new_tokens=24, stop=(cut,)))
        assert s.finish_reason == "stop" and cut not in s.text and g.text.startswith(s.text)
        checked += 1
    assert checked > 0


def test_describe_names_backend_and_model(backend) -> None:  # type: ignore[no-untyped-def]
    d = backend.describe()
    assert d["backend"] in ("transformers", "vllm") and d["model"] == "tunelab-tiny"


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed here")
def test_vllm_missing_is_a_clear_usage_error() -> None:
    with pytest.raises(InputError, match="vLLM, which is not installed"):
        VLLMBackend("tunelab-tiny")


def test_vllm_cli_refuses_clearly_where_vllm_is_missing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from tunelab.cli import cli

    if HAS_VLLM:
        pytest.skip("vLLM is installed here")
    r = CliRunner().invoke(
        cli, ["eval", "--model", "tunelab-tiny", "--suite", "fin_sentiment", "--backend", "vllm"]
    )
    assert r.exit_code == 2 and "vLLM, which is not installed" in r.output
    r = CliRunner().invoke(cli, ["serve", "--model", "tunelab-tiny", "--backend", "vllm"])
    assert r.exit_code == 2 and "vLLM, which is not installed" in r.output


def test_vllm_server_command_uses_tunelabs_template_and_loopback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tunelab.generation import vllm_server_command

    argv = vllm_server_command("tunelab-tiny", template_dir=str(tmp_path))
    assert argv[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    tpl = argv[argv.index("--chat-template") + 1]
    assert open(tpl, encoding="utf-8").read() == load_tokenizer("tunelab-tiny").chat_template
    assert "--enable-lora" not in argv


def test_vllm_server_command_serves_the_adapter_under_the_model_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from peft import LoraConfig, get_peft_model

    from tunelab.generation import vllm_server_command

    peft_model = get_peft_model(
        load_model("tunelab-tiny", "float32", "cpu"), LoraConfig(r=4, target_modules=["q_proj"])
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    argv = vllm_server_command(
        "tunelab-tiny", str(tmp_path / "adapter"), model_name="tuned", template_dir=str(tmp_path)
    )
    assert argv[argv.index("--max-lora-rank") + 1] == "4"
    assert argv[argv.index("--lora-modules") + 1] == f"tuned={(tmp_path / 'adapter').resolve()}"
    assert argv[argv.index("--served-model-name") + 1] == "tuned-base"
