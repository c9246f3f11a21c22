"""WS /ws/predict: the drawing pad's live channel. Each text message is a POST /predict JSON body and is
answered with the same JSON (or the same error shape), one message at a time; when several wait, only the
newest is run (a pad sends the whole drawing each time, so an older one is stale)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app.errors import AppError, error_body
from app.i18n import error_message
from app.serving.service import Service
from app.web.routes.api import json_fields, predict_input

router = APIRouter()
log = logging.getLogger("convscope")


async def _answer(service: Service, text: str) -> dict[str, Any]:
    if len(text) > service.settings.max_body_bytes:
        return _error(413, "too_large", f"the message is over {service.settings.max_body_bytes} bytes")
    try:
        return await service.predict(await predict_input(await json_fields(text, service), None, service, None))
    except AppError as exc:
        return _error(exc.status, exc.code, exc.message)
    except Exception:  # never a traceback to the client; the connection stays usable
        log.exception("unexpected error on /ws/predict")
        return _error(500, "internal", "internal error; the server logged the details")


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    """The error shape, in the language the page asked for (?lang=, its cookie or Accept-Language) as over HTTP."""
    return error_body(status, code, error_message(code, message))


@router.websocket("/ws/predict")
async def ws_predict(ws: WebSocket) -> None:
    await ws.accept()
    service: Service = ws.app.state.service
    # one slot, not a queue: a client sending faster than the model answers holds one waiting message at most
    waiting: list[str] = []  # the newest message not yet answered (a newer one replaces it)
    closed = False
    ready = asyncio.Event()

    async def reader() -> None:
        nonlocal closed
        try:
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                text = msg.get("text")
                if text is None and msg.get("bytes") is not None:
                    text = msg["bytes"].decode("utf-8", "replace")
                waiting[:] = [text or ""]
                ready.set()
        finally:
            closed = True
            ready.set()

    task = asyncio.create_task(reader())
    try:
        while True:
            await ready.wait()
            ready.clear()
            if closed:
                return
            if not waiting:
                continue
            text = waiting.pop()
            # encoded as POST /predict's body is: off the event loop when it carries maps
            await ws.send_text((await service.encode(await _answer(service, text))).decode())
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
