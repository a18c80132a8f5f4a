"""The Ollama Modelfile: the chat template translated to Go template syntax, stop tokens, parameters."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tunelab.errors import InputError
from tunelab.models import load_tokenizer, write_modelfile
from tunelab.models._modelfile import CHECK_CONVERSATIONS, go_template, render_parts, template_parts

# SmolLM2-135M-Instruct's template (ChatML that inserts a default system prompt), as its tokenizer ships it
SMOL_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Llama 3's shape: BOS once, then a header per turn
LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
# Llama 2's shape: the system prompt folded into the first user turn
LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] %}{% set msgs = messages[1:] %}"
    "{% else %}{% set sys = '' %}{% set msgs = messages %}{% endif %}{% for m in msgs %}"
    "{% if m['role'] == 'user' %}[INST] {% if loop.first and sys %}<<SYS>>\n{{ sys }}\n<</SYS>>\n\n{% endif %}"
    "{{ m['content'] }} [/INST]{% else %}{{ m['content'] }}</s>{% endif %}{% endfor %}"
)


@pytest.fixture(scope="module")
def tok():  # type: ignore[no-untyped-def]
    return load_tokenizer("tunelab-tiny")


def _with_template(tok, template: str, bos: str | None = None):  # type: ignore[no-untyped-def]
    t = copy.deepcopy(tok)
    t.chat_template = template
    if bos is not None:
        t.bos_token = bos
    return t


def _jinja(tok, conv, gen: bool = True) -> str:  # type: ignore[no-untyped-def]
    msgs = [{"role": r, "content": c} for r, c in conv]
    return str(tok.apply_chat_template(msgs, add_generation_prompt=gen, tokenize=False))


def test_chatml_modelfile(tok, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_modelfile(tok, tmp_path / "tiny.gguf", 1024)
    assert path == tmp_path / "Modelfile"
    text = path.read_text()
    expected_template = (
        "{{- range $i, $_ := .Messages }}\n"
        "{{- $last := eq (len (slice $.Messages $i)) 1 }}\n"
        '{{- if eq .Role "system" }}{{ "<|im_start|>system\\n" }}{{ .Content }}{{ "<|im_end|>\\n" }}\n'
        '{{- else if eq .Role "user" }}{{ "<|im_start|>user\\n" }}{{ .Content }}{{ "<|im_end|>\\n" }}\n'
        '{{- else if eq .Role "assistant" }}{{ "<|im_start|>assistant\\n" }}{{ .Content }}'
        '{{ if not $last }}{{ "<|im_end|>\\n" }}{{ end }}\n'
        "{{- end }}\n"
        '{{- if and $last (ne .Role "assistant") }}{{ "<|im_start|>assistant\\n" }}{{ end }}\n'
        "{{- end }}"
    )
    assert f'TEMPLATE """{expected_template}"""' in text
    assert "FROM ./tiny.gguf\n" in text
    assert [ln for ln in text.splitlines() if ln.startswith("PARAMETER stop")] == [
        'PARAMETER stop "<|im_end|>"'
    ]
    assert "PARAMETER temperature 0\n" in text and "PARAMETER num_ctx 1024\n" in text
    assert "SYSTEM" not in text  # the tiny template inserts no default system prompt
    assert "ollama create" in text


def test_default_system_prompt_becomes_system(tok, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    smol = _with_template(tok, SMOL_TEMPLATE)
    parts = template_parts(smol)
    assert parts.default_system == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    assert parts.start == "" and parts.prefix["user"] == "<|im_start|>user\n"
    text = write_modelfile(smol, tmp_path / "m.gguf", 8192).read_text()
    assert 'SYSTEM """You are a helpful AI assistant named SmolLM, trained by Hugging Face"""' in text


@pytest.mark.parametrize("name", ["chatml", "smol", "llama3"])
def test_translation_renders_like_jinja(tok, name: str) -> None:  # type: ignore[no-untyped-def]
    t = {
        "chatml": tok,
        "smol": _with_template(tok, SMOL_TEMPLATE),
        "llama3": _with_template(tok, LLAMA3_TEMPLATE, bos="<|endoftext|>"),
    }[name]
    parts = template_parts(t)
    if name == "llama3":
        assert parts.start == "<|endoftext|>" and parts.prefix["system"].startswith("<|start_header_id|>")
        assert '{{- if eq $i 0 }}{{ "<|endoftext|>" }}{{ end }}' in go_template(parts)
    convs = [*CHECK_CONVERSATIONS, (("user", 'quotes " and {{ braces }}'), ("assistant", "x"), ("user", "y"))]
    for conv in convs:
        assert render_parts(parts, list(conv)) == _jinja(t, conv)


def test_template_not_per_role_is_refused(tok, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="chat_template"):
        write_modelfile(_with_template(tok, LLAMA2_TEMPLATE), tmp_path / "m.gguf", 4096)
    assert not (tmp_path / "Modelfile").exists()


def test_literal_go_strings_escape_quotes(tok) -> None:  # type: ignore[no-untyped-def]
    t = _with_template(tok, SMOL_TEMPLATE.replace("named SmolLM", 'named "Smol"'))
    parts = template_parts(t)
    assert parts.default_system is not None and '"Smol"' in parts.default_system
    assert '{{ "<|im_start|>system\\n" }}' in go_template(parts)


@pytest.fixture(scope="module")
def go_render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gotemplate/render.go built: Go's text/template, the engine Ollama renders prompts with."""
    if shutil.which("go") is None:
        pytest.skip(
            "Go is not installed (apt-get install golang-go), so the Go template is not rendered here"
        )
    out = tmp_path_factory.mktemp("go") / "render"
    env = {**os.environ, "GOCACHE": str(out.parent / "cache"), "GOFLAGS": "-mod=mod"}
    src = Path(__file__).parent / "gotemplate" / "render.go"
    subprocess.run(["go", "build", "-o", str(out), str(src)], check=True, env=env, capture_output=True)
    return out


@pytest.mark.parametrize("name", ["chatml", "smol", "llama3"])
def test_go_text_template_renders_like_jinja(tok, go_render: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    """The TEMPLATE text itself, run by Go's text/template, renders every test conversation as Jinja does."""
    t = {
        "chatml": tok,
        "smol": _with_template(tok, SMOL_TEMPLATE),
        "llama3": _with_template(tok, LLAMA3_TEMPLATE, bos="<|endoftext|>"),
    }[name]
    parts = template_parts(t)
    template = go_template(parts)
    convs = [
        *CHECK_CONVERSATIONS,
        (("user", 'quotes " and {{ braces }} \\ back'), ("assistant", "x"), ("user", "y")),
    ]
    for conv in convs:
        msgs = [{"role": r, "content": c} for r, c in conv]
        if parts.default_system is not None and msgs[0]["role"] != "system":  # what Ollama does with SYSTEM
            msgs.insert(0, {"role": "system", "content": parts.default_system})
        payload = json.dumps({"template": template, "messages": msgs})
        r = subprocess.run([str(go_render)], input=payload, capture_output=True, text=True, check=True)
        assert r.stdout == _jinja(t, conv), conv


@pytest.mark.skipif(shutil.which("ollama") is None, reason="ollama is not installed on this machine")
def test_ollama_create_and_reply(tok, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tunelab.models import load_model, write_gguf

    model = load_model("tunelab-tiny", "float32", "cpu")
    gguf = tmp_path / "tiny.gguf"
    write_gguf(model, tok, gguf, "q8_0")
    mf = write_modelfile(tok, gguf, 1024)
    r = subprocess.run(
        ["ollama", "create", "tunelab-tiny-test", "-f", str(mf)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        ["ollama", "run", "tunelab-tiny-test", "Hello"], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    assert "<|im_end|>" not in r.stdout  # the stop token ended the reply
    subprocess.run(["ollama", "rm", "tunelab-tiny-test"], capture_output=True)
