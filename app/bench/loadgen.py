"""Load generation on loopback, shared by `convscope bench` and `python -m app.bench.load`: a /predict
body, bounded concurrent clients and their latency figures."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import numpy as np

T = TypeVar("T")


def digit_body(model: str) -> dict:
    px = np.zeros((28, 28))
    px[5:23, 12:16] = 1
    return {"model": model, "pixels": px.tolist()}


async def run_load(url: str, body: dict, seconds: float, concurrency: int, max_requests: int) -> dict:
    statuses: dict[int, int] = {}
    errors: dict[str, int] = {}
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    sent = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal sent
        while time.monotonic() < deadline and sent < max_requests:
            sent += 1
            t = time.perf_counter()
            try:
                r = await client.post(url + "/predict", json=body)
                code = r.status_code
            except httpx.HTTPError as exc:
                code = -1
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            latencies.append(time.perf_counter() - t)
            statuses[code] = statuses.get(code, 0) + 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    t0 = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*[worker(client) for _ in range(concurrency)])
    wall = time.perf_counter() - t0
    lat = sorted(latencies)
    return {"requests": len(lat), "wall_s": round(wall, 2), "rps": round(len(lat) / wall, 1),
            "p50_ms": round(statistics.median(lat) * 1000, 2),
            "p99_ms": round(lat[int(0.99 * (len(lat) - 1))] * 1000, 2),
            "statuses": {str(k): v for k, v in sorted(statuses.items())}, "errors": errors}


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own: works even where the caller's thread runs a loop
    (Playwright's sync API does, in a test session)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
