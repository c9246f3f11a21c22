"""gzip for what a browser loads -- the pages and /static -- and nothing else.

ResNet-152's explorer is ~0.95 MB of HTML (41 KB gzipped). The API's JSON is left as it is:
scripts and notebooks mostly run on the same machine, its maps are megabytes of base64 that
compress to ~3/4 at a real CPU cost per answer, and the live pad talks over a WebSocket anyway.

A gzipped copy is another representation of the file: its ETag gains "-gzip" (and a conditional
request carrying that tag is matched against the file's own), it offers no byte ranges (a range
of the plain file spliced into a gzipped copy would be garbage), and every answer here, a 304
too, says it varies with Accept-Encoding."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOT_COMPRESSED = ("/api/", "/predict", "/ws/", "/metrics", "/healthz", "/readyz")
SUFFIX = "-gzip"


def gzip_etag(etag: str) -> str:
    """'"abc"' -> '"abc-gzip"', 'W/"abc"' -> 'W/"abc-gzip"'."""
    return etag[:-1] + SUFFIX + '"' if etag.endswith('"') else etag + SUFFIX


class PageGZip:
    def __init__(self, app: ASGIApp, minimum_size: int = 1024, level: int = 6) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=level)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(NOT_COMPRESSED):
            await self.app(scope, receive, send)
            return
        # If-None-Match "abc-gzip" is the file's "abc" (If-Range is left: a gzipped copy takes no ranges)
        scope = {**scope, "headers": [(k, v.replace(SUFFIX.encode() + b'"', b'"') if k.lower() == b"if-none-match"
                                       else v) for k, v in scope.get("headers", [])]}

        async def send_marked(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                headers = MutableHeaders(scope=msg)
                if headers.get("content-encoding") == "gzip":
                    if "etag" in headers:
                        headers["etag"] = gzip_etag(headers["etag"])
                    if "accept-ranges" in headers:
                        del headers["accept-ranges"]
                if "accept-encoding" not in headers.get("vary", "").lower():
                    headers.add_vary_header("Accept-Encoding")
            await send(msg)

        await (self.gzip if takes_gzip(scope) else self.app)(scope, receive, send_marked)


def takes_gzip(scope: Scope) -> bool:
    """Whether Accept-Encoding accepts gzip: named (any case) without q=0 (Starlette only looks for the word)."""
    for k, v in scope.get("headers", []):
        if k.lower() == b"accept-encoding":
            for part in v.decode("latin-1").lower().split(","):
                coding, _, params = part.strip().partition(";")
                if coding.strip() in ("gzip", "x-gzip", "*"):
                    q = params.strip().removeprefix("q=").strip() if params.strip().startswith("q=") else "1"
                    try:
                        return float(q) > 0  # NaN is not > 0
                    except ValueError:
                        return False
    return False
