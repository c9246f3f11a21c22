"""Prometheus metrics: requests by route and status, inference latency per model, rejections,
loaded models and the session cache, process memory. One registry per app (tests make many)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes and friends
        self.requests = Counter("convscope_requests_total", "HTTP requests by route template and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("convscope_inference_seconds", "Inference time (session.run) per model",
                                 ["model"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.rejected = Counter("convscope_rejected_total", "Requests refused before or during inference",
                                ["reason"], registry=self.registry)
        self.loaded = Gauge("convscope_models_loaded", "onnxruntime sessions held in the cache",
                            registry=self.registry)
        self.cache_bytes = Gauge("convscope_session_cache_bytes", "Estimated memory held by cached sessions",
                                 registry=self.registry)
        self.queue = Gauge("convscope_inference_waiting", "Inferences waiting for a slot", registry=self.registry)


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


class RequestMetrics:
    """ASGI middleware counting every response by method, route template (not raw path) and status.
    Every label comes from a fixed set (an unknown method is "other", an unmatched path "other"),
    so no client can add series."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def capture(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
            await send(msg)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or ("/static" if scope["path"].startswith("/static/") else "other")
            method = scope["method"] if scope["method"] in METHODS else "other"
            code = str(status) if 100 <= status <= 599 else "other"
            self.metrics.requests.labels(method, path, code).inc()
