"""Foreign files in the forms real exports take -- a batch fixed at the input, a batch fixed inside,
probabilities shaped [N, 10, 1, 1] -- give the batch-free answer wherever copies run in batches
(explanations, the MNIST examples); a run that fails or runs out of memory is a 503, never a 500."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import io
import os
import threading
import time

import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import app.serving.service as service_mod
from app.config import Settings
from app.serving.service import Service
from app.web.app import create_app
from tests.helpers.hostile_models import conv_classifier
from tests.helpers.odd_models import digit_failing_at_run, free_batch, reshape_at_end, softmax_on_a_map

METHODS = ("occlusion", "gradcam", "rise")


def _client(models_dir) -> TestClient:
    return TestClient(create_app(Settings.from_env(models_dir=models_dir, eager=())), raise_server_exceptions=False)


def _png() -> dict[str, str]:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(buf, "PNG")
    return {"image": base64.b64encode(buf.getvalue()).decode()}


def test_a_batch_fixed_after_the_classifier_is_explained_as_its_batch_free_twin(models_dir) -> None:
    """Gemm -> Reshape [1, -1] -> Softmax: a batch of 8 runs, and answers one softmax over 80 values;
    the rows must be told apart by their count, not only by an error."""
    free_batch(conv_classifier(models_dir / "free.onnx"))
    reshape_at_end(models_dir / "endfix.onnx")
    with _client(models_dir) as c:
        for method in METHODS:
            want, got = (c.post("/api/explain", json={"model": m, "method": method, **_png()})
                         for m in ("free", "endfix"))
            assert want.status_code == got.status_code == 200, (method, got.text)
            want, got = want.json(), got.json()
            np.testing.assert_allclose(got["map"]["values"], want["map"]["values"], rtol=1e-4, atol=1e-6)
            for k in ("deletion_auc", "insertion_auc", "random_auc"):
                assert abs(got[k] - want[k]) < 1e-4, (method, k)
            assert got["curves"]["runs"] == want["curves"]["runs"]


def test_probabilities_shaped_as_a_map_are_explained(models_dir) -> None:
    softmax_on_a_map(models_dir / "map.onnx")  # probs [N, 10, 1, 1]
    with _client(models_dir) as c:
        assert c.post("/predict", json={"model": "map", **_png()}).status_code == 200
        for method in METHODS:
            r = c.post("/api/explain", json={"model": "map", "method": method, **_png()})
            assert r.status_code == 200, (method, r.text)
            assert 0 <= r.json()["target"]["index"] < 10


def test_mnist_examples_of_a_batch_fixed_digit_file_equal_its_batch_free_twin(models_dir) -> None:
    conv_classifier(models_dir / "fixed.onnx", c=1, h=28, w=28)  # input [1, 1, 28, 28]: 500 at once fails
    free_batch(conv_classifier(models_dir / "twin.onnx", c=1, h=28, w=28))
    with _client(models_dir) as c:
        layer = c.get("/api/models/fixed").json()["layers"][0]["name"]
        want = c.get(f"/api/models/twin/examples?layer={layer}&channel=3")
        got = c.get(f"/api/models/fixed/examples?layer={layer}&channel=3")
        assert want.status_code == got.status_code == 200, got.text
        key = ("mnist_index", "y", "x", "value")
        assert [[e[k] for k in key] for e in got.json()] == [[e[k] for k in key] for e in want.json()]


def test_mnist_examples_of_a_file_failing_at_run_time_are_a_503(models_dir) -> None:
    digit_failing_at_run(models_dir / "bad.onnx")
    with _client(models_dir) as c:
        layer = c.get("/api/models/bad").json()["layers"][0]["name"]
        r = c.get(f"/api/models/bad/examples?layer={layer}&channel=0")
        assert r.status_code == 503 and r.json()["error"]["code"] == "run_failed", r.text
        assert c.get("/healthz").status_code == 200


def test_examples_of_a_model_that_cannot_serve_are_a_503(models_dir) -> None:
    (models_dir / "broken.onnx").write_bytes(b"not an onnx file")
    with _client(models_dir) as c:
        r = c.get("/api/models/broken/examples?layer=x&channel=0")
        assert r.status_code == 503 and r.json()["error"]["code"] == "model_unavailable", r.text


def test_running_out_of_memory_is_a_503_with_retry_after(models_dir, monkeypatch) -> None:
    def oom(*_a, **_kw):
        raise MemoryError()  # as CPython raises it: no message

    with _client(models_dir) as c:
        monkeypatch.setattr(service_mod, "run", oom)
        r = c.post("/predict", json={"model": "lenet5", "pixels": [[0.0] * 28] * 13 + [[1.0] * 28] * 2
                                     + [[0.0] * 28] * 13})
        assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
        assert r.json()["error"]["code"] == "out_of_memory"


def test_a_cancelled_request_holds_its_slot_until_its_run_has_stopped(models_dir) -> None:
    """The request goes away (cancelled) mid-run: the run is told to stop, and within_budget returns
    only once it has -- the slot it sits in is not handed on while the work still runs."""
    service = Service(Settings.from_env(models_dir=models_dir, eager=()))
    ended = threading.Event()

    def work(opts: ort.RunOptions) -> None:
        while not opts.terminate:  # onnxruntime checks the same flag between kernels
            time.sleep(0.01)
        time.sleep(0.2)  # and takes a moment to unwind
        ended.set()

    async def main() -> bool:
        await service.start()
        task = asyncio.create_task(service.within_budget(work, "lenet5"))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return ended.is_set()

    try:  # on a thread of its own: another test's Playwright may hold this thread's event loop
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            assert pool.submit(asyncio.run, main()).result(timeout=60)
    finally:
        service.close()


def _junk_zip(f) -> None:
    f.write_bytes(b"PK\x03\x04" + bytes(100))


def _no_keys(f) -> None:
    with open(f, "wb") as out:
        np.savez(out, format=np.array(1))


def _wrong_shapes(f) -> None:
    with open(f, "wb") as out:
        np.savez(out, **{"format": np.array(1), "compute_ms": np.array(1.0), "images/index": np.array([0]),
                         "images/pixels": np.zeros((1, 28, 28)), "images/label": np.array([0]),
                         **{f"relu/{k}": np.zeros((1, 1), int) for k in ("index", "y", "x", "value")}})


@pytest.mark.parametrize("spoil", [_junk_zip, _no_keys, _wrong_shapes, lambda f: os.mkfifo(f)],
                         ids=["junk-zip", "no-keys", "wrong-shapes", "fifo"])
def test_a_spoilt_examples_cache_is_recomputed(models_dir, spoil) -> None:
    """The MNIST table cached beside a model is a file in the models folder: one that is not a table of
    this model's layers (or not a regular file) is ignored and recomputed -- it was a 500, or a hang."""
    free_batch(conv_classifier(models_dir / "dg.onnx", c=1, h=28, w=28))
    url = "/api/models/dg/examples?layer={}&channel=2"
    with _client(models_dir) as c:
        layer = c.get("/api/models/dg").json()["layers"][0]["name"]
        want = c.get(url.format(layer))
        assert want.status_code == 200, want.text
    (cache,) = models_dir.glob(".dg*.examples-*.npz")
    cache.unlink()
    spoil(cache)
    with _client(models_dir) as c:
        box: dict = {}
        t = threading.Thread(target=lambda: box.setdefault("r", c.get(url.format(layer))), daemon=True)
        t.start()
        t.join(60)
        assert "r" in box, "the request hung"
        assert box["r"].status_code == 200 and box["r"].json() == want.json(), box["r"].text
