"""Serving the UI: a fresh random token, the URL that carries it printed at start (as Jupyter does), a
warning when the address is not loopback, and uvicorn until SIGINT/SIGTERM (running comparisons are
cancelled on the way out)."""

from __future__ import annotations

import secrets
import signal
import sys
from pathlib import Path

from tunelab._net import bind_socket, is_loopback

__all__ = ["run_ui", "is_loopback", "ui_url"]


def ui_url(host: str, port: int, token: str) -> str:
    """The URL to open: ``http://HOST:PORT/?token=TOKEN``."""
    h = f"[{host}]" if ":" in host else host
    return f"http://{h}:{port}/?token={token}"


def run_ui(runs_dir: str | Path, host: str = "127.0.0.1", port: int = 8765, token: str | None = None) -> None:
    """Serve the UI for ``runs_dir`` until interrupted.

    Args:
        runs_dir: where runs are listed and launched (created when missing).
        host: bind address; loopback unless told otherwise (a warning is printed otherwise).
        port: TCP port; 0 picks a free one (the printed URL has the real one).
        token: the access token; a fresh random one when omitted.

    Raises:
        TunelabError: the port cannot be bound.
    """
    import uvicorn

    from tunelab.ui._app import create_ui_app

    token = token or secrets.token_urlsafe(24)
    sock = bind_socket(host, port, backlog=64)
    port = int(sock.getsockname()[1])
    names = {host, "127.0.0.1", "localhost"} if is_loopback(host) else {host}
    origins = {f"http://{'[' + h + ']' if ':' in h else h}:{port}" for h in names}
    app = create_ui_app(Path(runs_dir), token, origins)
    if not is_loopback(host):
        print(
            f"warning: tunelab ui listens on {host}: anyone who can reach this address and learns the URL can "
            "launch jobs and read every run under the runs folder",
            file=sys.stderr,
            flush=True,
        )
    print(f"tunelab ui: runs folder {Path(runs_dir).resolve()}", flush=True)
    print(f"open this URL (it carries the access token):\n    {ui_url(host, port, token)}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))

    def stop(*_: object) -> None:
        # a signal before uvicorn installs its own handlers stops the server as soon as it runs; uvicorn
        # re-raises the signal it caught after its graceful shutdown, which lands here and exits 0
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
