"""The server under load and slow clients, on the tiny model: a real uvicorn server on loopback, driven by
the ``openai`` client (and a raw socket for the slow client). No assertion is on time: each test checks
an order of events, status codes or a closed connection, and every loop is bounded."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tunelab.models import load_model, load_tokenizer
from tunelab.serve import BackgroundServer, create_app, start_background_server

LONG_PROMPT = "The heart rate"  # greedy decoding on the tiny model runs 400 tokens without an end of turn


@pytest.fixture(scope="module")
def model_and_tok() -> tuple[Any, Any]:
    return load_model("tunelab-tiny", device="cpu"), load_tokenizer("tunelab-tiny")


def _serve(model_and_tok: tuple[Any, Any], header_timeout_s: float = 10.0, **kw: Any) -> BackgroundServer:
    model, tok = model_and_tok
    app = create_app(model, tok, model_name="tunelab-tiny", **kw)
    return start_background_server(app=app, header_timeout_s=header_timeout_s)


def _client(srv: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key="none", max_retries=0, timeout=300)


def _metrics(srv: BackgroundServer) -> dict[str, float]:
    text = httpx.get(f"http://{srv.host}:{srv.port}/metrics", timeout=30).text
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


@pytest.fixture()
def roomy(model_and_tok: tuple[Any, Any]) -> Iterator[BackgroundServer]:
    srv = _serve(model_and_tok, max_tokens_limit=400)
    try:
        yield srv
    finally:
        srv.stop()


def test_a_short_request_sent_while_a_long_one_runs_finishes_first(roomy: BackgroundServer) -> None:
    client = _client(roomy)
    alone_short = client.completions.create(model="tunelab-tiny", prompt="Hi", max_tokens=5, temperature=0)
    order: list[str] = []
    running = threading.Event()
    long_result: dict[str, Any] = {}

    def long() -> None:
        stream = client.completions.create(
            model="tunelab-tiny",
            prompt=LONG_PROMPT,
            max_tokens=400,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces = []
        for chunk in stream:
            if chunk.choices and chunk.choices[0].text:
                pieces.append(chunk.choices[0].text)
                if len(pieces) == 3:
                    running.set()
            if chunk.usage is not None:
                long_result["usage"] = chunk.usage
        long_result["text"] = "".join(pieces)
        order.append("long")

    t = threading.Thread(target=long)
    t.start()
    try:
        assert running.wait(300), "the long request never started streaming"
        short = client.completions.create(model="tunelab-tiny", prompt="Hi", max_tokens=5, temperature=0)
        order.append("short")
    finally:
        t.join(600)
    assert order == ["short", "long"]
    assert long_result["usage"].completion_tokens == 400  # it really was running all along
    assert short.usage is not None and short.usage.completion_tokens <= 5
    # joining the running batch mid-flight changes no greedy answer
    assert short.choices[0].text == alone_short.choices[0].text
    alone_long = client.completions.create(
        model="tunelab-tiny", prompt=LONG_PROMPT, max_tokens=400, temperature=0
    )
    assert long_result["text"] == alone_long.choices[0].text
    assert roomy.app.state.engine.largest_batch == 2


def test_max_queue_4_and_32_clients_get_200_or_429_then_normal_service(
    model_and_tok: tuple[Any, Any],
) -> None:
    srv = _serve(model_and_tok, max_batch=2, max_queue=4, max_tokens_limit=64)
    try:
        client = _client(srv)
        barrier = threading.Barrier(32, timeout=120)

        def one(i: int) -> tuple[int, str | None]:
            barrier.wait()
            try:
                r = client.chat.completions.create(
                    model="tunelab-tiny",
                    messages=[{"role": "user", "content": f"Tell me a fact, number {i}."}],
                    max_tokens=32,
                    temperature=0,
                )
                assert r.choices[0].message.content is not None
                return 200, None
            except openai.APIStatusError as e:
                return e.status_code, e.response.headers.get("retry-after")

        with ThreadPoolExecutor(32) as ex:
            results = list(ex.map(one, range(32)))
        codes = [c for c, _ in results]
        assert set(codes) <= {200, 429}, codes
        assert codes.count(429) >= 1 and codes.count(200) >= 2, codes
        assert all(ra is not None and int(ra) >= 1 for c, ra in results if c == 429)
        after = client.chat.completions.create(
            model="tunelab-tiny", messages=[{"role": "user", "content": "Hello!"}], max_tokens=4
        )
        assert after.choices[0].message.content is not None
        m = _metrics(srv)
        assert m["tunelab_queue_length"] == 0 and m["tunelab_running_requests"] == 0
        assert m["tunelab_requests_total{code=429,endpoint=/v1/chat/completions}"] == codes.count(429)
        assert m["tunelab_requests_total{code=200,endpoint=/v1/chat/completions}"] == codes.count(200) + 1
        assert m["tunelab_request_duration_seconds_count{endpoint=/v1/chat/completions}"] == 33
        assert m["tunelab_generated_tokens_total"] >= codes.count(200)
    finally:
        srv.stop()


def test_a_client_that_sends_headers_slowly_is_cut_at_the_header_timeout(
    model_and_tok: tuple[Any, Any],
) -> None:
    srv = _serve(model_and_tok, header_timeout_s=1.0)
    try:
        answer = b""
        lines_sent = 0
        with socket.create_connection((srv.host, srv.port), timeout=30) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            for i in range(100):  # one header line per 0.1 s: 10 s in all, ten times the timeout
                ready, _, _ = select.select([s], [], [], 0.1)
                if ready:
                    answer = s.recv(4096)
                    break
                try:
                    s.sendall(b"X-Slow-%d: y\r\n" % i)
                except (BrokenPipeError, ConnectionResetError):
                    break
                lines_sent += 1
        assert lines_sent < 100, "the server never cut the slow client"
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b'"code": "request_timeout"' in answer
        # the server answers normally afterwards, on a fresh connection
        r = _client(srv).chat.completions.create(
            model="tunelab-tiny", messages=[{"role": "user", "content": "Hello!"}], max_tokens=4
        )
        assert r.choices[0].message.content is not None
    finally:
        srv.stop()


def test_a_request_past_its_timeout_gets_504_and_leaves_the_batch(model_and_tok: tuple[Any, Any]) -> None:
    srv = _serve(model_and_tok, max_tokens_limit=400, request_timeout_s=0.2)
    try:
        client = _client(srv)
        with pytest.raises(openai.APIStatusError) as e:
            client.completions.create(model="tunelab-tiny", prompt=LONG_PROMPT, max_tokens=400, temperature=0)
        assert e.value.status_code == 504 and "timeout of 0.2 s" in e.value.message
        m = _metrics(srv)
        assert m["tunelab_running_requests"] == 0
        assert m["tunelab_generated_tokens_total"] < 400
    finally:
        srv.stop()
