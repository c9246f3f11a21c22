"""Issue 12 item 2: a model cannot make the server allocate by declaring a huge input, and no
request's work runs on the event loop: /healthz answers quickly while heavy requests run."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import httpx
import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from app.config import Settings
from app.web.app import create_app
from tests.helpers.hostile_models import conv_classifier
from tests.helpers.images import SEVEN_PIXELS
from tests.helpers.server import copy_lenet, serve


def test_huge_declared_input_is_refused_at_load(tmp_path) -> None:
    d = tmp_path
    copy_lenet(d)
    conv_classifier(d / "huge.onnx", c=3, h=12000, w=12000)
    assert (d / "huge.onnx").stat().st_size < 2000
    with TestClient(create_app(Settings.from_env(models_dir=d)), raise_server_exceptions=False) as c:
        info = {m["name"]: m for m in c.get("/api/models").json()}["huge"]
        assert info["status"] == "error", info
        assert "432,000,000 values" in info["error"] and "limit is 3,145,728" in info["error"]
        t = time.perf_counter()
        r = c.post("/predict", data={"model": "huge"}, files={"image": ("x.png", b"\x89PNG" + b"0" * 9000)})
        assert r.status_code == 503 and "limit" in r.json()["error"]["message"]
        assert time.perf_counter() - t < 1.0
        assert c.post("/predict", json={"model": "lenet5", "pixels": SEVEN_PIXELS}).status_code == 200


def _big_jpeg() -> bytes:
    """4096 x 4000 pixels (16.4 M, inside the pixel limit) of a smooth gradient: a small file that
    costs ~0.1 s to decode and resize."""
    y, x = np.mgrid[0:4000, 0:4096]
    a = np.stack([(x >> 4) & 255, (y >> 4) & 255, ((x + y) >> 5) & 255], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=70)
    return buf.getvalue()


def test_healthz_answers_within_100ms_while_requests_run(tmp_path) -> None:
    d = tmp_path
    copy_lenet(d)
    conv_classifier(d / "small.onnx", h=224, w=224)
    big = _big_jpeg()
    assert len(big) < 2_000_000
    (tmp_path / "big.jpg").write_bytes(big)
    with serve(d, env={"CONVSCOPE_MAX_CONCURRENT": "2", "CONVSCOPE_MAX_QUEUE": "8"}) as url:
        idle = _probe(url, time.monotonic() + 1.5)  # this machine's own scheduling noise, for the bound
        # the heavy clients run in another process, so they do not hold this one's interpreter lock
        load = subprocess.Popen([sys.executable, "-c", _LOAD, url, str(tmp_path / "big.jpg"), "4", "4.0"],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(0.8)
        lat = _probe(url, time.monotonic() + 3.0)
        out, _ = load.communicate(timeout=60)
    done = json.loads(out)
    assert done.count(200) >= 4 and set(done) <= {200, 503}, done
    p50, p90, base = lat[len(lat) // 2], lat[int(len(lat) * 0.9)], idle[int(len(idle) * 0.9)]
    # 100 ms for most probes; the tail gets what the shared test machine adds with no request running
    msg = f"/healthz p50 {p50 * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms (idle p90 {base * 1000:.0f} ms)"
    assert len(lat) > 10 and p50 < 0.1 and p90 < 0.1 + 2 * base + 0.05, msg


def test_request_work_never_runs_on_the_event_loop(tmp_path, monkeypatch) -> None:
    """The deterministic half of the bound above: decoding, preprocessing, the run, the answer and
    the encoding of a big answer each run on a worker thread, never on the event loop. (A timed test
    on a shared 2-core machine cannot tell a 100 ms stall from the machine's own noise; the 100 ms
    bar itself is measured by app/bench/healthz.py.)"""
    import asyncio
    import base64

    from app.serving import preprocess as pre
    from app.serving import service as svc

    seen: list[str] = []
    on_loop: list[str] = []

    def watch(owner: object, name: str, big_only: bool = False) -> None:
        f = getattr(owner, name)

        def wrapped(*args: object, **kw: object) -> object:
            try:
                asyncio.get_running_loop()
                loop = True
            except RuntimeError:  # a worker thread has no running loop
                loop = False
            out = f(*args, **kw)
            if not big_only or len(out) > 100_000:  # type: ignore[arg-type]
                seen.append(name)
                if loop:
                    on_loop.append(name)
            return out

        monkeypatch.setattr(owner, name, wrapped)

    watch(pre, "open_image")
    watch(svc.Service, "prepare")
    watch(svc, "run")
    watch(svc, "answer")
    watch(svc, "_dumps", big_only=True)  # small answers are encoded in place: a thread hop costs more
    copy_lenet(tmp_path)
    conv_classifier(tmp_path / "small.onnx", h=224, w=224)
    photo = _big_jpeg()
    with TestClient(create_app(Settings.from_env(models_dir=tmp_path))) as c:
        for r in (
            c.post("/predict", data={"model": "small", "activations": "maps", "map_channels": "8",
                                     "map_size": "224"}, files={"image": ("x.jpg", photo, "image/jpeg")}),
            c.post("/predict", json={"model": "small", "image": base64.b64encode(photo).decode()}),
            c.post("/predict", data={"model": "lenet5"}, files={"image": ("x.jpg", photo, "image/jpeg")}),
            c.post("/predict", json={"model": "lenet5", "pixels": SEVEN_PIXELS}),
        ):
            assert r.status_code == 200, r.text[:300]
    assert {"open_image", "prepare", "run", "answer", "_dumps"} <= set(seen), seen
    assert on_loop == [], f"ran on the event loop: {on_loop}"


_LOAD = """
import json, sys, threading, time, httpx
url, path, n, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
big, stop, done = open(path, "rb").read(), time.monotonic() + secs, []
def heavy():
    with httpx.Client(timeout=30) as h:
        while time.monotonic() < stop:
            r = h.post(url + "/predict", data={"model": "small", "activations": "maps"},
                       files={"image": ("x.jpg", big, "image/jpeg")})
            done.append(r.status_code)
ts = [threading.Thread(target=heavy) for _ in range(n)]
[t.start() for t in ts]
[t.join() for t in ts]
print(json.dumps(done))
"""


def _probe(url: str, until: float) -> list[float]:
    lat = []
    with httpx.Client(timeout=5) as h:
        while time.monotonic() < until:
            t = time.perf_counter()
            assert h.get(url + "/healthz").status_code == 200
            lat.append(time.perf_counter() - t)
            time.sleep(0.02)
    return sorted(lat)
