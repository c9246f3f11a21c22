"""Content-Security-Policy (and friends) on every response: scripts only from the app itself, no inline
script, no eval; a second wall behind the pages' rule that server strings reach the DOM as text."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# style-src allows inline styles: Swagger UI sets style attributes and injects <style>; styles
# cannot run script. img-src allows data: (the network's input comes back as a data URL) and blob:.
POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

HEADERS = [
    (b"content-security-policy", POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """Pure ASGI: adds the policy to every HTTP response (pages, API, static files, docs, errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                have = {k.lower() for k, _ in msg.get("headers", [])}
                msg["headers"] = [*msg.get("headers", []), *[(k, v) for k, v in HEADERS if k not in have]]
            await send(msg)

        await self.app(scope, receive, with_headers)
