"""gzip for what a browser loads -- the pages and /static -- and nothing else.

ResNet-152's explorer is ~0.95 MB of HTML (~0.1 MB gzipped). The API's JSON is left as it is:
scripts and notebooks mostly run on the same machine, its maps are megabytes of base64 that
compress to ~3/4 at a real CPU cost per answer, and the live pad talks over a WebSocket anyway."""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

NOT_COMPRESSED = ("/api/", "/predict", "/ws/", "/metrics", "/healthz", "/readyz")


class PageGZip:
    def __init__(self, app: ASGIApp, minimum_size: int = 1024, level: int = 6) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=level)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(NOT_COMPRESSED):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)
