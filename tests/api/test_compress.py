"""gzip for what a browser loads (pages, /static, the OpenAPI document), the same bytes once
decoded; never for the API's answers, and nothing for a client that does not ask."""

from __future__ import annotations

import gzip

import pytest

from tests.helpers.images import GOOD

GZ = {"accept-encoding": "gzip"}
PLAIN = {"accept-encoding": "identity"}


@pytest.mark.parametrize("path", ["/", "/models/resnet152", "/compare", "/static/js/draw.js",
                                  "/static/css/site.css", "/openapi.json"])
def test_pages_and_static_files_are_gzipped_when_asked(client, path: str) -> None:
    plain = client.get(path, headers=PLAIN)
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    # the raw bytes on the wire: httpx would decode them itself
    with client.stream("GET", path, headers=GZ) as r:
        raw = b"".join(r.iter_raw())
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip", path
    assert "accept-encoding" in r.headers["vary"].lower()
    assert int(r.headers["content-length"]) == len(raw) < len(plain.content)
    assert gzip.decompress(raw) == plain.content
    head = client.head(path, headers=GZ)  # HEAD says what GET would send
    assert head.headers["content-encoding"] == "gzip" and head.content == b""


def test_resnet152s_page_shrinks_tenfold(client) -> None:
    with client.stream("GET", "/models/resnet152", headers=GZ) as r:
        raw = b"".join(r.iter_raw())
    assert len(gzip.decompress(raw)) > 10 * len(raw)


@pytest.mark.parametrize("method,path,body", [("GET", "/api/models/resnet152", None), ("GET", "/api/models", None),
                                              ("POST", "/predict", {**GOOD, "activations": "maps"}),
                                              ("GET", "/metrics", None), ("GET", "/healthz", None)])
def test_the_api_is_never_gzipped(client, method: str, path: str, body: dict | None) -> None:
    r = client.request(method, path, headers=GZ, json=body)
    assert r.status_code == 200 and "content-encoding" not in r.headers, path
