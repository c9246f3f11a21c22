"""create_app(): settings, lifespan (registry and session cache), routers, static files, errors."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import __version__
from app.config import STATIC_DIR, Settings
from app.i18n import LanguageMiddleware
from app.metrics import Metrics, RequestMetrics
from app.serving import providers
from app.serving.service import Service
from app.web import docs, errors
from app.web.compress import PageGZip
from app.web.csp import SecurityHeaders
from app.web.limits import BodyLimit, HeadAsGet
from app.web.routes import api, downloads, explain, health, lessons, pages, units, ws
from app.weights.pretrained import Pretrained

DESCRIPTION = """See how a convolutional network works, layer by layer: LeNet-5, AlexNet, six VGG
configurations and ResNet, on your own input. Every error is JSON of one shape:
`{"error": {"status", "code", "message"}}`."""


class ReplicaHeader:
    """Pure ASGI: every HTTP response says which process (or Ray Serve replica) served it."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def tagged(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                msg["headers"] = [*msg.get("headers", []), (b"x-convscope-replica", self.state.replica.encode())]
            await send(msg)

        await self.app(scope, receive, tagged)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    providers.chosen(settings.provider)  # CONVSCOPE_PROVIDER=cuda without CUDA: refuse to start, saying why
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service(settings, metrics)
        app.state.service = service
        await service.start()
        try:
            yield
        finally:
            service.close()

    app = FastAPI(title="convscope", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # served offline by app.web.docs
    errors.install(app)
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(units.router)
    app.include_router(lessons.router)
    app.include_router(explain.router)
    app.include_router(downloads.router)
    app.include_router(pages.router)
    app.include_router(ws.router)
    docs.install(app)  # /docs with its assets from the app itself
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.state.metrics = metrics
    app.state.pretrained = Pretrained(settings, on_imported=lambda name: app.state.service.imported(name))
    app.state.replica = f"{socket.gethostname()}:{os.getpid()}"  # Ray Serve replicas name themselves
    app.add_middleware(PageGZip)  # pages and /static gzipped for browsers that ask; the API's JSON is not
    app.add_middleware(HeadAsGet)  # metrics still count HEAD as HEAD
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s,
                       on_reject=lambda: metrics.rejected.labels("too_large").inc())
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_middleware(LanguageMiddleware)  # ?lang=, cookie, Accept-Language -> Content-Language
    app.add_middleware(SecurityHeaders)  # Content-Security-Policy on every response
    app.add_middleware(ReplicaHeader, state=app.state)  # outermost: even a 413 says who answered
    logging.getLogger("convscope").setLevel(logging.INFO)
    return app
