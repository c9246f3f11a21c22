"""The JSON API: every endpoint, every error path, and the one error shape."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from app.nets import BUILTIN_NAMES


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


def _seven() -> list[list[float]]:
    px = np.zeros((28, 28))
    px[6:9, 8:21] = 1.0  # the bar of a 7
    for i in range(9, 24):
        px[i, 19 - (i - 9) // 2: 22 - (i - 9) // 2] = 1.0  # its diagonal stroke
    return px.tolist()


def _photo(h: int = 300, w: int = 400) -> bytes:
    rng = np.random.default_rng(0)
    return _png((rng.random((h, w, 3)) * 255).astype(np.uint8))


def assert_error(r, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"status", "code", "message"}
    assert body["error"]["status"] == status and len(body["error"]["message"]) > 10
    return body["error"]


def test_healthz(client) -> None:
    body = client.get("/healthz").json()
    assert set(body) == {"status", "provider", "available_providers"} and body["status"] == "ok"
    assert body["provider"] in body["available_providers"]


def test_readyz_after_eager_lenet(client) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200 and "lenet5" in r.json()["loaded"]


def test_list_models(client) -> None:
    models = client.get("/api/models").json()
    names = [m["name"] for m in models]
    assert set(BUILTIN_NAMES) <= set(names)
    for m in models:
        assert {"name", "title", "family", "input_shape", "params", "macs", "weights", "status"} <= set(m)
        assert m["weights"] in ("trained", "imported", "file", "untrained")
        assert all(isinstance(d, int) for d in m["input_shape"])
    by = {m["name"]: m for m in models}
    assert by["vgg16-3"]["params"] == 138_357_544 and by["vgg16-3"]["weights"] == "untrained"
    assert by["lenet5"]["weights"] == "trained"


def test_model_detail_and_alias(client) -> None:
    d = client.get("/api/models/vgg16").json()
    assert d["name"] == "vgg16-3" and len(d["layers"]) == 21
    first = d["layers"][0]
    assert first["name"] == "conv1_1" and first["op"] == "Conv" and first["output_shape"] == [64, 224, 224]
    assert first["kernel"] == [3, 3] and first["stride"] == [1, 1] and first["padding"] == [1, 1, 1, 1]
    assert first["receptive_field"] == {"size": 3, "jump": 1, "start": 0.5}
    assert d["layers"][-1]["receptive_field"] is None
    assert sum(layer["params"] for layer in d["layers"]) == d["params"]


def test_unknown_model_is_404(client) -> None:
    err = assert_error(client.get("/api/models/vgg17"), 404)
    assert "vgg17" in err["message"]
    assert_error(client.post("/predict", json={"model": "nope", "pixels": _seven()}), 404)


def test_predict_pixels_digit(client) -> None:
    r = client.post("/predict", json={"model": "lenet5", "pixels": _seven(), "top_k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "lenet5" and body["weights"] == "trained"
    assert len(body["top_k"]) == 3 and body["top_k"][0]["label"] == "7"
    assert [layer["name"] for layer in body["layers"]] == ["C1", "S2", "C3", "S4", "C5", "F6", "output"]
    c1 = body["layers"][0]
    assert c1["shape"] == [6, 28, 28] and 0 <= c1["zero_fraction"] <= 1 and "maps" not in c1
    assert body["input"]["image"].startswith("data:image/png;base64,")
    assert body["timing_ms"]["total"] > 0


def test_predict_maps_format(client) -> None:
    r = client.post("/api/models/lenet5/predict", json={"pixels": _seven(), "activations": "maps"})
    layers = {layer["name"]: layer for layer in r.json()["layers"]}
    m = layers["C1"]["maps"]
    raw = base64.b64decode(m["data"])
    assert (m["channels"], m["height"], m["width"]) == (6, 28, 28) and len(raw) == 6 * 28 * 28
    assert m["min"][0] <= m["max"][0]
    f6 = layers["F6"]["maps"]
    assert (f6["channels"], f6["height"], f6["width"]) == (1, 1, 84)


def test_predict_none_has_no_layers(client) -> None:
    r = client.post("/predict?activations=none", json={"model": "lenet5", "pixels": _seven()})
    assert r.status_code == 200 and r.json()["layers"] == []


def test_predict_multipart_photo_vgg_like(client) -> None:
    r = client.post("/predict", data={"model": "resnet18", "top_k": "5"},
                    files={"image": ("p.png", _photo(), "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["weights"] == "untrained" and len(body["top_k"]) == 5
    assert body["input"]["shape"] == [3, 224, 224]
    assert body["layers"][0]["shape"] == [64, 112, 112]


def test_predict_data_url_digit_image(client) -> None:
    a = (np.array(_seven()) * 255).astype(np.uint8)
    url = "data:image/png;base64," + base64.b64encode(_png(np.kron(a, np.ones((10, 10), np.uint8)))).decode()
    r = client.post("/predict", json={"model": "lenet5", "image": url})
    assert r.status_code == 200 and r.json()["top_k"][0]["label"] == "7"


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {"model": "lenet5"}}, 422),  # no input
        ({"json": {"pixels": _seven()}}, 422),  # no model
        ({"json": {"model": "lenet5", "pixels": [[0.5] * 27] * 28}}, 422),  # wrong width
        ({"json": {"model": "lenet5", "pixels": [[2.0] * 28] * 28}}, 422),  # out of range
        ({"json": {"model": "lenet5", "pixels": [[0.0] * 28] * 28}}, 422),  # blank: draw a digit first
        ({"json": {"model": "lenet5", "image": "not base64!!"}}, 400),
        ({"json": {"model": "lenet5", "image": base64.b64encode(b"hello").decode()}}, 415),
        ({"json": {"model": "lenet5", "pixels": _seven(), "top_k": 0}}, 422),
        ({"json": {"model": "lenet5", "pixels": _seven(), "activations": "all"}}, 422),
        ({"json": {"model": "lenet5", "pixels": _seven(), "colour": 1}}, 422),  # unknown key
        ({"json": {"model": "vgg11", "pixels": _seven()}}, 422),  # pixels to a photo model
        ({"json": [1, 2]}, 422),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
        ({"content": b"abc", "headers": {"content-type": "text/plain"}}, 415),
        ({"data": {"model": "lenet5"}, "files": {"picture": ("a.png", b"x", "image/png")}}, 422),
    ],
)
def test_predict_errors(client, kwargs: dict, status: int) -> None:
    assert_error(client.post("/predict", **kwargs), status)
    # and the server keeps serving
    assert client.post("/predict", json={"model": "lenet5", "pixels": _seven()}).status_code == 200


def test_blank_canvas_says_draw_a_digit(client) -> None:
    err = assert_error(client.post("/predict", json={"model": "lenet5", "pixels": [[0.0] * 28] * 28}), 422)
    assert "draw a digit" in err["message"]


def test_body_over_limit_is_413(client) -> None:
    big = b"0" * (10 * 1024 * 1024 + 1)
    assert_error(client.post("/predict", content=big, headers={"content-type": "application/json"}), 413)


def test_unknown_route_and_method(client) -> None:
    assert_error(client.get("/api/nothing"), 404)
    assert_error(client.get("/predict"), 405)


def test_openapi_documents_predict(client) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(body)
    assert "/api/models/{name}" in spec["paths"]
