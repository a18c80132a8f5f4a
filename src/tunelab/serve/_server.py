"""Running the app: :func:`run_server` (the CLI, blocking, signal-aware) and
:func:`start_background_server` (a real uvicorn server on loopback in a thread, for other tunelab
parts and tests that talk to a model over HTTP).

Graceful shutdown: uvicorn handles SIGINT/SIGTERM by closing the listening socket, waiting for
in-flight requests (streams included) to complete, then running the app's lifespan shutdown,
which drains the generation engine. The per-request timeout bounds that wait.

Slow clients: the request headers must arrive within ``header_timeout_s`` of connecting (or of the
previous response on a kept-alive connection), and the body within as long again; otherwise 408 and
the connection is closed (see ``_limits.header_timeout_protocol``).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab._net import bind_socket, is_loopback
from tunelab.errors import InputError, TunelabError
from tunelab.models import load_for_inference
from tunelab.serve._limits import header_timeout_protocol

if TYPE_CHECKING:
    from fastapi import FastAPI
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["load_for_serving", "build_app", "run_server", "start_background_server", "BackgroundServer"]

log = logging.getLogger("tunelab.serve")


def load_for_serving(
    model_dir: str, adapter: str | None = None, dtype: str = "float32", device: str = "auto"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a model (optionally with a peft LoRA adapter merged in) and its tokenizer: exactly
    :func:`tunelab.models.load_for_inference`, the loader the CLI, the comparison and the evaluator use.

    Raises:
        InputError: missing folders or an adapter folder without ``adapter_config.json``.
    """
    return load_for_inference(model_dir, adapter, dtype=dtype, device=device)


def build_app(
    model_dir: str, adapter: str | None = None, dtype: str = "float32", device: str = "auto", **kwargs: Any
) -> FastAPI:
    """Load a model and build its app. ``kwargs`` go to :func:`tunelab.serve.create_app`.

    The served model id defaults to the folder name (``tunelab-tiny`` for the embedded model);
    the ``model`` argument as given is accepted too.
    """
    from tunelab.serve._app import create_app

    model, tok = load_for_serving(model_dir, adapter, dtype, device)
    name = kwargs.pop("model_name", None) or Path(model_dir.rstrip("/")).name or model_dir
    aliases = set(kwargs.pop("aliases", set())) | {model_dir}
    return create_app(model, tok, model_name=name, aliases=aliases, **kwargs)


def run_server(
    model_dir: str,
    adapter: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    dtype: str = "float32",
    device: str = "auto",
    log_level: str = "info",
    header_timeout_s: float = 10.0,
    **kwargs: Any,
) -> None:
    """Serve until SIGINT/SIGTERM, then finish in-flight requests and return.

    Args:
        model_dir: model folder, hub id or ``tunelab-tiny``.
        adapter: optional peft adapter folder.
        host: bind address (loopback unless told otherwise).
        port: TCP port.
        dtype: model dtype.
        device: model device.
        log_level: uvicorn's log level.
        header_timeout_s: seconds a client has to send a request's headers, and then its body.
        **kwargs: passed to :func:`tunelab.serve.create_app` (``api_key``, ``max_body_bytes``, ...).

    Raises:
        TunelabError: the port cannot be bound.
    """
    import uvicorn

    if not is_loopback(host) and not kwargs.get("api_key"):
        log.warning(
            "serving on %s without an API key: anyone who can reach this address can use the model", host
        )
    app = build_app(model_dir, adapter, dtype, device, body_timeout_s=header_timeout_s, **kwargs)
    sock = bind_socket(host, port)
    server = uvicorn.Server(_config(app, header_timeout_s, log_level))
    # uvicorn re-raises the captured SIGINT/SIGTERM after its graceful shutdown, restoring the
    # handlers that were installed before it; with these no-op ones a served-then-stopped
    # process exits 0 instead of dying by the signal.
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _config(app: FastAPI, header_timeout_s: float, log_level: str) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="on",
        http=header_timeout_protocol(header_timeout_s),
        timeout_graceful_shutdown=None,  # in-flight requests finish (bounded by their timeout)
    )


class BackgroundServer:
    """A uvicorn server running in a daemon thread; see :func:`start_background_server`.

    Attributes:
        base_url: ``http://HOST:PORT/v1``, what an OpenAI client takes as ``base_url``.
        model_name: the served model id.
        app: the FastAPI app (``app.state.engine`` is the batching engine).
    """

    def __init__(self, app: FastAPI, host: str, port: int, header_timeout_s: float = 10.0) -> None:
        import uvicorn

        self.app = app
        self._sock = bind_socket(host, port)
        self.host, self.port = host, int(self._sock.getsockname()[1])
        self.base_url = f"http://{host}:{self.port}/v1"
        self.model_name = str(app.state.model_name)
        self._server = uvicorn.Server(_config(app, header_timeout_s, "warning"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="tunelab-serve", daemon=True
        )
        self._thread.start()
        done = threading.Event()
        while not self._server.started and self._thread.is_alive() and not done.wait(0.02):
            pass
        if not self._server.started:
            self.stop()
            raise TunelabError(f"the background server did not start on {host}:{self.port}")

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop accepting, let in-flight requests finish, shut the engine down, join the thread."""
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_background_server(
    model_dir: str | None = None,
    adapter: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    app: FastAPI | None = None,
    header_timeout_s: float = 10.0,
    **kwargs: Any,
) -> BackgroundServer:
    """Start a real uvicorn server in a background thread (port 0: a free port is picked).

    Use it where a tunelab part (LLM judge, synthetic generation) or a test needs an
    OpenAI-compatible endpoint for a local model::

        with start_background_server("tunelab-tiny", api_key="k") as srv:
            client = openai.OpenAI(base_url=srv.base_url, api_key="k")
            client.chat.completions.create(model=srv.model_name, messages=[...], temperature=0)

    Args:
        model_dir: model folder, hub id or ``tunelab-tiny`` (ignored when ``app`` is given).
        adapter: optional peft adapter folder.
        host: bind address; loopback by default.
        port: 0 for a free port.
        app: an app already built with :func:`tunelab.serve.create_app` (skips loading).
        header_timeout_s: seconds a client has to send a request's headers, and then its body.
        **kwargs: ``dtype``, ``device`` and the :func:`tunelab.serve.create_app` options.

    Returns:
        A :class:`BackgroundServer` with ``base_url``, ``port``, ``model_name`` and ``stop()``
        (also a context manager).

    Raises:
        InputError: neither ``model_dir`` nor ``app`` given, or a bad model folder.
        TunelabError: the server did not start.
    """
    if app is None:
        if model_dir is None:
            raise InputError("start_background_server needs model_dir or app", field="model_dir")
        app = build_app(model_dir, adapter, body_timeout_s=header_timeout_s, **kwargs)
    return BackgroundServer(app, host, port, header_timeout_s)
