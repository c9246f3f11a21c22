"""Load test on loopback: hold concurrency well above the inference limit for a while; every
response must be 200 or 503, and the server's RSS after warm-up must grow by < 50 MB.

    python -m app.bench.load [--seconds 60] [--concurrency 32] [--model lenet5]

Bounded in time and count, talks only to 127.0.0.1, stops by itself. Exit status 1 when a
bar is missed. Prints one JSON line with the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from app.bench.common import rss_mb, start_server
from app.bench.loadgen import digit_body, run_async, run_load
from app.config import BUNDLED_MODELS_DIR


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
            shutil.copy(BUNDLED_MODELS_DIR / f, Path(d) / f)
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
