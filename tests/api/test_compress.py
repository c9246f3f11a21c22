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


def test_a_gzipped_copy_has_its_own_etag_and_no_ranges(client) -> None:
    path = "/static/js/draw.js"
    plain = client.get(path, headers=PLAIN)
    assert plain.headers["accept-ranges"] == "bytes" and not plain.headers["etag"].endswith('-gzip"')
    gz = client.get(path, headers=GZ)
    assert gz.headers["etag"] == plain.headers["etag"][:-1] + '-gzip"' and "accept-ranges" not in gz.headers
    # the gzipped copy revalidates by its own tag: 304, which also says it varies with Accept-Encoding
    again = client.get(path, headers={**GZ, "if-none-match": gz.headers["etag"]})
    assert again.status_code == 304 and "accept-encoding" in again.headers["vary"].lower()
    # a range asked against the gzipped copy's tag is not served from the plain file: the whole (gzipped) file
    ranged = client.get(path, headers={**GZ, "range": "bytes=0-99", "if-range": gz.headers["etag"]})
    assert ranged.status_code == 200 and ranged.content == plain.content
    # a range with no condition is the plain file's bytes, uncompressed
    part = client.get(path, headers={**GZ, "range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == plain.content[:100] and "content-encoding" not in part.headers


@pytest.mark.parametrize("accept", ["gzip;q=0", "gzip; q=0.0", "gzip;q=nan", "br, deflate"])
def test_gzip_refused_by_the_client_is_not_sent(client, accept: str) -> None:
    r = client.get("/static/js/draw.js", headers={"accept-encoding": accept})
    assert "content-encoding" not in r.headers, accept
    assert [v.strip().lower() for v in r.headers["vary"].split(",")].count("accept-encoding") == 1


def test_vary_names_accept_encoding_once(client) -> None:
    r = client.get("/static/js/draw.js", headers=GZ)
    assert r.headers["content-encoding"] == "gzip"
    assert [v.strip().lower() for v in r.headers["vary"].split(",")].count("accept-encoding") == 1
