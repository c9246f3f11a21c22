"""A foreign ONNX file dropped into the models directory gets the same table, shapes and predictions;
one that cannot run answers 503 wherever it is run, and one that fixes its batch is still explained."""

from __future__ import annotations

import base64
import io

import numpy as np
import onnx
import onnxruntime as ort
from fastapi.testclient import TestClient
from PIL import Image

from app.config import Settings
from app.web.app import create_app
from tests.helpers.foreign import tiny_resnet
from tests.helpers.hostile_models import batch_one_inside, conv_classifier, fails_at_run


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


def _png() -> dict[str, str]:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(buf, "PNG")
    return {"image": base64.b64encode(buf.getvalue()).decode()}


def test_a_graph_that_fails_at_run_time_is_a_503_wherever_it_runs(models_dir) -> None:
    fails_at_run(models_dir / "bad.onnx")  # loads, and its table reads; every run fails in a Gather
    with _client(models_dir) as c:
        assert c.get("/api/models/bad").status_code == 200
        runs = [c.post("/predict", json={"model": "bad", **_png()}),
                c.post("/api/models/bad/unit?layer=relu&channel=0&y=3&x=3", json=_png()),
                c.get("/api/models/bad/examples?layer=relu&channel=0")]
        for r in runs:
            assert r.status_code == 503, (r.request.url, r.text)
            err = r.json()["error"]
            assert err["code"] == "run_failed" and "Gather" in err["message"] and "'bad'" in err["message"]
        r = c.post("/predict?lang=zh", json={"model": "bad", **_png()})  # a page in Chinese: its sentence
        assert r.status_code == 503 and r.json()["error"]["message"].startswith("模型运行时出错")
        with c.websocket_connect("/ws/predict") as ws:
            ws.send_json({"model": "bad", **_png()})
            assert ws.receive_json()["error"]["code"] == "run_failed"
        assert c.get("/healthz").status_code == 200


def test_graphs_that_fix_their_batch_are_explained_as_their_batch_free_twin(models_dir) -> None:
    """Explanations run copies in batches (8 for photos): a file whose input is fixed at batch 1,
    and one that takes any batch but reshapes to [1, 8] inside, get the batch-free twin's answer."""
    conv_classifier(models_dir / "fixed.onnx")  # input [1, 3, 32, 32]
    batch_one_inside(models_dir / "inside.onnx")  # input [N, 3, 32, 32], Reshape to [1, 8]
    twin = onnx.load(str(conv_classifier(models_dir / "free.onnx")))
    twin.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    onnx.save(twin, str(models_dir / "free.onnx"))
    with _client(models_dir) as c:
        for method in ("occlusion", "gradcam", "rise"):
            got = {}
            for name in ("free", "fixed", "inside"):
                r = c.post("/api/explain", json={"model": name, "method": method, **_png()})
                assert r.status_code == 200, (name, method, r.text)
                got[name] = r.json()
            want = got["free"]
            for name in ("fixed", "inside"):
                assert got[name]["curves"]["runs"] == want["curves"]["runs"]
                np.testing.assert_allclose(got[name]["map"]["values"], want["map"]["values"], rtol=1e-4, atol=1e-6)
                for k in ("deletion_auc", "insertion_auc", "random_auc"):
                    assert abs(got[name][k] - want[k]) < 1e-4, (name, method, k)


def test_a_one_channel_model_read_as_a_photo_shows_what_it_saw(models_dir) -> None:
    """A grey 64x64 classifier whose sidecar says it takes photos: the input it saw comes back as a grey
    image (it was a 500: no image of shape (64, 64, 1))."""
    import json

    conv_classifier(models_dir / "grey.onnx", c=1, h=64, w=64)
    (models_dir / "grey.json").write_text(json.dumps({"kind": "photo"}))
    with _client(models_dir) as c:
        r = c.post("/predict", json={"model": "grey", **_png()})
        assert r.status_code == 200, r.text
        seen = Image.open(io.BytesIO(base64.b64decode(r.json()["input"]["image"].split(",", 1)[1])))
        assert seen.size == (64, 64) and seen.mode == "L"
