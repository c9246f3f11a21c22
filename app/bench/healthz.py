"""/healthz latency while heavy predictions run: VGG16 (`vgg16-3`) with `activations=maps` and
the largest options (map_channels 4096, map_size 512: every channel at full size) at
concurrency 8 (issue 12's check; target: /healthz p99 <= 100 ms).

    python -m app.bench.healthz [--seconds 30] [--concurrency 8] [--model vgg16-3]

Bounded in time, talks only to 127.0.0.1, stops by itself; builds the model on first use into a
temporary folder unless --models-dir has it. The heavy clients run in a child process, so reading
their multi-megabyte answers does not hold the probe's interpreter lock. Prints one JSON line;
exit status 1 past the target.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path

import httpx

from app.bench.common import rss_mb, start_server
from app.config import BUNDLED_MODELS_DIR, STATIC_DIR


def _probe(url: str, until: float, out: list[float]) -> None:
    with httpx.Client(timeout=10) as h:
        while time.monotonic() < until:
            t = time.perf_counter()
            h.get(url + "/healthz")
            out.append(time.perf_counter() - t)
            time.sleep(0.02)


def _heavy_process(url: str, body: dict, seconds: float, n: int, q: multiprocessing.Queue) -> None:
    q.put(asyncio.run(_heavy(url, body, time.monotonic() + seconds, n)))


async def _heavy(url: str, body: dict, until: float, n: int) -> tuple[dict[int, int], list[int], list[float]]:
    codes: dict[int, int] = {}
    sizes: list[int] = []
    lat: list[float] = []

    async def worker(c: httpx.AsyncClient) -> None:
        while time.monotonic() < until:
            t = time.perf_counter()
            r = await c.post(url + "/predict", json=body)
            lat.append(time.perf_counter() - t)
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
            sizes.append(len(r.content))

    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=n)) as c:
        await asyncio.gather(*[worker(c) for _ in range(n)])
    return codes, sizes, lat


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--model", default="vgg16-3")
    p.add_argument("--models-dir", type=Path, default=None)
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="convscope-healthz-"))
    d = args.models_dir or tmp
    if not (d / "lenet5.onnx").exists():
        shutil.copy(BUNDLED_MODELS_DIR / "lenet5.onnx", d / "lenet5.onnx")
    image = base64.b64encode((STATIC_DIR / "samples" / "chelsea.jpg").read_bytes()).decode()
    body = {"model": args.model, "image": image, "top_k": 5, "activations": "maps",
            "map_offset": 0, "map_channels": 4096, "map_size": 512}
    proc, url = start_server(d, {})
    try:
        warm = httpx.post(url + "/predict", json=body, timeout=600)  # builds and loads the model
        assert warm.status_code == 200, warm.text[:300]
        idle: list[float] = []
        _probe(url, time.monotonic() + 3, idle)
        ctx = multiprocessing.get_context("spawn")
        q = ctx.Queue()
        heavy = ctx.Process(target=_heavy_process, args=(url, body, args.seconds, args.concurrency, q))
        heavy.start()
        time.sleep(min(2.0, args.seconds / 4))  # the clients connect and fill the slots
        probes: list[float] = []
        _probe(url, time.monotonic() + args.seconds - min(2.0, args.seconds / 4), probes)
        codes, sizes, lat = q.get(timeout=args.seconds + 900)
        heavy.join(30)
        rss = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    ms = {f"{q}_ms": round(pct(probes, v) * 1000, 1) for q, v in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))}
    out = {"model": args.model, "concurrency": args.concurrency, "seconds": args.seconds,
           "predict_status": codes, "predict_p50_s": round(pct(lat, 0.5), 2),
           "response_mb": round(max(sizes, default=0) / 2**20, 1),
           "healthz": {"n": len(probes), **ms, "max_ms": round(max(probes) * 1000, 1)},
           "healthz_idle": {"n": len(idle), "p50_ms": round(pct(idle, 0.5) * 1000, 1),
                            "p99_ms": round(pct(idle, 0.99) * 1000, 1)},
           "load_avg_1m": round(os.getloadavg()[0], 1), "cpus": os.cpu_count(), "server_rss_mb": round(rss)}
    print(json.dumps(out))
    return 0 if ms["p99_ms"] <= 100 else 1


if __name__ == "__main__":
    raise SystemExit(main())
