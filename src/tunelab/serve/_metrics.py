"""``/metrics``: the server's state in the Prometheus text format (``prometheus_client``).

Exposed (each app has its own registry, so several servers in one process do not mix):

- ``tunelab_queue_length``: requests waiting to join the running batch;
- ``tunelab_running_requests``: requests in the running batch (the batch size of the next step);
- ``tunelab_generated_tokens_total`` and ``tunelab_generation_tokens_per_second`` (the last 10 s);
- ``tunelab_request_duration_seconds``: a histogram of the time from a request's arrival to its last
  byte (streams included), labelled by endpoint;
- ``tunelab_requests_total``: answered requests by endpoint and status code (429s included).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tunelab.serve._engine import GenerationEngine
from tunelab.serve._limits import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ServerMetrics", "MetricsMiddleware", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: latency buckets (seconds): from a few cached tokens to a long answer on a CPU
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

_ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/models")


class _EngineCollector:
    """Reads the engine's counters at scrape time (the engine itself knows nothing of Prometheus)."""

    def __init__(self, engine: GenerationEngine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        e = self.engine
        yield GaugeMetricFamily(
            "tunelab_queue_length", "Requests waiting to join the running batch.", value=e.queue_length
        )
        yield GaugeMetricFamily("tunelab_running_requests", "Requests in the running batch.", value=e.running)
        yield GaugeMetricFamily(
            "tunelab_generation_tokens_per_second",
            "Generated tokens per second over the last 10 s.",
            value=e.tokens_per_s(),
        )
        yield CounterMetricFamily(
            "tunelab_generated_tokens", "Tokens generated since start.", value=e.tokens_generated
        )


class ServerMetrics:
    """The registry behind one app's ``/metrics``."""

    def __init__(self, engine: GenerationEngine) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_EngineCollector(engine))  # type: ignore[arg-type]
        self.latency = Histogram(
            "tunelab_request_duration_seconds",
            "Time from a request's arrival to its last byte.",
            ["endpoint"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "tunelab_requests",
            "Answered requests by endpoint and status code.",
            ["endpoint", "code"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition of every metric."""
        return bytes(generate_latest(self.registry))


class MetricsMiddleware:
    """Times the ``/v1`` endpoints from arrival to the response's last body chunk."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path not in _ENDPOINTS:
            await self.app(scope, receive, send)
            return
        start = time.monotonic()
        status = [500]

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.metrics.latency.labels(path).observe(time.monotonic() - start)
                self.metrics.requests.labels(path, str(status[0])).inc()

        await self.app(scope, receive, timed_send)
