"""Hostile and malformed input, table-driven: each gets a specific 4xx (or a correct 200) with a
message a person can read, and afterwards a known-good request still gets the same answer."""

from __future__ import annotations

import base64
import io
import json
import math
import struct
import zlib
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.config import Settings
from app.web.app import create_app
from tests.conftest import ROOT
from tests.helpers.images import GOOD, PHOTO, SEVEN, png

LIMIT = 300_000  # a small body limit keeps the just-over / just-under cases fast


def img_bytes(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def huge_png_header(w: int, h: int) -> bytes:
    """A PNG that declares w x h pixels but carries almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\0" * 100))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def gif_frames(n: int) -> bytes:
    frames = [Image.new("P", (8, 8), i % 256) for i in range(n)]
    return img_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:])


CAT = (ROOT / "static" / "samples" / "chelsea.jpg").read_bytes()
RNG = np.random.default_rng(1)
DIGIT_IMG = png((np.kron(SEVEN, np.ones((8, 8))) * 255).astype(np.uint8))
B64 = base64.b64encode(PHOTO).decode()


def data_url(b: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(b).decode()


def just(n: int) -> bytes:
    """A JSON predict body of exactly n bytes (padded with spaces), valid and good."""
    body = json.dumps({"model": "resnet18", "image": data_url(PHOTO), "activations": "none"}).encode()
    return body + b" " * (n - len(body))


def parts(n: int, name: str = "f{i}", value: str = "v") -> tuple[bytes, str]:
    b = "X" * 16
    body = "".join(f"--{b}\r\nContent-Disposition: form-data; name=\"{name.format(i=i)}\"\r\n\r\n{value}\r\n"
                   for i in range(n))
    return (body + f"--{b}--\r\n").encode(), f"multipart/form-data; boundary={b}"


def multipart(prefix: bytes, header_pad: int = 0) -> tuple[bytes, str]:
    b = "Y" * 16
    body = (prefix + f"--{b}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n".encode()
            + (b"X-Pad: " + b"a" * header_pad + b"\r\n" if header_pad else b"")
            + b"Content-Type: image/png\r\n\r\n" + PHOTO + f"\r\n--{b}\r\nContent-Disposition: form-data; "
            f"name=\"model\"\r\n\r\nresnet18\r\n--{b}--\r\n".encode())
    return body, f"multipart/form-data; boundary={b}"


def J(obj: object) -> dict:
    return {"json": obj}


def RAW(body: bytes, ctype: str = "application/json", **headers: str) -> dict:
    return {"content": body, "headers": {"content-type": ctype, **headers}}


def FILE(data: bytes, model: str = "resnet18", name: str = "image", filename: str = "x.png") -> dict:
    return {"data": {"model": model, "activations": "none"}, "files": {name: (filename, data, "image/png")}}


_cmyk = img_bytes(Image.new("CMYK", (40, 30), (10, 200, 30, 5)), "JPEG")
_pa = Image.new("P", (20, 20), 1)
_pa.info["transparency"] = 0
_seq = iter(range(10_000))

CASES: list[tuple[str, str, dict, int]] = [
    # (id, path, request kwargs, expected status)
    ("body-just-under-limit", "/predict", RAW(just(LIMIT - 1)), 200),
    ("body-at-limit", "/predict", RAW(just(LIMIT)), 200),
    ("body-just-over-limit", "/predict", RAW(just(LIMIT + 1)), 413),
    ("body-far-over", "/predict", RAW(b"0" * (LIMIT * 4)), 413),
    ("chunked-over-limit", "/predict", {"content": iter([b"[" + b"0," * 1000] * 200),
                                        "headers": {"content-type": "application/json"}}, 413),
    ("chunked-multipart-over-limit", "/predict",
     {"content": iter([multipart(b"")[0][:200]] + [b"x" * 10_000] * 40),
      "headers": {"content-type": multipart(b"")[1]}}, 413),
    ("bad-content-length", "/predict", RAW(b"{}", **{"content-length": "abc"}), 400),
    ("negative-content-length", "/predict", RAW(b"{}", **{"content-length": "-5"}), 400),
    ("thousands-of-parts", "/predict", RAW(*parts(2000)), 400),
    ("huge-part-header", "/predict", (lambda b, c: RAW(b, c))(*multipart(b"", header_pad=200_000)), 400),
    ("crlf-flood-before-boundary", "/predict", (lambda b, c: RAW(b, c))(*multipart(b"\r\n" * 100_000)), 200),
    ("multipart-no-boundary", "/predict", RAW(b"--x\r\n", "multipart/form-data"), 400),
    ("urlencoded-form", "/predict", {"data": {"model": "resnet18"}}, 415),
    ("missing-image-field", "/predict", RAW(*parts(1, "model", "resnet18")), 422),
    ("misnamed-file-field", "/predict", FILE(PHOTO, name="picture"), 422),
    ("empty-file", "/predict", FILE(b""), 400),
    ("non-image-bytes", "/predict", FILE(b"%PDF-1.4 not an image at all"), 415),
    ("svg-not-allowed", "/predict", FILE(b"<svg xmlns='http://www.w3.org/2000/svg'/>", filename="x.svg"), 415),
    ("tiff-not-allowed", "/predict", FILE(img_bytes(Image.new("RGB", (8, 8)), "TIFF")), 415),
    ("truncated-png", "/predict", FILE(PHOTO[: len(PHOTO) // 2]), 400),
    ("truncated-jpeg", "/predict", FILE(CAT[: len(CAT) // 3], filename="x.jpg"), 400),
    ("png-declares-30000x30000", "/predict", FILE(huge_png_header(30000, 30000)), 413),
    ("gif-10000-frames", "/predict", FILE(gif_frames(10_000), filename="x.gif"), 200),
    ("png-16-bit", "/predict", FILE(png((RNG.random((30, 30)) * 65535).astype(np.uint16))), 200),
    ("jpeg-cmyk", "/predict", FILE(_cmyk, filename="x.jpg"), 200),
    ("png-palette-alpha", "/predict", FILE(img_bytes(_pa, "PNG")), 200),
    ("png-1x1-photo", "/predict", FILE(png(np.zeros((1, 1, 3), np.uint8))), 200),
    ("png-1x1-digit", "/predict", FILE(png(np.zeros((1, 1), np.uint8)), model="lenet5"), 422),
    ("bad-base64", "/predict", J({"model": "resnet18", "image": "data:image/png;base64,@@@"}), 400),
    ("base64-not-image", "/predict", J({"model": "resnet18", "image": base64.b64encode(b"hello").decode()}), 415),
    ("data-url-ok", "/predict", J({"model": "resnet18", "image": "data:image/png;base64," + B64,
                                   "activations": "none"}), 200),
    ("pixels-wrong-length", "/predict", J({"model": "lenet5", "pixels": [[0.0] * 28] * 27}), 422),
    ("pixels-nan", "/predict", RAW(json.dumps({"model": "lenet5", "pixels": [[math.nan] * 28] * 28}).encode()), 422),
    ("pixels-infinity", "/predict", RAW(b'{"model": "lenet5", "pixels": [[Infinity' + b", 0" * 27 + b"]]}"), 422),
    ("pixels-strings", "/predict", J({"model": "lenet5", "pixels": [["0.5"] * 28] * 28}), 422),
    ("pixels-nested", "/predict", J({"model": "lenet5", "pixels": [[[0.5]] * 28] * 28}), 422),
    ("pixels-negative", "/predict", J({"model": "lenet5", "pixels": [[-0.1] * 28] * 28}), 422),
    ("deeply-nested-json", "/predict", RAW(b"[" * 100_000 + b"]" * 100_000), 400),
    ("json-null", "/predict", RAW(b"null"), 422),
    ("top-k-string", "/predict", J({**GOOD, "top_k": "many"}), 422),
    ("top-k-huge", "/predict", J({**GOOD, "top_k": 10**9}), 422),
    ("unknown-model", "/predict", J({**GOOD, "model": "lenet6"}), 404),
    ("traversal-model", "/predict", J({**GOOD, "model": "../../etc/passwd"}), 404),
    ("absolute-path-model", "/predict", J({**GOOD, "model": "/etc/passwd"}), 404),
    ("non-model-file-name", "/predict", J({**GOOD, "model": "imagenet_classes"}), 404),
    ("card-file-name", "/predict", J({**GOOD, "model": "lenet5.card"}), 404),
    ("traversal-path-encoded", "/api/models/..%2F..%2Fetc%2Fpasswd/predict", J(GOOD), 404),
    ("encoded-dots-path", "/api/models/%2e%2e/predict", J(GOOD), 404),
    ("digit-pixels-to-vgg", "/predict", J({**GOOD, "model": "vgg11"}), 422),
    ("digit-image-to-resnet", "/predict", FILE(DIGIT_IMG), 200),
    ("photo-to-lenet", "/predict", FILE(CAT, model="lenet5", filename="x.jpg"), 200),
    ("text-plain", "/predict", RAW(b"hello", "text/plain"), 415),
    ("no-content-type", "/predict", {"content": b"{}"}, 415),
]


@pytest.fixture(scope="module")
def hostile_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    import shutil

    d = tmp_path_factory.mktemp("models")
    for f in ("lenet5.onnx", "lenet5.card.json"):
        shutil.copy(ROOT / "models" / f, d / f)
    settings = Settings.from_env(models_dir=d, max_body_bytes=LIMIT)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def test_table_is_big_enough() -> None:
    assert len(CASES) >= 30 and len({c[0] for c in CASES}) == len(CASES)


def test_hostile_inputs(hostile_client: TestClient) -> None:
    c = hostile_client
    before = c.post("/predict", json=GOOD).json()["top_k"]
    failures = []
    for name, path, kwargs, status in CASES:
        r = c.post(path, **kwargs)
        if r.status_code != status:
            failures.append(f"{name}: {r.status_code} (expected {status}): {r.text[:200]}")
            continue
        body = r.json()
        if status >= 400:
            err = body.get("error", {})
            if err.get("status") != status or len(err.get("message", "")) < 15 or "Traceback" in r.text:
                failures.append(f"{name}: unhelpful error {body}")
        elif "top_k" not in body:
            failures.append(f"{name}: 200 without predictions")
    assert not failures, "\n".join(failures)
    # the server kept serving, with the same answer
    assert c.get("/healthz").status_code == 200
    assert c.post("/predict", json=GOOD).json()["top_k"] == before
