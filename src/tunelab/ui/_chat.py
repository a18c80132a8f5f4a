"""One message to two of a run's models (base, instruction, fine-tuned), answers streamed side by side.

Each model is served by ``tunelab serve`` (the project's OpenAI-compatible server and its streaming engine),
started once per model as a subprocess on a free loopback port with a random API key, and streamed from
over HTTP: the UI uses the server through its public contract, as it uses ``tunelab compare``. The message
reaches each model the way it was trained: through the chat template (``/v1/chat/completions``) for the
base and instruction-tuned models, as plain text (``/v1/completions``) for a fine-tuned model trained on
the fixed plain format (``data.render: plain``). Greedy decoding.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tunelab.errors import InputError, TunelabError
from tunelab.ui._runs import MODELS, approach, first_seed_dir

__all__ = ["ChatModels", "MAX_MESSAGE_CHARS", "MAX_NEW_TOKENS"]

MAX_MESSAGE_CHARS = 4000
MAX_NEW_TOKENS = 256
_CLI = "import sys; from tunelab.cli import main; sys.exit(main())"


@dataclass
class _Served:
    proc: subprocess.Popen[bytes]
    base_url: str
    key: str
    prompt_format: str
    log: Path | None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_args(run_dir: Path, model: str) -> tuple[list[str], str]:
    """``tunelab serve`` arguments for one of the run's models, and the prompt format it was trained on."""
    data = json.loads((run_dir / "compare.json").read_text(encoding="utf-8"))
    base = str(data["base_model"])
    if model == "base":
        return ["--model", base], "chat"
    final = first_seed_dir(run_dir, model) / "final"
    if not final.is_dir():
        raise InputError(f"the {model} model has no final/ folder", file=str(final))
    fmt = approach(data, model).get("render") or "chat"
    if (final / "adapter_config.json").is_file():
        return ["--model", base, "--adapter", str(final)], fmt
    return ["--model", str(final)], fmt


class ChatModels:
    """The ``tunelab serve`` subprocesses of the models chatted with (the ``max_loaded`` most recent)."""

    def __init__(self, max_loaded: int = 3, startup_timeout_s: float = 300.0) -> None:
        self.max_loaded = max_loaded
        self.startup_timeout_s = startup_timeout_s
        self._served: OrderedDict[tuple[str, str], _Served] = OrderedDict()
        self._lock = threading.Lock()

    def _start(self, run_dir: Path, model: str) -> _Served:
        key = (str(run_dir), model)
        with self._lock:
            s = self._served.get(key)
            if s is not None and s.proc.poll() is None:
                self._served.move_to_end(key)
                return s
            args, fmt = _serve_args(run_dir, model)
            port, api_key = _free_port(), secrets.token_urlsafe(16)
            log = (run_dir / "ui" / f"serve-{model}.log") if (run_dir / "ui").is_dir() else None
            err = log.open("wb") if log is not None else subprocess.DEVNULL
            proc = subprocess.Popen(
                [sys.executable, "-c", _CLI, "serve", *args, "--port", str(port), "--model-name", model,
                 "--max-tokens-limit", str(MAX_NEW_TOKENS), "--max-batch", "4"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env={**os.environ, "TUNELAB_API_KEY": api_key},
                start_new_session=True,
            )  # fmt: skip
            if log is not None:
                err.close()  # type: ignore[union-attr]
            s = _Served(proc, f"http://127.0.0.1:{port}", api_key, fmt, log)
            self._wait_ready(s, model)
            self._served[key] = s
            while len(self._served) > self.max_loaded:
                _, old = self._served.popitem(last=False)
                _stop(old)
            return s

    def _wait_ready(self, s: _Served, model: str) -> None:
        end = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < end:
            if s.proc.poll() is not None:
                err = s.log.read_text(encoding="utf-8", errors="replace") if s.log else ""
                raise TunelabError(f"the {model} model's server stopped: {err.strip()[-500:]}")
            try:
                if httpx.get(s.base_url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        _stop(s)
        raise TunelabError(f"the {model} model's server did not start")

    def close(self) -> None:
        """Stop every model server."""
        with self._lock:
            for s in self._served.values():
                _stop(s)
            self._served.clear()

    async def stream(
        self, run_dir: Path, models: list[str], message: str, max_new_tokens: int
    ) -> AsyncIterator[dict[str, Any]]:
        """Events ``{"model", "delta"}``, ``{"model", "done", "finish_reason"}`` or ``{"model", "error"}``
        for two models answering one message, interleaved as the tokens come.

        Raises:
            InputError: not two different models of base/instruction/finetune, an empty or long message, a
                bad token budget, or a run without finished models.
        """
        if len(models) != 2 or len(set(models)) != 2 or any(m not in MODELS for m in models):
            raise InputError(f"pick two different models of {', '.join(MODELS)}", field="models")
        if not message.strip() or len(message) > MAX_MESSAGE_CHARS:
            raise InputError(f"a message is 1-{MAX_MESSAGE_CHARS} characters", field="message")
        if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
            raise InputError(f"max_new_tokens is 1-{MAX_NEW_TOKENS}", field="max_new_tokens")
        if not (run_dir / "compare.json").is_file():
            raise InputError("chat needs a finished comparison", field="run")
        served = [await asyncio.to_thread(self._start, run_dir, m) for m in models]
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        tasks = [asyncio.create_task(_one(m, s, message, max_new_tokens, q)) for m, s in zip(models, served)]
        open_ = len(tasks)
        try:
            while open_:
                ev = await q.get()
                if "delta" not in ev:
                    open_ -= 1
                yield ev
        finally:
            for t in tasks:
                t.cancel()


async def _one(model: str, s: _Served, message: str, max_new: int, q: asyncio.Queue[dict[str, Any]]) -> None:
    """Stream one model's answer into the queue (ends with a done or an error event)."""
    body: dict[str, Any] = {"model": model, "max_tokens": max_new, "temperature": 0, "stream": True}
    if s.prompt_format == "plain":
        path, body["prompt"] = "/v1/completions", message
    else:
        path, body["messages"] = "/v1/chat/completions", [{"role": "user", "content": message}]
    reason = None
    try:
        async with httpx.AsyncClient(timeout=120) as client:
            headers = {"Authorization": f"Bearer {s.key}"}
            async with client.stream("POST", s.base_url + path, json=body, headers=headers) as r:
                if r.status_code != 200:
                    msg = (await r.aread()).decode(errors="replace")
                    await q.put({"model": model, "error": f"HTTP {r.status_code}: {msg[:300]}"})
                    return
                async for line in r.aiter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    ch = json.loads(line[6:])["choices"][0]
                    delta = ch.get("text") if "text" in ch else (ch.get("delta") or {}).get("content")
                    if delta:
                        await q.put({"model": model, "delta": str(delta)})
                    reason = ch.get("finish_reason") or reason
    except httpx.HTTPError as e:
        await q.put({"model": model, "error": f"{type(e).__name__}: {e}"})
        return
    await q.put({"model": model, "done": True, "finish_reason": reason})


def _stop(s: _Served) -> None:
    if s.proc.poll() is None:
        try:
            os.killpg(s.proc.pid, signal.SIGTERM)
            s.proc.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            if s.proc.poll() is None:
                os.killpg(s.proc.pid, signal.SIGKILL)
                s.proc.wait(5)
