"""A foreign ONNX file dropped into the models directory gets the same table, shapes and predictions."""

from __future__ import annotations

import io

import numpy as np
import onnxruntime as ort
from fastapi.testclient import TestClient
from PIL import Image

from app.config import Settings
from app.web.app import create_app
from tests.helpers.foreign import tiny_resnet


def _client(models_dir):
    return TestClient(create_app(Settings.from_env(models_dir=models_dir, eager=())), raise_server_exceptions=False)


def test_foreign_file_is_listed_with_a_table_matching_onnxruntime(models_dir) -> None:
    path = tiny_resnet(models_dir / "tiny.onnx")
    with _client(models_dir) as c:
        listed = {m["name"]: m for m in c.get("/api/models").json()}
        assert listed["tiny"]["source"] == "file" and listed["tiny"]["weights"] == "file"
        assert listed["tiny"]["input_shape"] == [3, 32, 32]
        d = c.get("/api/models/tiny").json()
        ops = [layer["op"] for layer in d["layers"]]
        assert ops == ["Conv", "MaxPool", "Conv", "Conv", "Add", "GlobalAveragePool", "Gemm"]
        assert d["layers"][0]["ops"] == ["Conv", "BatchNormalization", "Relu"]  # folded, switching on op type
        assert d["layers"][0]["params"] == 8 * 27 + 8 + 4 * 8
        rf = [(layer["receptive_field"] or {}).get("size") for layer in d["layers"]]
        assert rf == [3, 4, 8, 12, 12, None, None]  # by hand: 3, +1, +2*2, +2*2, max of the joined branches
        assert d["layers"][2]["macs"] == 16 * 16 * 8 * 8 * 9 and d["layers"][6]["macs"] == 80

        # shapes in the table == shapes onnxruntime produces for the exposed tensors
        import onnx

        from app.backends.onnx_inspect import expose

        m = expose(onnx.load(str(path)), [layer["name"] for layer in d["layers"]])
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        names = [layer["name"] for layer in d["layers"]]
        outs = sess.run(names, {"data": np.zeros((1, 3, 32, 32), np.float32)})
        for layer, out in zip(d["layers"], outs, strict=True):
            assert layer["output_shape"] == list(out.shape[1:]), layer["name"]

        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (200, 10, 10)).save(buf, "PNG")
        files = {"image": ("x.png", buf.getvalue())}
        r = c.post("/predict", data={"model": "tiny", "activations": "maps"}, files=files)
        assert r.status_code == 200, r.text
        body = r.json()
        probs = [t["probability"] for t in body["top_k"]]
        assert len(probs) == 5 and probs == sorted(probs, reverse=True)  # the default top 5 of 10 classes
        assert all(0 <= p <= 1 for p in probs) and sum(probs) <= 1 + 1e-5
        assert [layer["shape"] for layer in body["layers"]] == [layer["output_shape"] for layer in d["layers"]]
        assert c.get("/models/tiny").status_code == 200
        assert "tiny" in c.get("/").text


def test_broken_file_is_reported_and_others_keep_serving(models_dir) -> None:
    (models_dir / "broken.onnx").write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\n")
    with _client(models_dir) as c:
        listed = {m["name"]: m for m in c.get("/api/models").json()}
        assert listed["broken"]["status"] == "error" and "broken.onnx" in listed["broken"]["error"]
        r = c.post("/predict", json={"model": "broken", "image": "aGVsbG8="})
        assert r.status_code == 503 and "unavailable" in r.json()["error"]["message"]
        px = np.zeros((28, 28))
        px[4:24, 13:15] = 1
        assert c.post("/predict", json={"model": "lenet5", "pixels": px.tolist()}).status_code == 200


def test_foreign_digit_model_28x28(models_dir) -> None:
    """An MNIST-style foreign model (1x28x28 input, like the ONNX zoo's) gets MNIST preprocessing."""
    tiny_resnet(models_dir / "digits.onnx", classes=10, size=28, channels=1)
    with _client(models_dir) as c:
        m = {x["name"]: x for x in c.get("/api/models").json()}["digits"]
        assert m["input_kind"] == "digit" and m["labels"] == "mnist"
        px = np.zeros((28, 28))
        px[4:24, 13:15] = 1
        r = c.post("/predict", json={"model": "digits", "pixels": px.tolist(), "top_k": 10})
        assert r.status_code == 200, r.text
        assert sorted(t["label"] for t in r.json()["top_k"]) == [str(i) for i in range(10)]
