"""Load test on loopback: hold concurrency well above the inference limit for a while; every
response must be 200 or 503, and the server's RSS after warm-up must grow by < 50 MB.

    python bench/load.py [--seconds 60] [--concurrency 32] [--model lenet5]

Bounded in time and count, talks only to 127.0.0.1, stops by itself. Exit status 1 when a
bar is missed. Prints one JSON line with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(models_dir: Path, env_extra: dict[str, str]) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--max-requests", type=int, default=200_000)
    p.add_argument("--model", default="lenet5")
    p.add_argument("--max-concurrent", default="2", help="the server's inference slots")
    p.add_argument("--max-queue", default="4", help="the server's queue")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        for f in ("lenet5.onnx", "lenet5.card.json"):
            shutil.copy(ROOT / "models" / f, Path(d) / f)
        proc, url = start_server(Path(d), {"CONVSCOPE_MAX_CONCURRENT": a.max_concurrent,
                                           "CONVSCOPE_MAX_QUEUE": a.max_queue})
        try:
            body = digit_body(a.model)
            run_async(run_load(url, body, a.warmup, a.concurrency, a.max_requests))
            rss0 = rss_mb(proc.pid)
            res = run_async(run_load(url, body, a.seconds, a.concurrency, a.max_requests))
            rss1 = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(15)
    ok_codes = {"200", "503"}
    res.update({"rss_after_warmup_mb": round(rss0, 1), "rss_end_mb": round(rss1, 1),
                "rss_growth_mb": round(rss1 - rss0, 1),
                "share_503": round(res["statuses"].get("503", 0) / max(1, res["requests"]), 3),
                "concurrency": a.concurrency, "seconds": a.seconds})
    res["ok"] = set(res["statuses"]) <= ok_codes and res["rss_growth_mb"] < 50
    print(json.dumps(res))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
