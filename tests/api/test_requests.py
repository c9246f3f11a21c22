"""Request parsing shared by the routes: a query parameter given twice is refused on GET as on POST, and a
name from the request is cut in the messages that echo it."""

from __future__ import annotations

import pytest

from tests.helpers.drawn_digits import render


@pytest.mark.parametrize("url", [
    "/api/models/lenet5/rf?layer=C3&y=5&x=2&y=6",
    "/api/models/lenet5/kernels?layer=C1&layer=C3",
    "/api/models/lenet5/kernels?layer=C1&filter=0&filter=1",
    "/api/models/lenet5/examples?layer=C1&channel=0&channel=1",
    "/api/models/lenet5/examples?layer=C1&channel=0&lang=en&lang=zh",
])
def test_get_routes_refuse_a_query_parameter_given_twice(client, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 422, r.text  # was 200 with the last value
    twice = url.rsplit("&", 1)[1].split("=")[0]
    assert f"the query parameter '{twice}' is given twice" in r.json()["error"]["message"], r.text


def test_post_routes_refuse_it_with_the_same_words(client) -> None:
    from app.serving import preprocess as pre

    r = client.post("/api/models/lenet5/predict?top_k=3&top_k=4", json={"pixels": pre.mnistify(render(3)).tolist()})
    assert r.status_code == 422 and "the query parameter 'top_k' is given twice" in r.json()["error"]["message"]


def test_a_long_duplicate_name_is_cut(client) -> None:
    k = "k" * 5000
    r = client.get(f"/api/models/lenet5/rf?layer=C1&y=0&x=0&{k}=1&{k}=2")
    assert r.status_code == 422 and len(r.content) < 1000, len(r.content)


@pytest.mark.parametrize(("method", "url", "extra"), [
    ("GET", "/api/models/lenet5/rf", {"y": 0, "x": 0}),
    ("GET", "/api/models/lenet5/kernels", {}),
    ("GET", "/api/models/lenet5/examples", {"channel": 0}),
    ("POST", "/api/models/lenet5/unit", {"channel": 0, "y": 0, "x": 0}),
])
def test_a_20000_char_layer_name_is_cut_in_the_message(client, method: str, url: str, extra: dict) -> None:
    layer = "A" * 20_000
    if method == "GET":
        r = client.get(url, params={"layer": layer, **extra})
    else:
        from app.serving import preprocess as pre

        r = client.post(url, json={"pixels": pre.mnistify(render(3)).tolist(), "layer": layer, **extra})
    assert r.status_code == 422, r.text[:300]
    msg = r.json()["error"]["message"]
    assert f"no layer '{'A' * 100}'" in msg and "A" * 101 not in msg, msg[:300]
    assert len(r.content) < 1000, len(r.content)  # was the whole 20 KB name


PIXELS = [[0.0] * 28] * 12 + [[0.0] * 10 + [1.0] * 8 + [0.0] * 10] * 4 + [[0.0] * 28] * 12


@pytest.mark.parametrize("url", ["/api/models/lenet5/predict", "/api/models/lenet5/predict?model=resnet18"])
def test_a_named_route_refuses_another_model_in_the_request(client, url: str) -> None:
    """POST /api/models/lenet5/predict with body or query model 'resnet18' ran lenet5 without a word."""
    body = {"pixels": PIXELS} if "?" in url else {"model": "resnet18", "pixels": PIXELS}
    r = client.post(url, json=body)
    assert r.status_code == 422 and "'lenet5'" in r.json()["error"]["message"] and "'resnet18'" in r.text, r.text


def test_a_named_route_takes_the_same_model_spelled_otherwise(client) -> None:
    for same in ("lenet5", "LeNet5"):
        r = client.post("/api/models/lenet5/predict", json={"model": same, "pixels": PIXELS})
        assert r.status_code == 200, (same, r.text)
    r = client.post("/api/models/lenet5/unit", json={"model": "resnet18", "pixels": PIXELS, "layer": "C1",
                                                     "channel": 0, "y": 0, "x": 0})
    assert r.status_code == 422 and "name it once" in r.json()["error"]["message"]
