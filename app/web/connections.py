"""Slow and idle clients: uvicorn's HTTP protocol with a header deadline (a connection must send
a request's headers within CONVSCOPE_HEADER_TIMEOUT_S of opening, or of its previous response)
and a cap on open connections (beyond CONVSCOPE_MAX_CONNECTIONS a new one gets an immediate 503
and is closed). The body deadline is app.web.limits.BodyLimit's."""

from __future__ import annotations

import asyncio
import json
import resource
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from app.errors import error_body

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # httptools is optional; h11 always comes with uvicorn
    _Base = H11Protocol  # type: ignore[assignment,misc]


def _reply(status: int, code: str, message: str) -> bytes:
    body = json.dumps(error_body(status, code, message)).encode()
    reason = {503: "Service Unavailable", 408: "Request Timeout", 431: "Request Header Fields Too Large"}[status]
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"connection: close\r\nretry-after: 1\r\n\r\n").encode() + body


def connection_cap(wanted: int) -> int:
    """The connection cap: as asked, but always below the process's descriptor limit (with room for
    model files, sockets of the server itself and the logs), so the server never stops accepting."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(8, min(wanted, soft - 64)) if soft > 0 else wanted


# A request's head (request line and headers) may be this long; the bytes counted until the head is
# complete include the first read of the body (asyncio reads up to 256 KiB at once), hence 1 MiB.
MAX_HEAD_BYTES = 1 << 20


def protocol(header_timeout_s: float, max_connections: int) -> type:
    """The uvicorn `http=` protocol class with these limits."""
    full = _reply(503, "too_many_connections", f"the server holds its maximum of {max_connections} open "
                  "connections; retry in a second")
    too_long = _reply(431, "headers_too_large", f"the request's headers are over {MAX_HEAD_BYTES:,} bytes")

    class Guarded(_Base):  # type: ignore[misc,valid-type]
        _deadline: asyncio.TimerHandle | None = None
        _head = 0  # bytes of the request head read so far (httptools keeps every header; nothing bounded it)

        def data_received(self, data: bytes) -> None:
            if self.cycle is None or self.cycle.response_complete:  # between requests: a head is arriving
                self._head += len(data)
                if self._head > MAX_HEAD_BYTES:
                    self.transport.write(too_long)
                    self.transport.close()
                    return
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete:
                self._head = 0  # the head is complete: a body, however long, is BodyLimit's

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            if len(self.server_state.connections) >= max_connections:
                transport.write(full)
                transport.close()
                self.transport = transport
                return
            super().connection_made(transport)
            self._arm()

        def _arm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(header_timeout_s, self._expire)

        def _expire(self) -> None:
            self._deadline = None
            if self.transport.get_protocol() is not self:  # upgraded: a WebSocket's own protocol has it now
                return
            if self.cycle is None or self.cycle.response_complete:  # no request's headers in time
                if not self.transport.is_closing():
                    self.transport.close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # the next request's headers, on this kept-alive connection

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            if self in self.server_state.connections or hasattr(self, "flow"):
                super().connection_lost(exc)

    return Guarded
