"""``tunelab serve``: an OpenAI-compatible HTTP server for a model (and optional LoRA adapter)."""

from __future__ import annotations

import click

from tunelab.cli._common import backend_option, handle_errors
from tunelab.serve import run_server, run_vllm_server

__all__ = ["serve"]


@click.command("serve")
@click.option("--model", "model_dir", required=True, help="Model folder, hub id, or tunelab-tiny.")
@click.option("--adapter", default=None, help="A peft LoRA adapter folder to merge into the model.")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Bind address (loopback unless you say otherwise)."
)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option(
    "--api-key",
    default=None,
    envvar="TUNELAB_API_KEY",
    help="Require 'Authorization: Bearer KEY' (env TUNELAB_API_KEY).",
)
@click.option(
    "--max-body-bytes",
    default=1_000_000,
    show_default=True,
    type=click.IntRange(1),
    help="Larger request bodies get 413.",
)
@click.option(
    "--max-tokens-limit",
    default=512,
    show_default=True,
    type=click.IntRange(1),
    help="Largest max_tokens accepted (also the default).",
)
@click.option(
    "--max-batch",
    default=32,
    show_default=True,
    type=click.IntRange(1),
    help="Most requests decoded together (new ones join between decode steps).",
)
@click.option(
    "--max-queue",
    default=64,
    show_default=True,
    type=click.IntRange(0),
    help="Most requests waiting for a place in the batch; more get 429 with Retry-After.",
)
@click.option(
    "--request-timeout",
    default=600.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    help="Seconds a request may take, waiting included; then 504.",
)
@click.option(
    "--header-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    help="Seconds a client has to send its request headers, and then its body; then 408.",
)
@click.option("--model-name", default=None, help="Model id listed by /v1/models (default: the folder name).")
@backend_option("tunelab's server, or vLLM's own (CUDA GPU; tunelab's chat template, LoRA through vLLM).")
@click.option(
    "--dtype",
    default="float32",
    show_default=True,
    type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
)
@click.option(
    "--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda", "mps"])
)
@handle_errors
def serve(
    model_dir: str,
    adapter: str | None,
    host: str,
    port: int,
    api_key: str | None,
    max_body_bytes: int,
    max_tokens_limit: int,
    max_batch: int,
    max_queue: int,
    request_timeout: float,
    header_timeout: float,
    model_name: str | None,
    backend_name: str,
    dtype: str,
    device: str,
) -> None:
    """Serve MODEL with OpenAI-compatible /v1/models, /v1/chat/completions and /v1/completions.

    Chat requests are rendered with the model's chat template. Requests are batched continuously:
    a new request joins the running batch between two decode steps and a finished one leaves it.
    Streaming (stream=true) sends server-sent events token by token. GET /metrics serves
    Prometheus metrics. SIGINT/SIGTERM stop accepting, finish in-flight requests, then exit 0.
    """
    if backend_name == "vllm":  # vLLM's server; the size limits above are tunelab's server's own
        run_vllm_server(model_dir, adapter, host, port, api_key, model_name)
        return
    run_server(
        model_dir,
        adapter=adapter,
        host=host,
        port=port,
        dtype=dtype,
        device=device,
        api_key=api_key,
        max_body_bytes=max_body_bytes,
        max_tokens_limit=max_tokens_limit,
        max_batch=max_batch,
        max_queue=max_queue,
        request_timeout_s=request_timeout,
        header_timeout_s=header_timeout,
        model_name=model_name,
    )
