"""The HTTP, cold-start and memory parts of `convscope bench`: real uvicorn servers on 127.0.0.1,
convscope against a minimal FastAPI endpoint and against the same work done in-process."""

from __future__ import annotations

import base64
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from app import nets
from app.bench.common import rss_mb, session, spawn
from app.bench.loadgen import digit_body, run_async, run_load
from app.config import BUNDLED_MODELS_DIR, STATIC_DIR, Settings


def run(work: Path, quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cold = work / "cold"
    cold.mkdir()
    for f in ("lenet5.onnx", "lenet5.card.json"):
        shutil.copy(BUNDLED_MODELS_DIR / f, cold / f)
    settings = Settings.from_env()
    conv_args = ["app.cli", "serve", "--models-dir", str(cold), "--log-level", "error"]
    conv, conv_url, ready_s = spawn(conv_args, {})
    mini, mini_url, mini_ready_s = spawn(["app.bench.minimal", "--model", str(cold / "lenet5.onnx")], {})
    try:
        out["cold"] = {"server_ready_s": round(ready_s, 2), "minimal_ready_s": round(mini_ready_s, 2)}
        rss_lenet = round(rss_mb(conv.pid), 1)

        # HTTP: convscope /predict (summary) vs the minimal endpoint, interleaved per concurrency
        body = digit_body("lenet5")
        seconds = 2.0 if quick else 4.0
        rows = []
        for c in (1, 8, 32):
            pair = {}
            order = [("convscope /predict", conv_url), ("minimal endpoint", mini_url)]
            for what, url in (order if c != 8 else order[::-1]):
                run_async(run_load(url, body, 0.5, c, 10**6))  # warm-up
                pair[what] = run_async(run_load(url, body, seconds, c, 10**6))
            a, b = pair["convscope /predict"], pair["minimal endpoint"]
            rows.append({"what": "convscope /predict", "concurrency": c, **_pick(a),
                         "ratio_rps": round(a["rps"] / b["rps"], 3), "ratio_p50": round(a["p50_ms"] / b["p50_ms"], 3)})
            rows.append({"what": "minimal endpoint", "concurrency": c, **_pick(b)})
        out["http"] = rows
        out["in_process"] = _in_process(cold)

        # VGG16-3 with maps: first request (build + session), then steady state against in-process
        photo = (STATIC_DIR / "samples" / "chelsea.jpg").read_bytes()
        req = {"model": "vgg16-3", "image": "data:image/jpeg;base64," + base64.b64encode(photo).decode(),
               "activations": "maps"}
        first: dict[str, float] = {}
        # one client for the whole section: a new httpx client per request costs tens of ms (TLS context)
        with httpx.Client(timeout=300) as client:
            t = time.perf_counter()
            r = client.post(conv_url + "/predict", json=req)
            first["vgg16-3"] = round(time.perf_counter() - t, 2)
            lat, size = [], len(r.content)
            for _ in range(3 if quick else 7):
                t = time.perf_counter()
                r = client.post(conv_url + "/predict", json=req)
                lat.append(time.perf_counter() - t)
            inproc = _vgg_in_process(cold / "vgg16-3.onnx")
            out["vgg_maps"] = {"http_ms": round(statistics.median(lat) * 1000, 1), "in_process_inference_ms": inproc,
                               "ratio": round(statistics.median(lat) * 1000 / inproc, 3), "response_bytes": size,
                               "server_timing_ms": r.json()["timing_ms"]}

            # cold first request to every other model, and memory against the cache bound
            names = (["resnet50", "alexnet"] if quick
                     else [n for n in nets.BUILTIN_NAMES if n not in ("lenet5", "vgg16-3")])
            img = {"image": req["image"], "activations": "none"}
            for n in names:
                t = time.perf_counter()
                client.post(conv_url + "/predict", json={**img, "model": n})
                first[n] = round(time.perf_counter() - t, 2)
        out["cold"]["first_request_s"] = first
        out["memory"] = {"rss_lenet_only_mb": rss_lenet, "rss_after_all_mb": round(rss_mb(conv.pid), 1),
                         "cache_bound_mb": settings.cache_mb, "models_touched": 2 + len(names),
                         "loaded_after": json.loads(httpx.get(conv_url + "/readyz").text)["loaded"]}
    finally:
        for p in (conv, mini):
            p.terminate()
            p.wait(20)
    return out


def _pick(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r[k] for k in ("rps", "p50_ms", "p99_ms", "requests")} | {"non_200": {
        k: v for k, v in r["statuses"].items() if k != "200"}}


def _in_process(models_dir: Path) -> dict[str, float]:
    """The /predict work for LeNet without HTTP: preprocess, run every layer, summaries."""
    import asyncio

    from app.serving.service import PredictInput, Service

    svc = Service(Settings.from_env(models_dir=models_dir))
    body = digit_body("lenet5")

    async def go() -> list[float]:
        await svc.start()
        ts = []
        for _ in range(300):
            t = time.perf_counter()
            await svc.predict(PredictInput("lenet5", pixels=body["pixels"]))
            ts.append(time.perf_counter() - t)
        return ts

    ts = asyncio.run(go())
    svc.close()
    return {"lenet5_predict_ms": round(statistics.median(ts[50:]) * 1000, 3)}


def _vgg_in_process(path: Path) -> float:
    net = nets.get("vgg16-3")
    s = session(path, 1)
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)
    names = [st.name for st in net.stages] + ["prob"]
    s.run(names, {"input": x})
    ts = []
    for _ in range(5):
        t = time.perf_counter()
        s.run(names, {"input": x})
        ts.append(time.perf_counter() - t)
    return round(statistics.median(ts) * 1000, 1)


def run_ray(quick: bool) -> list[dict[str, Any]]:
    """VGG16-3 /predict (no maps) through plain uvicorn, then Ray Serve with 1 and 2 replicas."""
    d = Path(tempfile.mkdtemp(prefix="convscope-ray-bench-"))
    rows: list[dict[str, Any]] = []
    photo = (STATIC_DIR / "samples" / "chelsea.jpg").read_bytes()
    body = {"model": "vgg16-3", "image": base64.b64encode(photo).decode(), "activations": "none"}
    seconds = 8.0 if quick else 20.0
    try:
        from app.catalog.store import write_builtin

        write_builtin("vgg16-3", d)
        for label, args in (("uvicorn", []), ("ray 1 replica", ["--ray", "--replicas", "1"]),
                            ("ray 2 replicas", ["--ray", "--replicas", "2"])):
            proc, url, ready = spawn(["app.cli", "serve", "--models-dir", str(d), "--log-level", "error", *args],
                                      {"CONVSCOPE_EAGER": "lenet5,vgg16-3"})
            try:
                for c in (1, 4):
                    run_async(run_load(url, body, 2.0, c, 10**6))  # warm every replica
                    r = run_async(run_load(url, body, seconds, c, 10**6))
                    rows.append({"what": label, "concurrency": c, "ready_s": round(ready, 1), **_pick(r)})
            finally:
                proc.terminate()
                proc.wait(60)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return rows
