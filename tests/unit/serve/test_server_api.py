"""OpenAI API behaviour of the server on the tiny model: parameters it refuses rather than ignores,
errors in OpenAI's shape, logprobs checked against the model's own forward pass, seeds, /metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tunelab.serve import BackgroundServer, start_background_server


@pytest.fixture(scope="module")
def srv() -> Iterator[BackgroundServer]:
    s = start_background_server("tunelab-tiny", device="cpu", max_tokens_limit=64, max_body_bytes=50_000)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def client(srv: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key="none", max_retries=0, timeout=120)


MSG = [{"role": "user", "content": "Tell me a fact."}]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("frequency_penalty", 0.5),
        ("presence_penalty", 1.0),
        ("logit_bias", {"5": 10}),
        ("n", 2),
        ("tools", [{"type": "function", "function": {"name": "f", "parameters": {}}}]),
        ("response_format", {"type": "json_object"}),
        ("response_format", {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}),
    ],
)
def test_unimplemented_parameters_get_400_naming_them(
    client: openai.OpenAI, srv: BackgroundServer, param: str, value: Any
) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=srv.model_name, messages=MSG, max_tokens=4, **{param: value})  # type: ignore[call-overload]
    assert e.value.param == param and param in e.value.message


def test_unknown_fields_get_400_and_no_op_defaults_are_accepted(
    client: openai.OpenAI, srv: BackgroundServer
) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model=srv.model_name, messages=MSG, max_tokens=4, extra_body={"mirostat": 2}
        )
    assert e.value.param == "mirostat" and "unrecognized" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=srv.model_name, prompt="Hi", max_tokens=4, frequency_penalty=0.3)
    assert e.value.param == "frequency_penalty"
    r = client.chat.completions.create(
        model=srv.model_name,
        messages=MSG,
        max_tokens=4,
        frequency_penalty=0,
        presence_penalty=0.0,
        logit_bias={},
        n=1,
        response_format={"type": "text"},
        user="u1",
    )
    assert r.choices[0].message.content is not None


def test_every_error_has_openai_shape(srv: BackgroundServer) -> None:
    root = f"http://{srv.host}:{srv.port}"
    ok = {"model": srv.model_name, "messages": MSG, "max_tokens": 4}
    with httpx.Client(timeout=60) as http:
        answers = {
            404: http.get(f"{root}/v1/nope"),
            405: http.get(f"{root}/v1/chat/completions"),
            422: http.post(f"{root}/v1/chat/completions", json={**ok, "temperature": "hot"}),
            400: http.post(f"{root}/v1/chat/completions", content=b"[1, 2"),
        }
        for status, r in answers.items():
            assert r.status_code == status, r.text
            err = r.json()["error"]
            assert set(err) == {"message", "type", "param", "code"} and err["message"], err
        assert "/v1/nope" in answers[404].json()["error"]["message"]
        assert answers[422].json()["error"]["param"] == "temperature"


@pytest.mark.parametrize("depth", [40, 10_000])
def test_a_body_nested_too_deeply_gets_400(srv: BackgroundServer, client: openai.OpenAI, depth: int) -> None:
    # 10,000 levels is past Python's own parser limit; 40 is past the server's (32)
    nested = "[" * depth + "]" * depth
    head = json.dumps({"model": srv.model_name, "messages": [{"role": "user", "content": "hi"}]})
    body = head[:-1] + ', "user": ' + nested + "}"
    r = httpx.post(f"{srv.base_url}/chat/completions", content=body.encode(), timeout=60)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "too_deep" and "nested" in r.json()["error"]["message"]
    ok = client.chat.completions.create(model=srv.model_name, messages=MSG, max_tokens=4)
    assert ok.choices[0].message.content is not None


def test_chat_logprobs_agree_with_the_models_forward_pass(
    srv: BackgroundServer, client: openai.OpenAI
) -> None:
    import torch

    from tunelab.models import load_model, load_tokenizer

    r = client.chat.completions.create(
        model=srv.model_name, messages=MSG, max_tokens=12, temperature=0, logprobs=True, top_logprobs=3
    )
    content = r.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content and "".join(c.token for c in content) == r.choices[0].message.content
    for c in content:
        assert len(c.top_logprobs) == 3
        assert c.top_logprobs[0].token == c.token  # greedy: the chosen token is the most likely one
        assert c.top_logprobs[0].logprob == pytest.approx(c.logprob)
        assert c.bytes == list(c.token.encode())
    # reference: greedy decoding by full forward passes without a KV cache, log-softmax of each last position
    tok, model = load_tokenizer("tunelab-tiny"), load_model("tunelab-tiny", device="cpu").eval()
    text = tok.apply_chat_template(MSG, tokenize=False, add_generation_prompt=True)
    ids = list(tok(text, add_special_tokens=False)["input_ids"])
    with torch.inference_mode():
        for c in content:
            lsm = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].float(), dim=-1)
            best = int(lsm.argmax())
            assert c.token == tok.decode([best])
            assert c.logprob == pytest.approx(float(lsm[best]), abs=1e-4)
            ids.append(best)


def test_completion_logprobs_and_stream_agree(srv: BackgroundServer, client: openai.OpenAI) -> None:
    r = client.completions.create(
        model=srv.model_name, prompt="The heart", max_tokens=10, temperature=0, logprobs=2
    )
    lp = r.choices[0].logprobs
    assert lp is not None and lp.tokens and "".join(lp.tokens) == r.choices[0].text
    assert lp.text_offset == sorted(lp.text_offset) and lp.text_offset[0] == 0
    assert all(len(t) <= 2 for t in lp.top_logprobs or [])
    s = client.completions.create(
        model=srv.model_name, prompt="The heart", max_tokens=10, temperature=0, logprobs=2, stream=True
    )
    streamed = [
        t
        for c in s
        if c.choices and c.choices[0].logprobs
        for t in c.choices[0].logprobs.token_logprobs or []
    ]
    assert streamed == pytest.approx(lp.token_logprobs)
    with pytest.raises(openai.UnprocessableEntityError):
        client.completions.create(model=srv.model_name, prompt="x", max_tokens=2, logprobs=6)


def test_a_seed_gives_the_same_sample_whatever_else_is_in_the_batch(
    srv: BackgroundServer, client: openai.OpenAI
) -> None:
    def sample(seed: int) -> str:
        r = client.chat.completions.create(
            model=srv.model_name, messages=MSG, max_tokens=16, temperature=1.0, seed=seed
        )
        return r.choices[0].message.content or ""

    alone = sample(7)
    with ThreadPoolExecutor(6) as ex:  # the same seed among other requests, joining at different steps
        together = list(ex.map(sample, [7, 1, 7, 2, 7, 3]))
    assert together[0] == together[2] == together[4] == alone
    assert len({alone, together[1], together[3], together[5]}) > 1


def test_metrics_are_prometheus_text(srv: BackgroundServer, client: openai.OpenAI) -> None:
    client.chat.completions.create(model=srv.model_name, messages=MSG, max_tokens=4)
    r = httpx.get(f"http://{srv.host}:{srv.port}/metrics", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    fams = {f.name: f for f in text_string_to_metric_families(r.text)}
    for name, kind in [
        ("tunelab_queue_length", "gauge"),
        ("tunelab_running_requests", "gauge"),
        ("tunelab_generation_tokens_per_second", "gauge"),
        ("tunelab_generated_tokens", "counter"),
        ("tunelab_request_duration_seconds", "histogram"),
        ("tunelab_requests", "counter"),
    ]:
        assert fams[name].type == kind
    buckets = [s for s in fams["tunelab_request_duration_seconds"].samples if s.name.endswith("_bucket")]
    assert buckets and buckets[-1].labels["le"] == "+Inf" and buckets[-1].value >= 1
    assert json.loads(httpx.get(f"http://{srv.host}:{srv.port}/health").text) == {"status": "ok"}
