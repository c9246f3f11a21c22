"""ASGI middleware guarding the server: request bodies over the limit refused (413) before they are
read, also chunked ones without Content-Length; HEAD answered wherever GET is."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import error_body
from app.i18n import error_message


class BodyTooLarge(Exception):
    pass


class BodyTimeout(Exception):
    pass


class BodyLimit:
    """413 past ``max_bytes``; 408 when the whole body has not arrived ``timeout_s`` after the request began."""

    def __init__(self, app: ASGIApp, max_bytes: int, on_reject: Callable[[], None] | None = None,
                 timeout_s: float = 30.0) -> None:
        self.app, self.max_bytes, self.on_reject, self.timeout_s = app, max_bytes, on_reject, timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        cl = headers.get(b"content-length")
        if cl is not None:
            try:
                n = int(cl)
                if n < 0:
                    raise ValueError
            except ValueError:
                await self._reply(send, 400, "bad_request", "the Content-Length header is not a valid length")
                return
            if n > self.max_bytes:
                await self._reject(send, self._msg(n))
                return
        seen = 0
        started = False
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        done = False

        async def limited() -> Message:
            nonlocal seen, done
            if done:  # the body is in: later receives wait for a disconnect, with no deadline
                return await receive()
            try:
                msg = await asyncio.wait_for(receive(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except (TimeoutError, asyncio.TimeoutError):  # two classes on Python 3.10, one from 3.11
                raise BodyTimeout from None
            done = msg["type"] != "http.request" or not msg.get("more_body", False)
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return msg

        async def tracking_send(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send, self._msg(seen))
        except BodyTimeout:
            if not started:
                await self._reply(send, 408, "body_timeout", f"the request body did not arrive within "
                                  f"{self.timeout_s:g} s ({seen:,} bytes came); send it at once")

    async def _reject(self, send: Send, message: str) -> None:
        if self.on_reject:
            self.on_reject()
        await self._reply(send, 413, "too_large", message)

    def _msg(self, n: int) -> str:
        return f"the request body is {n:,}+ bytes; the limit is {self.max_bytes:,}"

    @staticmethod
    async def _reply(send: Send, status: int, code: str, message: str) -> None:
        body = json.dumps(error_body(status, code, error_message(code, message)), ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class HeadAsGet:
    """HEAD is answered wherever GET is: the GET route runs, its headers are sent, its body is not."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def no_body(msg: Message) -> None:
            if msg["type"] == "http.response.body":
                msg = {**msg, "body": b""}
            await send(msg)

        await self.app({**scope, "method": "GET"}, receive, no_body)
