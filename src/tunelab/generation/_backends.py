"""Generation backends: a local transformers model, any OpenAI-compatible endpoint, vLLM when installed.

Every backend takes prompts as either a list of chat turns (rendered by the chat template, on the server
for an endpoint) or a plain string (sent as is: the fixed fine-tuning format), and returns one
:class:`~tunelab.generation._generate.Generation` per prompt in the order given.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, Union

from tunelab.errors import InputError, TunelabError
from tunelab.generation._generate import Decoding, Generation, generate, render_prompt, trim_at_stop
from tunelab.generation._vllm import VLLMBackend
from tunelab.models import load_for_inference

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["Backend", "Prompt", "TransformersBackend", "OpenAIBackend", "VLLMBackend", "make_backend"]

log = logging.getLogger("tunelab")

#: chat turns, or a plain prompt string
Prompt = Union[Sequence[dict[str, str]], str]  # noqa: UP007 - a runtime alias, valid on 3.10


class Backend(Protocol):
    """What the runner and the judge need from a generator."""

    def generate(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[Generation]:
        """One generation per prompt, in order."""
        ...

    def describe(self) -> dict[str, Any]:
        """What to record beside scores (backend kind, model, settings)."""
        ...


class TransformersBackend:
    """A local Hugging Face model, batched (see :func:`tunelab.generation._generate.generate`).

    Args:
        model: a causal LM.
        tokenizer: its tokenizer (chat template and pad token set).
        batch_size: rows per batch, or ``None`` for automatic (halves on out-of-memory).
        model_path: what to record as the model.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        batch_size: int | None = None,
        model_path: str | None = None,
    ) -> None:
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.model_path = model_path or str(getattr(model, "name_or_path", ""))

    def generate(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[Generation]:
        chat = [i for i, p in enumerate(prompts) if not isinstance(p, str)]
        plain = [i for i, p in enumerate(prompts) if isinstance(p, str)]
        out: list[Generation | None] = [None] * len(prompts)
        for idx, special in ((chat, False), (plain, True)):
            if not idx:
                continue
            texts: list[str] = []
            for i in idx:
                p = prompts[i]
                texts.append(p if isinstance(p, str) else render_prompt(p, self.tokenizer, "chat"))
            gens = generate(
                self.model, self.tokenizer, texts, decoding, self.batch_size, add_special_tokens=special
            )
            for i, g in zip(idx, gens):
                out[i] = g
        return [g for g in out if g is not None]

    def describe(self) -> dict[str, Any]:
        return {"backend": "transformers", "model": self.model_path, "batch_size": self.batch_size or "auto"}


class OpenAIBackend:
    """Any OpenAI-compatible server (``/v1/chat/completions`` for chat turns, ``/v1/completions`` for text).

    Requests run concurrently on a thread pool; each is retried with exponential backoff on connection
    errors, timeouts, 429 and 5xx answers. Other 4xx answers fail at once (they will not get better).
    Stop strings are sent to the server and also applied here, in case it ignores them.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000/v1``.
        model: the model id the server expects.
        api_key: sent as ``Authorization: Bearer``.
        concurrency: requests in flight.
        max_retries: retries per request after the first try.
        timeout_s: per-request timeout.
        backoff_s: first retry delay (doubles each retry).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        concurrency: int = 8,
        max_retries: int = 3,
        timeout_s: float = 120.0,
        backoff_s: float = 0.5,
    ) -> None:
        if concurrency < 1 or max_retries < 0 or timeout_s <= 0:
            raise InputError("need concurrency >= 1, max_retries >= 0, timeout_s > 0", field="backend")
        self.base_url = base_url.rstrip("/")
        self.model, self.api_key = model, api_key
        self.concurrency, self.max_retries = concurrency, max_retries
        self.timeout_s, self.backoff_s = timeout_s, backoff_s

    def _post(self, client: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        last: str = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                r = client.post(f"{self.base_url}{path}", json=body, headers=headers)
            except (httpx.TransportError, httpx.TimeoutException) as e:
                last = f"{type(e).__name__}: {e}"
                continue
            if r.status_code == 429 or r.status_code >= 500:
                last = f"HTTP {r.status_code}: {r.text[:200]}"
                continue
            if r.status_code >= 400:
                raise TunelabError(
                    f"{self.base_url}{path} refused the request: HTTP {r.status_code}: {r.text[:300]}"
                )
            data: dict[str, Any] = r.json()
            return data
        raise TunelabError(f"{self.base_url}{path} failed after {self.max_retries + 1} tries: {last}")

    def _one(self, client: Any, prompt: Prompt, decoding: Decoding) -> Generation:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": decoding.max_new_tokens,
            "temperature": decoding.temperature,
            "top_p": decoding.top_p,
        }
        if decoding.stop:
            body["stop"] = list(decoding.stop)
        if not decoding.greedy:
            body["seed"] = decoding.seed
        if isinstance(prompt, str):
            data = self._post(client, "/completions", {**body, "prompt": prompt})
            choice = data["choices"][0]
            text = choice.get("text") or ""
        else:
            data = self._post(client, "/chat/completions", {**body, "messages": list(prompt)})
            choice = data["choices"][0]
            text = (choice.get("message") or {}).get("content") or ""
        text, stopped = trim_at_stop(text, decoding.stop)
        reason = "stop" if stopped or choice.get("finish_reason") == "stop" else "length"
        usage = data.get("usage") or {}
        return Generation(
            text=text, n_prompt_tokens=int(usage.get("prompt_tokens") or 0), finish_reason=reason
        )

    def generate(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[Generation]:
        import httpx

        with httpx.Client(timeout=self.timeout_s) as client, ThreadPoolExecutor(self.concurrency) as pool:
            futures = [pool.submit(self._one, client, p, decoding) for p in prompts]
            return [f.result() for f in futures]

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "openai",
            "base_url": self.base_url,
            "model": self.model,
            "concurrency": self.concurrency,
            "max_retries": self.max_retries,
        }


def make_backend(
    model: str | None = None,
    base_url: str | None = None,
    model_name: str | None = None,
    api_key: str | None = None,
    batch_size: int | None = None,
    concurrency: int = 8,
    timeout_s: float = 120.0,
    engine: str = "transformers",
    device: str = "auto",
    dtype: str = "float32",
) -> Backend:
    """Build the generator: a local model (``model``) or an OpenAI-compatible server (``base_url``).

    Args:
        model: model folder, hub id or ``tunelab-tiny`` (local generation).
        base_url: ``http://HOST:PORT/v1`` of an OpenAI-compatible server.
        model_name: the model id the server expects (required with ``base_url``).
        api_key: bearer token for the server.
        batch_size: rows per local batch (``None``: automatic).
        concurrency: requests in flight to the server.
        timeout_s: per-request timeout for the server.
        engine: ``transformers`` or ``vllm`` for a local model.
        device: local device (``auto``, ``cpu``, ``cuda``...).
        dtype: local weights dtype.

    Returns:
        A backend with ``generate(prompts, decoding)`` and ``describe()``.

    Raises:
        InputError: neither or both of ``model`` and ``base_url``, or ``base_url`` without ``model_name``.
    """
    if (model is None) == (base_url is None):
        raise InputError("give exactly one of --model (local) or --base-url (server)", field="model")
    if base_url is not None:
        if not model_name:
            raise InputError(
                "--base-url needs --model-name (the model id the server expects)", field="model_name"
            )
        return OpenAIBackend(
            base_url, model_name, api_key=api_key, concurrency=concurrency, timeout_s=timeout_s
        )
    assert model is not None
    if engine == "vllm":
        return VLLMBackend(model)
    if engine != "transformers":
        raise InputError(f"unknown engine {engine!r} (transformers, vllm)", field="engine")
    m, tok = load_for_inference(model, dtype=dtype, device=device)
    return TransformersBackend(m, tok, batch_size, model)
