"""POST /api/explain: the contract, every method on LeNet-5 and on a foreign graph, occlusion
against a direct recomputation, the trust checks, and the refusals (422 naming valid values)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from app.explain.render import spearman, upsample
from tests.helpers.foreign import tiny_resnet

KEYS = {"model", "method", "target", "layer", "map", "overlay", "deletion_auc", "insertion_auc", "random_auc",
        "sanity_rank_correlation", "timing_ms"}


def _digit() -> list[list[float]]:
    px = np.zeros((28, 28))
    px[4:24, 13:16] = 1  # a "1"
    px[4:7, 10:14] = 1
    return px.tolist()


@pytest.fixture
def foreign(models_dir: Path):
    """A client over a models folder that also holds two foreign graphs (written before start-up)."""
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.web.app import create_app

    tiny_resnet(models_dir / "tiny.onnx")
    _sigmoid_head(models_dir / "sig.onnx")
    with TestClient(create_app(Settings.from_env(models_dir=models_dir)), raise_server_exceptions=False) as c:
        yield c


def _post(client, body: dict, path: str = "/api/explain"):
    return client.post(path, json=body)


@pytest.mark.parametrize("method", ["gradcam", "occlusion", "rise"])
def test_every_method_answers_the_contract(client, method: str) -> None:
    r = _post(client, {"model": "lenet5", "pixels": _digit(), "method": method})
    assert r.status_code == 200, r.text
    j = r.json()
    assert KEYS <= set(j)
    assert j["method"] == method and j["model"] == "lenet5"
    assert j["target"]["index"] == 1 and j["target"]["label"] == "1" and 0 < j["target"]["probability"] <= 1
    m = j["map"]
    assert len(m["values"]) == m["height"] and all(len(row) == m["width"] for row in m["values"])
    expected = {"gradcam": (5, 5), "occlusion": (7, 7), "rise": (32, 32)}[method]  # S4; 8/4 on 32; masks
    assert (m["height"], m["width"]) == expected
    assert j["layer"] == ("S4" if method == "gradcam" else None)
    assert j["overlay"].startswith("data:image/png;base64,")
    from app.serving.preprocess import decode_base64

    png = decode_base64(j["overlay"], 1 << 20)
    from io import BytesIO

    from PIL import Image

    assert Image.open(BytesIO(png)).size == (28, 28)  # the digit the network saw, without LeNet's 2-pixel pad
    c = j["curves"]
    for name in ("deletion", "insertion", "random"):
        assert len(c[name]) == len(c["fractions"]) == 9
    assert c["deletion"][0] == pytest.approx(j["target"]["probability"], rel=1e-5)
    assert c["insertion"][-1] == pytest.approx(j["target"]["probability"], rel=1e-5)
    assert c["deletion"][-1] == c["insertion"][0] == c["random"][-1]  # the blank input, run once
    for key in ("deletion", "insertion", "random"):
        assert j[f"{key}_auc"] == pytest.approx(float(np.trapezoid(c[key], c["fractions"])), abs=1e-6)
    assert j["sanity_rank_correlation"] is None or -1 <= j["sanity_rank_correlation"] < 1
    assert c["runs"] == 1 + 22 + {"gradcam": 0, "occlusion": 49, "rise": 1000}[method]


def test_gradcam_at_a_deeper_layer_and_another_target(client) -> None:
    j = _post(client, {"model": "lenet5", "pixels": _digit(), "layer": "C3", "target": 7}).json()
    assert j["layer"] == "C3" and j["target"]["index"] == 7 and (j["map"]["height"], j["map"]["width"]) == (10, 10)
    named = client.post("/api/models/lenet5/explain", json={"pixels": _digit(), "layer": "C3", "target": 7}).json()
    assert named["map"] == j["map"]  # the same answer by either route, deterministic


def test_occlusion_equals_a_direct_recomputation(client, models_dir: Path) -> None:
    from app.serving import preprocess as pre

    j = _post(client, {"model": "lenet5", "pixels": _digit(), "method": "occlusion", "patch": 6, "stride": 5}).json()
    assert (j["map"]["height"], j["map"]["width"]) == (6, 6) and (j["patch"], j["stride"]) == (6, 5)
    x = pre.digit_tensor(pre.mnistify(pre.pixels(_digit())), 32)
    sess = ort.InferenceSession(str(models_dir / "lenet5.onnx"), providers=["CPUExecutionProvider"])
    c = j["target"]["index"]
    p0 = sess.run(["prob"], {"input": x})[0][0, c]
    for i, k in ((0, 0), (2, 3), (5, 5)):
        occluded = x.copy()
        occluded[:, :, i * 5:i * 5 + 6, k * 5:k * 5 + 6] = 0
        drop = p0 - sess.run(["prob"], {"input": occluded})[0][0, c]
        assert j["map"]["values"][i][k] == pytest.approx(float(drop), abs=1e-6)


def test_foreign_graph_gap_gemm_head_is_cam(foreign, models_dir: Path) -> None:
    """A graph convscope did not write: GAP + Gemm head, so Grad-CAM at its last block is CAM."""
    client = foreign
    from PIL import Image

    img = Image.fromarray((np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8))
    import io

    buf = io.BytesIO()
    img.save(buf, "PNG")
    r = client.post("/api/models/tiny/explain", files={"image": ("x.png", buf.getvalue(), "image/png")})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["layer"] == "r3" and (j["map"]["height"], j["map"]["width"]) == (16, 16)
    # CAM by hand from the exposed activation and the file's fc weights
    model = onnx.load(str(models_dir / "tiny.onnx"))
    w = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    info = client.get("/api/models/tiny").json()
    from app.serving import preprocess as pre

    x = pre.photo(pre.open_image(buf.getvalue(), 1 << 24), info["input_shape"], (0.485, 0.456, 0.406),
                  (0.229, 0.224, 0.225), 1.0, False)
    sess = ort.InferenceSession(str(models_dir / ".tiny.convscope.onnx"), providers=["CPUExecutionProvider"])
    a = sess.run(["r3"], {"data": x})[0][0]
    cam = np.maximum(np.tensordot(w["fc_w"][j["target"]["index"]] / 256, a, axes=1), 0)
    got = np.asarray(j["map"]["values"])
    assert np.abs(got - cam).max() <= 1e-5 * max(cam.max(), 1e-6)
    layers = client.get("/api/models/tiny/explain").json()
    assert layers["layers"][-1] == "r3" and layers["default_layer"] == "r3"
    deeper = client.post("/api/models/tiny/explain", files={"image": ("x.png", buf.getvalue(), "image/png")},
                         data={"layer": layers["layers"][0]})
    assert deeper.status_code == 200, deeper.text


def _sigmoid_head(path: Path) -> None:
    """A classifier whose head has a Sigmoid between the pooling and the Gemm: not readable."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32) * 0.2, n)
             for n, s in (("w", (4, 3, 3, 3)), ("fw", (10, 4)), ("fb", (10,)))]
    n = helper.make_node
    nodes = [n("Conv", ["data", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]), n("Relu", ["c"], ["r"]),
             n("GlobalAveragePool", ["r"], ["g"]), n("Sigmoid", ["g"], ["s"]), n("Flatten", ["s"], ["f"]),
             n("Gemm", ["f", "fw", "fb"], ["logits"], transB=1), n("Softmax", ["logits"], ["p"], axis=1)]
    graph = helper.make_graph(nodes, "sig", [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("p", TensorProto.FLOAT, [1, 10])], initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))


def test_an_unreadable_head_is_a_422_saying_why(foreign) -> None:
    client = foreign
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (20, 20), (200, 10, 10)).save(buf, "PNG")
    r = client.post("/api/models/sig/explain", files={"image": ("x.png", buf.getvalue(), "image/png")})
    assert r.status_code == 422
    msg = r.json()["error"]["message"]
    assert "head cannot be read" in msg and "Sigmoid" in msg
    zh = client.post("/api/models/sig/explain?lang=zh", files={"image": ("x.png", buf.getvalue(), "image/png")})
    msg = zh.json()["error"]["message"]  # the sentence, then the English details naming the node in the way
    assert zh.status_code == 422 and msg.startswith("无法读取这个模型的分类头，因此无法解释它。（") and "Sigmoid" in msg
    opts = client.get("/api/models/sig/explain").json()
    assert opts["layers"] == [] and "Sigmoid" in opts["error"]


@pytest.mark.parametrize(("extra", "words"), [
    ({"method": "lime"}, ["gradcam", "occlusion", "rise"]),
    ({"layer": "F6"}, ["C1, S2, C3, S4", "default S4"]),
    ({"target": 10}, ["0 to 9"]),
    ({"target": -1}, ["target"]),
    ({"method": "occlusion", "patch": 40}, ["between 1 and 32"]),
    ({"method": "occlusion", "patch": 2, "stride": 1}, ["961 occluded copies", "at most 256"]),
    ({"method": "occlusion", "patch": 0}, ["patch"]),
    ({"method": "occlusion", "layer": "C3"}, ["gradcam only"]),
    ({"patch": 8}, ["occlusion only"]),
    ({"colour": "red"}, ["colour"]),
    ({"target": True}, ["target", "not a boolean"]),  # JSON true is not class 1
    ({"method": "occlusion", "patch": True}, ["patch", "not a boolean"]),
    ({"method": "occlusion", "stride": False}, ["stride", "not a boolean"]),
])
def test_bad_options_are_422_with_the_valid_values(client, extra: dict, words: list[str]) -> None:
    r = _post(client, {"model": "lenet5", "pixels": _digit(), **extra})
    assert r.status_code == 422, r.text
    body = r.json()["error"]
    assert body["code"] in ("invalid_input",) and all(w in body["message"] for w in words), body["message"]


def test_other_refusals(client) -> None:
    assert _post(client, {"model": "nope", "pixels": _digit()}).status_code == 404
    assert _post(client, {"model": "lenet5"}).status_code == 422
    assert _post(client, {"pixels": _digit()}).status_code == 422  # no model
    r = client.post("/api/explain", content=b"{", headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = client.post("/api/explain?method=occlusion&patch=abc", json={"model": "lenet5", "pixels": _digit()})
    assert r.status_code == 422 and "patch" in r.json()["error"]["message"]
    assert client.get("/api/models/nope/explain").status_code == 404


def test_progress_streams_as_ndjson(client) -> None:
    r = client.post("/api/explain", json={"model": "lenet5", "pixels": _digit(), "method": "occlusion"},
                    headers={"accept": "application/x-ndjson"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(x) for x in r.text.splitlines() if x]
    assert "result" in lines[-1] and lines[-1]["result"]["method"] == "occlusion"
    for p in (x["progress"] for x in lines[:-1]):
        assert 0 <= p["done"] <= p["total"] == 72
    bad = client.post("/api/explain", json={"model": "lenet5", "pixels": _digit(), "layer": "zz"},
                      headers={"accept": "application/x-ndjson"})
    assert bad.status_code == 200 and json.loads(bad.text.splitlines()[-1])["error"]["status"] == 422


def test_options_say_what_each_method_costs(client) -> None:
    j = client.get("/api/models/lenet5/explain").json()
    assert j["layers"] == ["C1", "S2", "C3", "S4"] and j["default_layer"] == "S4"
    assert j["patch"]["default"] == 8 and j["stride"]["default"] == 4
    assert j["runs"] == {"gradcam": 23, "occlusion": 72, "rise": 1023}
    assert len(j["colormap"]) == 9


def test_openapi_documents_the_routes(client) -> None:
    doc = client.get("/openapi.json").json()
    post = doc["paths"]["/api/explain"]["post"]
    props = post["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert {"image", "method", "target", "layer", "patch", "stride"} <= set(props)
    assert "/api/models/{name}/explain" in doc["paths"]


def test_spearman_and_upsample() -> None:
    a = np.array([1.0, 2, 3, 4])
    assert spearman(a, a * 10) == 1.0 and spearman(a, -a) == -1.0 and spearman(a, np.ones(4)) is None
    assert spearman(np.array([1.0, 1, 2, 3]), np.array([1.0, 2, 3, 4])) == pytest.approx(0.948683, abs=1e-6)
    torch = pytest.importorskip("torch")
    m = np.random.default_rng(0).random((7, 7)).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.from_numpy(m)[None, None], size=(224, 224), mode="bilinear",
                                          align_corners=False)[0, 0].numpy()
    assert np.abs(upsample(m, 224, 224) - ref).max() < 1e-5


def test_bench_section_measures_gradcam_and_occlusion(models_dir: Path) -> None:
    from app.bench.explain import section

    (row,) = section(["lenet5"], models_dir, 2)
    assert row["layer"] == "S4"
    for key in ("predict_ms", "logits_ms", "gradcam_ms", "explain_full_ms", "occlusion_ms_per_position"):
        assert row[key] > 0, key
    # the row's ms are rounded to 1 us, LeNet's take ~0.1 ms: the ratios agree to that rounding
    assert row["gradcam_vs_predict"] == pytest.approx(row["gradcam_ms"] / row["predict_ms"], rel=0.03)
    assert (row["occlusion_default"], row["occlusion_positions"]) == ("8/4", 49)  # LeNet's 32: 7×7 positions
    assert row["occlusion_default_ms"] == pytest.approx(49 * row["occlusion_ms_per_position"], abs=49 * 0.0005 + 0.05)


def test_the_sanity_head_is_not_the_untrained_files_own(tmp_path: Path) -> None:
    """Untrained built-ins are He-uniform from (0, crc32 of the name): the re-drawn head must come from
    another stream, or the sanity check compares a map with itself (it did: correlation 1.0)."""
    from app import nets
    from app.backends.onnx_write import write_model
    from app.explain.graph import Graph
    from app.weights.init import HeWeights

    net = nets.get("lenet5")
    path = write_model(net, HeWeights(net, 0), tmp_path, "untrained")
    graph = Graph(path, "prob")
    drawn = graph.randomised("S4")
    assert len(drawn) == 3  # C5, F6 and the output layer
    for name, w in drawn.items():
        own = graph.array(name)
        assert w.shape == own.shape and np.abs(w).max() > 0
        assert abs(np.corrcoef(w.ravel(), own.ravel())[0, 1]) < 0.05, name
