"""tunelab.serve: an OpenAI-compatible HTTP server for a (tuned) causal LM.

- :func:`create_app` builds the FastAPI app around a loaded model (``/v1/models``,
  ``/v1/chat/completions``, ``/v1/completions``; SSE streaming; continuous batching with a bounded
  queue; Prometheus ``/metrics``).
- :func:`run_server` serves from the command line until SIGINT/SIGTERM (``tunelab serve``);
  :func:`run_vllm_server` hands over to vLLM's own server instead (``tunelab serve --backend vllm``).
- :func:`start_background_server` runs a real server on a free loopback port in a thread and
  returns a handle with ``base_url``, ``model_name`` and ``stop()``: the way other tunelab parts
  and tests talk to a local model through the ``openai`` client.

Importing this package does not import torch, FastAPI or uvicorn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunelab.serve._app import context_length, create_app
    from tunelab.serve._engine import GenerationEngine, GenerationRequest
    from tunelab.serve._server import (
        BackgroundServer,
        build_app,
        load_for_serving,
        run_server,
        start_background_server,
    )
    from tunelab.serve._vllm import run_vllm_server

__all__ = [
    "create_app",
    "context_length",
    "GenerationEngine",
    "GenerationRequest",
    "BackgroundServer",
    "build_app",
    "load_for_serving",
    "run_server",
    "run_vllm_server",
    "start_background_server",
]

_WHERE = {
    "create_app": "_app",
    "context_length": "_app",
    "GenerationEngine": "_engine",
    "GenerationRequest": "_engine",
    "BackgroundServer": "_server",
    "build_app": "_server",
    "load_for_serving": "_server",
    "run_server": "_server",
    "run_vllm_server": "_vllm",
    "start_background_server": "_server",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"tunelab.serve.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'tunelab.serve' has no attribute {name!r}")
