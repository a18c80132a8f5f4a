"""Bounds on what a client can make the server hold: body size, time to send headers and body, JSON depth.

- :class:`BodySizeLimit` (ASGI middleware) refuses bodies larger than a limit with 413, checked from
  ``Content-Length`` before anything is read and again while reading (chunked uploads or a lying
  header), and answers 408 when the body does not arrive within the read timeout.
- :func:`header_timeout_protocol` gives uvicorn an h11 protocol that closes, with 408, a connection
  whose request headers are not complete within the timeout. uvicorn has no such limit of its own:
  its keep-alive timer is reset by every byte received, so a client that sends one header byte a
  second (slowloris) holds a connection forever.
- :func:`json_depth` measures nesting without recursion, so the app can refuse a deeply nested body
  with 400 before validation walks it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["BodySizeLimit", "header_timeout_protocol", "json_depth"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _error_json(message: str, code: str) -> bytes:
    err = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return json.dumps({"error": err}).encode()


async def _send_error(send: Send, status: int, message: str, code: str) -> None:
    body = _error_json(message, code)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    """Wrap an ASGI app so that HTTP bodies above ``max_body_bytes`` get 413, and bodies slower than
    ``read_timeout_s`` (in all) get 408. The body is read here and replayed to the app."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, read_timeout_s: float | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        too_large = f"request body is larger than the server's limit of {limit} bytes"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit:
                    await _send_error(send, 413, too_large, "request_too_large")
                    return
        loop = asyncio.get_running_loop()
        deadline = None if self.read_timeout_s is None else loop.time() + self.read_timeout_s
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                left = None if deadline is None else max(0.0, deadline - loop.time())
                msg = await asyncio.wait_for(receive(), left)
            except asyncio.TimeoutError:
                slow = f"the request body did not arrive within {self.read_timeout_s:g} s"
                await _send_error(send, 408, slow, "request_timeout")
                return
            if msg["type"] == "http.disconnect":
                return
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _send_error(send, 413, too_large, "request_too_large")
                return
            chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class _HeaderTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol with a timer from the start of each request (connection made, or the
    previous response done) to its complete headers."""

    header_timeout_s: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return  # closed already, or the headers arrived and a request is being answered
        body = _error_json(
            f"the request headers did not arrive within {self.header_timeout_s:g} s", "request_timeout"
        )
        head = (
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        )
        self.transport.write(head + body)
        self.conn.send(h11.ConnectionClosed())
        self.transport.close()


def header_timeout_protocol(timeout_s: float) -> type[asyncio.Protocol]:
    """An h11 protocol class for ``uvicorn.Config(http=...)`` that cuts slow request headers.

    Args:
        timeout_s: seconds a client has, from connecting (or from its previous response), to send a
            request's complete headers; then it gets 408 and the connection is closed.
    """
    return type("HeaderTimeoutH11", (_HeaderTimeoutH11,), {"header_timeout_s": float(timeout_s)})


def json_depth(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0, ``[]`` is 1), measured without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
            deepest = max(deepest, d + 1)
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
            deepest = max(deepest, d + 1)
    return deepest
