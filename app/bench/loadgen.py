"""Load generation on loopback, shared by `convscope bench`, `python -m app.bench.load` and the tests:
a server subprocess, bounded concurrent clients, latency figures, the server's RSS."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np

from app.config import ROOT

T = TypeVar("T")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(models_dir: Path, env_extra: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """`convscope serve` on a free loopback port with ``models_dir``; returns once /readyz says 200."""
    port = free_port()
    env = {**os.environ, "CONVSCOPE_MODELS_DIR": str(models_dir), "OMP_WAIT_POLICY": "PASSIVE", **env_extra}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--log-level", "error"],
                            cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


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
