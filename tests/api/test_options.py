"""Issue 12 item 4: every documented predict option, at every value, gives a 200 or a 4xx with a
message -- never a 500: offsets past the channels, odd map shapes, models producing Inf/NaN,
unknown layer names, booleans for numbers, duplicate fields; HEAD wherever GET."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.web.app import create_app
from tests.helpers.hostile_models import conv_classifier
from tests.helpers.images import PHOTO, SEVEN_PIXELS
from tests.helpers.server import copy_lenet

GOOD = {"model": "lenet5", "pixels": SEVEN_PIXELS}


def _strict(text: str) -> object:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in the JSON answer")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("opts")
    copy_lenet(d)
    conv_classifier(d / "tall.onnx", c=3, h=64, w=8)
    conv_classifier(d / "infs.onnx", weight_fill=float("inf"))
    with TestClient(create_app(Settings.from_env(models_dir=d)), raise_server_exceptions=False) as client:
        yield client


def _photo(c: TestClient, model: str, **fields: str):
    return c.post("/predict", data={"model": model, **fields}, files={"image": ("x.png", PHOTO, "image/png")})


@pytest.mark.parametrize("offset", [1, 5, 119, 10_000, 1 << 20])
def test_map_offset_past_some_or_all_channels(c: TestClient, offset: int) -> None:
    r = c.post("/predict", json={**GOOD, "activations": "maps", "map_offset": offset})
    assert r.status_code == 200, r.text
    for layer in r.json()["layers"]:
        m = layer["maps"]
        want = max(0, min(16, m["total_channels"] - offset))
        assert m["channels"] == want and len(m["min"]) == want, (layer["name"], m)
        assert (m["data"] == "") == (want == 0)


def test_map_offset_out_of_range_is_422(c: TestClient) -> None:
    for bad in (10**30, 1e30, -1, "many"):
        r = c.post("/predict", json={**GOOD, "activations": "maps", "map_offset": bad})
        assert r.status_code == 422 and "map_offset" in r.json()["error"]["message"], (bad, r.text)


@pytest.mark.parametrize("size", [1, 2, 4, 7, 512])
def test_tall_narrow_maps_any_map_size(c: TestClient, size: int) -> None:
    r = _photo(c, "tall", activations="maps", map_size=str(size))
    assert r.status_code == 200, r.text
    conv = r.json()["layers"][0]
    m = conv["maps"]
    assert conv["shape"] == [8, 64, 8]
    assert m["height"] >= 1 and m["width"] >= 1 and m["height"] <= max(size, 1) * 1 + 64 // m["downsample"]
    assert len(m["data"]) == 4 * -(-m["channels"] * m["height"] * m["width"] // 3)  # base64 of c*h*w bytes


def test_non_finite_activations_are_counted_not_a_500(c: TestClient) -> None:
    for activations in ("summary", "maps"):
        r = _photo(c, "infs", activations=activations)
        assert r.status_code == 200, r.text
        body = _strict(r.text)
        conv = body["layers"][0]
        assert conv["nonfinite"] == 8 * 32 * 32  # every conv output is +-inf or NaN
        assert all(0 <= t["probability"] <= 1 for t in body["top_k"])
    ok = _photo(c, "tall")
    assert all(layer["nonfinite"] == 0 for layer in ok.json()["layers"])


def test_unknown_layer_is_422_listing_valid_names(c: TestClient) -> None:
    r = c.post("/predict", json={**GOOD, "activations": "maps", "layers": ["C1", "nope"]})
    assert r.status_code == 422
    msg = r.json()["error"]["message"]
    assert "'nope'" in msg and "C1" in msg and "F6" in msg, msg


@pytest.mark.parametrize("field", ["top_k", "map_offset", "map_channels", "map_size"])
def test_booleans_are_not_numbers(c: TestClient, field: str) -> None:
    r = c.post("/predict", json={**GOOD, field: True})
    assert r.status_code == 422 and field in r.json()["error"]["message"], r.text


def test_duplicate_fields_are_422(c: TestClient) -> None:
    r = c.post("/predict", files=[("model", (None, "tall")), ("model", (None, "lenet5")),
                                  ("image", ("x.png", PHOTO, "image/png"))])
    assert r.status_code == 422 and "twice" in r.json()["error"]["message"]
    r = c.post("/predict", content=b'{"model": "lenet5", "top_k": 3, "top_k": 4, "pixels": []}',
               headers={"content-type": "application/json"})
    assert r.status_code == 400 and "twice" in r.json()["error"]["message"]
    r = c.post("/predict?top_k=2&top_k=3", json=GOOD)
    assert r.status_code == 422 and "twice" in r.json()["error"]["message"]
    r = c.post("/predict?top_k=2", json={**GOOD, "top_k": 3})
    assert r.status_code == 422


def test_keep_alive_survives_every_option(c: TestClient) -> None:
    """The same connection answers after each odd option (the old 500 reset it)."""
    for opts in ({"map_offset": 3}, {"map_size": 1}, {"map_channels": 4096, "map_size": 512}):
        assert c.post("/predict", json={**GOOD, "activations": "maps", **opts}).status_code == 200
    assert c.get("/healthz").status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/api/models", "/api/models/lenet5",
                                  "/", "/draw", "/compare", "/models/lenet5", "/docs", "/openapi.json"])
def test_head_wherever_get(c: TestClient, path: str) -> None:
    g, h = c.get(path), c.head(path)
    assert g.status_code == 200 and h.status_code == 200, (path, h.status_code)
    assert h.content == b"" and h.headers["content-type"] == g.headers["content-type"]


def test_head_on_post_only_route_is_405(c: TestClient) -> None:
    assert c.head("/predict").status_code == 405


def test_405_allows_every_route_of_the_path(c: TestClient) -> None:
    """GET and POST /api/models/{name}/explain are two routes: a 405 names both (Starlette named the first)."""
    r = c.request("OPTIONS", "/api/models/lenet5/explain")
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) >= {"GET", "POST"}
    r = c.put("/predict")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
