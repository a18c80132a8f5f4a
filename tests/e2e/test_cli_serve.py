"""``tunelab serve`` as a real process: --help, serve /v1/models on loopback, clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

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
