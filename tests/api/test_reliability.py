"""Broken models, overload (503 + Retry-After), the time budget (504), and /metrics."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time

import httpx
import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient
from onnx import helper

import app.explain.methods as methods
import app.serving.service as service_mod
from app.bench.loadgen import run_async
from app.config import Settings
from app.web.app import create_app
from tests.helpers.foreign import tiny_resnet
from tests.helpers.images import GOOD, PHOTO


def _client(models_dir, **kw) -> TestClient:
    return TestClient(create_app(Settings.from_env(models_dir=models_dir, **kw)), raise_server_exceptions=False)


def _status(c: TestClient, name: str) -> dict:
    return {m["name"]: m for m in c.get("/api/models").json()}[name]


def _photo_request(c: TestClient, model: str) -> httpx.Response:
    return c.post("/predict", data={"model": model, "activations": "none"}, files={"image": ("x.png", PHOTO)})


def _with_node(path, op: str, domain: str = "", opset: int = 13) -> None:
    m = onnx.load(str(path))
    m.graph.node.insert(0, helper.make_node(op, ["data"], ["data_x"], domain=domain))
    for n in m.graph.node[1:]:
        n.input[:] = ["data_x" if x == "data" else x for x in n.input]
    if domain:
        m.opset_import.append(helper.make_opsetid(domain, 1))
    m.opset_import[0].version = opset
    onnx.save(m, str(path))


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("truncated", lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])),
        ("random-bytes", lambda p: p.write_bytes(np.random.default_rng(0).bytes(5000))),
        ("lfs-pointer", lambda p: p.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:" + "a" * 64
                                               + "\nsize 12345\n")),
        ("unsupported-opset", lambda p: _with_node(p, "Identity", opset=99)),
        ("unknown-op", lambda p: _with_node(p, "FrobnicateV2")),
        ("custom-domain-op", lambda p: _with_node(p, "Frobnicate", domain="com.example")),
        ("empty", lambda p: p.write_bytes(b"")),
    ],
)
def test_broken_model_is_reported_and_others_serve(models_dir, case: str, make) -> None:
    path = tiny_resnet(models_dir / "tiny.onnx")
    make(path)
    with _client(models_dir) as c:
        r = _photo_request(c, "tiny")  # some breakage shows only when onnxruntime loads the file
        assert r.status_code == 503, r.text
        assert "unavailable" in r.json()["error"]["message"]
        info = _status(c, "tiny")
        assert info["status"] == "error" and "tiny" in info["error"], info
        assert c.post("/predict", json=GOOD).status_code == 200
        assert c.get("/healthz").status_code == 200


def test_external_data_outside_the_folder_is_refused(models_dir, tmp_path) -> None:
    path = tiny_resnet(models_dir / "tiny.onnx")
    m = onnx.load(str(path))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    onnx.save(m, str(outside / "x.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)
    m2 = onnx.load(str(outside / "x.onnx"), load_external_data=False)
    for t in m2.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../elsewhere/weights.bin"
    onnx.save(m2, str(path))
    (models_dir / "linked.onnx").symlink_to(outside / "x.onnx")
    with _client(models_dir) as c:
        tiny, linked = _status(c, "tiny"), _status(c, "linked")
        assert tiny["status"] == "error" and "external data" in tiny["error"]
        assert linked["status"] == "error" and "symlink" in linked["error"]


def test_file_deleted_replaced_while_serving(models_dir) -> None:
    path = tiny_resnet(models_dir / "tiny.onnx")
    with _client(models_dir) as c:
        assert _photo_request(c, "tiny").status_code == 200
        good_top = _photo_request(c, "tiny").json()["top_k"]
        # replaced by a broken file: the previous good session keeps serving, and says why
        path.write_bytes(b"garbage")
        os.utime(path, (time.time() + 5, time.time() + 5))
        r = _photo_request(c, "tiny")
        assert r.status_code == 200 and r.json()["top_k"] == good_top
        info = _status(c, "tiny")
        assert info["status"] == "loaded" and "reload failed" in info["error"]
        # replaced by a good, different file: the new one is served
        tiny_resnet(path, classes=5)
        os.utime(path, (time.time() + 10, time.time() + 10))
        r = _photo_request(c, "tiny")
        assert r.status_code == 200 and len(r.json()["top_k"]) == 5
        # deleted: unavailable, the rest keep serving
        path.unlink()
        r = _photo_request(c, "tiny")
        assert r.status_code == 503 and "deleted" in r.json()["error"]["message"]
        assert _status(c, "tiny")["status"] == "error"
        assert c.post("/predict", json=GOOD).status_code == 200
        # a new file dropped in appears without a restart
        tiny_resnet(models_dir / "tiny2.onnx")
        time.sleep(1.1)
        assert _status(c, "tiny2")["status"] == "available"


PHOTO_JSON = {"model": "resnet18", "image": base64.b64encode(PHOTO).decode(), "activations": "none"}


async def _burst(app, n: int) -> list[httpx.Response]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.post("/predict", json=PHOTO_JSON)  # build resnet18 before the burst
            return await asyncio.gather(*[client.post("/predict", json=PHOTO_JSON) for _ in range(n)])


def _slow_run(monkeypatch, seconds: float) -> None:
    real = service_mod.run

    def slow(*args, **kw):
        time.sleep(seconds)
        return real(*args, **kw)

    monkeypatch.setattr(service_mod, "run", slow)


def test_overload_gets_503_and_admitted_requests_complete(models_dir, monkeypatch) -> None:
    _slow_run(monkeypatch, 0.3)
    app = create_app(Settings.from_env(models_dir=models_dir, max_concurrent=1, max_queue=2))
    rs = run_async(_burst(app, 8))
    codes = sorted(r.status_code for r in rs)
    assert codes == [200] * 3 + [503] * 5, codes
    for r in rs:
        if r.status_code == 503:
            assert r.headers["retry-after"] == "1" and "busy" in r.json()["error"]["message"]
        else:
            assert len(r.json()["top_k"]) == 5


def test_time_budget_gives_504_and_frees_the_slot(models_dir, monkeypatch) -> None:
    # a budget well above resnet18's run on a busy 2-core machine (~150 ms), well below the slowed run
    with _client(models_dir, inference_timeout_s=2.5, max_concurrent=1) as c:
        assert c.post("/predict", json=PHOTO_JSON).status_code == 200  # built and loaded
        _slow_run(monkeypatch, 5.0)
        r = c.post("/predict", json=PHOTO_JSON)
        assert r.status_code == 504 and "longer than" in r.json()["error"]["message"]
        monkeypatch.undo()
        time.sleep(3.0)
        assert c.post("/predict", json=PHOTO_JSON).status_code == 200


def test_an_explanation_past_the_budget_is_stopped_with_its_progress(models_dir, monkeypatch) -> None:
    """Each of the job's runs slowed to 0.2 s: RISE on LeNet-5 (18 runs) passes a 1 s budget, is
    told to stop, says how far it got, and its slot is free at once for the next request."""
    real = methods.Job.run

    def slow(self, *args, **kw):
        time.sleep(0.2)
        return real(self, *args, **kw)

    with _client(models_dir, inference_timeout_s=1.0, max_concurrent=1) as c:
        assert c.post("/predict", json=GOOD).status_code == 200  # loaded before the clock matters
        monkeypatch.setattr(methods.Job, "run", slow)
        r = c.post("/api/explain", json={**GOOD, "method": "rise"})
        assert r.status_code == 504, r.text
        msg = r.json()["error"]["message"]
        done, total = map(int, re.search(r"the explanation took longer than 1 s and was stopped after "
                                         r"(\d+) of (\d+) runs", msg).groups())
        assert 0 < done < total == 1 + 1000 + 22, msg
        assert c.post("/predict", json=GOOD).status_code == 200


def test_metrics(client) -> None:
    client.post("/predict", json=GOOD)
    client.post("/predict", json={"model": "nope", "pixels": GOOD["pixels"]})
    client.post("/predict", content=b"0" * (11 * 1024 * 1024), headers={"content-type": "application/json"})
    text = client.get("/metrics").text
    assert 'convscope_requests_total{method="POST",route="/predict",status="200"} 1.0' in text
    assert 'convscope_requests_total{method="POST",route="/predict",status="404"} 1.0' in text
    assert 'convscope_inference_seconds_count{model="lenet5"} 1.0' in text
    assert 'convscope_rejected_total{reason="too_large"} 1.0' in text
    assert "convscope_models_loaded 1.0" in text
    assert "process_resident_memory_bytes" in text
