"""``tunelab serve`` as a real process: --help, serve /v1/models on loopback, SIGTERM drains in-flight
requests and exits 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai

TUNELAB = str(Path(sys.executable).parent / "tunelab")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_help() -> None:
    r = subprocess.run([TUNELAB, "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    for opt in (
        "--model",
        "--adapter",
        "--host",
        "--port",
        "--api-key",
        "--max-body-bytes",
        "--max-tokens-limit",
        "--max-batch",
        "--max-queue",
        "--request-timeout",
        "--header-timeout",
    ):
        assert opt in r.stdout


def test_serve_bad_model_exits_2() -> None:
    r = subprocess.run(
        [TUNELAB, "serve", "--model", "./no/such/model"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2 and "no such model" in r.stderr


def test_serve_subprocess_answers_then_stops_cleanly_on_sigterm() -> None:
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [
            TUNELAB,
            "serve",
            "--model",
            "tunelab-tiny",
            "--port",
            str(port),
            "--device",
            "cpu",
            "--api-key",
            "k",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1/models"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                r = httpx.get(url, headers={"Authorization": "Bearer k"}, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.3)
        assert r.status_code == 200
        assert r.json()["data"][0]["id"] == "tunelab-tiny"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert "Finished server process" in out or "Shutting down" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _metric(port: int, name: str) -> float:
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_sigterm_drains_in_flight_requests_and_exits_0() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [TUNELAB, "serve", "--model", "tunelab-tiny", "--port", str(port), "--device", "cpu"]
        + ["--max-tokens-limit", "300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        for _ in range(400):  # up to ~120 s for the server to come up
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=300
        )
        results: dict[str, Any] = {}

        def streamed() -> None:
            s = client.completions.create(
                model="tunelab-tiny",
                prompt="The heart rate",  # greedy: 300 tokens without an end of turn
                max_tokens=300,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
            )
            results["stream"] = [c for c in s]

        def plain() -> None:
            results["plain"] = client.completions.create(
                model="tunelab-tiny", prompt="The heart rate", max_tokens=300, temperature=0
            )

        threads = [threading.Thread(target=f) for f in (streamed, plain)]
        for t in threads:
            t.start()
        for _ in range(600):  # both requests are being decoded before the signal
            if _metric(port, "tunelab_running_requests") == 2:
                break
            time.sleep(0.1)
        assert _metric(port, "tunelab_running_requests") == 2
        proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(300)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
        chunks = results["stream"]
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 300
        assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
            "length"
        ]
        assert results["plain"].usage.completion_tokens == 300
        assert "".join(c.choices[0].text for c in chunks if c.choices) == results["plain"].choices[0].text
        try:  # and it no longer accepts connections
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
            raise AssertionError("the server still answers after SIGTERM")
        except httpx.TransportError:
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
