"""The OpenAI-compatible server on the tiny model: a real uvicorn server on loopback, driven by the
official ``openai`` client and by raw HTTP for the malformed requests a client library won't send."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from tunelab.serve import BackgroundServer, start_background_server

KEY = "test-key"


@pytest.fixture(scope="module")
def srv() -> Iterator[BackgroundServer]:
    s = start_background_server(
        "tunelab-tiny", api_key=KEY, device="cpu", max_tokens_limit=64, max_body_bytes=20_000
    )
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def client(srv: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0, timeout=60)


def _chat(client: openai.OpenAI, model: str, text: str, **kw: object) -> openai.types.chat.ChatCompletion:
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **kw)  # type: ignore[call-overload,no-any-return]


def test_binds_loopback_and_lists_the_model(srv: BackgroundServer, client: openai.OpenAI) -> None:
    assert srv.base_url.startswith("http://127.0.0.1:")
    assert [m.id for m in client.models.list().data] == ["tunelab-tiny"]


def test_api_key_is_required(srv: BackgroundServer) -> None:
    for key in ("wrong", ""):
        bad = openai.OpenAI(base_url=srv.base_url, api_key=key or "x", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
    r = httpx.post(
        f"{srv.base_url}/chat/completions",
        json={"model": "tunelab-tiny", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 401 and "API key" in r.json()["error"]["message"]


def test_32_concurrent_chat_requests_are_batched(srv: BackgroundServer, client: openai.OpenAI) -> None:
    def one(i: int) -> openai.types.chat.ChatCompletion:
        return _chat(
            client, srv.model_name, f"Hello! Request {i}.", temperature=0.8, max_tokens=12, seed=i % 2
        )

    with ThreadPoolExecutor(32) as ex:
        results = list(ex.map(one, range(32)))
    assert len(results) == 32
    for r in results:
        assert r.choices[0].message.content, r
        assert r.choices[0].finish_reason in ("stop", "length")
        assert r.usage is not None and r.usage.completion_tokens >= 1
        assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert srv.app.state.engine.largest_batch > 1  # concurrent requests shared a generate call


def test_batched_greedy_matches_one_at_a_time_generate(srv: BackgroundServer, client: openai.OpenAI) -> None:
    """Left-padded batching must not change greedy answers (reference: plain transformers generate)."""
    import torch

    from tunelab.models import load_model, load_tokenizer

    prompts = ["Tell me a fact.", "Hi, how are you?", "What is the normal heart rate of an adult at rest?"]
    with ThreadPoolExecutor(len(prompts)) as ex:
        got = list(ex.map(lambda p: _chat(client, srv.model_name, p, temperature=0, max_tokens=16), prompts))
    tok, model = load_tokenizer("tunelab-tiny"), load_model("tunelab-tiny", device="cpu").eval()
    for p, r in zip(prompts, got):
        text = tok.apply_chat_template(
            [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
        )
        ids = tok(text, add_special_tokens=False, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(
                **ids,
                max_new_tokens=16,
                do_sample=False,
                eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id,
            )
        new = out[0, ids["input_ids"].shape[1] :]
        assert r.choices[0].message.content == tok.decode(new, skip_special_tokens=True)
        assert r.usage is not None and r.usage.prompt_tokens == ids["input_ids"].shape[1]
        assert r.usage.completion_tokens == len(new)


def test_streaming_yields_the_same_text_in_chunks(srv: BackgroundServer, client: openai.OpenAI) -> None:
    full = _chat(client, srv.model_name, "Tell me a fact.", temperature=0, max_tokens=20)
    stream = client.chat.completions.create(
        model=srv.model_name,
        messages=[{"role": "user", "content": "Tell me a fact."}],
        temperature=0,
        max_tokens=20,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) > 2
    assert "".join(deltas) == full.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        full.choices[0].finish_reason
    ]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == full.usage.completion_tokens  # type: ignore[union-attr]


def test_stop_strings_and_length(srv: BackgroundServer, client: openai.OpenAI) -> None:
    full = (
        _chat(client, srv.model_name, "Tell me a fact.", temperature=0, max_tokens=30)
        .choices[0]
        .message.content
    )
    assert full and len(full) > 10
    stop = full[6:9]
    cut = full[: full.index(stop)]
    r = _chat(
        client, srv.model_name, "Tell me a fact.", temperature=0, max_tokens=30, stop=[stop, "\x00never"]
    )
    assert r.choices[0].message.content == cut and r.choices[0].finish_reason == "stop"
    streamed = client.chat.completions.create(
        model=srv.model_name,
        messages=[{"role": "user", "content": "Tell me a fact."}],
        temperature=0,
        max_tokens=30,
        stop=stop,
        stream=True,
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == cut
    r = _chat(client, srv.model_name, "Tell me a fact.", temperature=0, max_tokens=3)
    assert r.choices[0].finish_reason == "length" and r.usage is not None and r.usage.completion_tokens == 3


def test_completions_endpoint(srv: BackgroundServer, client: openai.OpenAI) -> None:
    r = client.completions.create(model=srv.model_name, prompt="The heart rate", max_tokens=8, temperature=0)
    assert r.object == "text_completion" and r.choices[0].text
    assert r.usage is not None and r.usage.completion_tokens <= 8
    s = client.completions.create(
        model=srv.model_name, prompt="The heart rate", max_tokens=8, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in s if c.choices) == r.choices[0].text


def test_bad_requests_get_4xx_and_the_server_keeps_serving(
    srv: BackgroundServer, client: openai.OpenAI
) -> None:
    url = f"{srv.base_url}/chat/completions"
    h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    ok = {"model": srv.model_name, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    cases = [
        (b"{not json", 400, "not valid JSON"),
        (json.dumps({"model": srv.model_name}).encode(), 422, "messages"),
        (json.dumps({**ok, "temperature": 5}).encode(), 422, "temperature"),
        (json.dumps({**ok, "messages": [{"role": "wizard", "content": "x"}]}).encode(), 422, "role"),
        (json.dumps({**ok, "n": 2}).encode(), 400, "n=2 is not supported"),
        (json.dumps({**ok, "model": "gpt-4"}).encode(), 404, "not served"),
        (json.dumps({**ok, "max_tokens": 65}).encode(), 400, "limit of 64"),
        (
            json.dumps({**ok, "messages": [{"role": "user", "content": "word " * 1100}]}).encode(),
            400,
            "context",
        ),
        (
            json.dumps({**ok, "messages": [{"role": "user", "content": "x" * 30_000}]}).encode(),
            413,
            "larger than",
        ),
    ]
    with httpx.Client(timeout=60) as http:
        for body, status, words in cases:
            r = http.post(url, content=body, headers=h)
            assert r.status_code == status, (body[:60], r.text)
            assert words in r.json()["error"]["message"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
            for _ in range(30):
                yield b" " * 1000

        r = http.post(url, content=chunks(), headers=h)
        assert r.status_code == 413
    with pytest.raises(openai.BadRequestError, match="context"):
        _chat(client, srv.model_name, "word " * 1100)
    assert _chat(client, srv.model_name, "Hello!", temperature=0, max_tokens=4).choices[0].message.content
