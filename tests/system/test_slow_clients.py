"""Issue 12 item 5: slow and silent clients cannot hold the server: a header deadline, a body
deadline (408), and a cap on open connections answered by an immediate JSON 503, on loopback."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from urllib.parse import urlparse

import httpx
import pytest

from tests.helpers.server import copy_lenet, serve

ENV = {"CONVSCOPE_HEADER_TIMEOUT_S": "1", "CONVSCOPE_BODY_TIMEOUT_S": "1", "CONVSCOPE_MAX_CONNECTIONS": "16"}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("slow")
    copy_lenet(d)
    with serve(d, env=ENV) as u:
        yield u


def _connect(url: str) -> socket.socket:
    u = urlparse(url)
    s = socket.create_connection((u.hostname, u.port), timeout=5)
    return s


def _closed_within(s: socket.socket, seconds: float, trickle: bytes = b"") -> float:
    """Seconds until the server closes ``s`` (sending ``trickle`` a byte every 0.2 s meanwhile)."""
    t0 = time.monotonic()
    s.settimeout(0.2)
    i = 0
    while time.monotonic() - t0 < seconds:
        if i < len(trickle):
            try:
                s.sendall(trickle[i:i + 1])
            except OSError:
                return time.monotonic() - t0
            i += 1
        try:
            data = s.recv(65536)
            if data == b"" or data.startswith(b"HTTP/1.1 408"):
                return time.monotonic() - t0
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - t0
    return float("inf")


def _response(s: socket.socket) -> bytes:
    """One whole HTTP response (headers and a content-length body), however the reads split it."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return int(v)
    return 0


def test_silent_connection_is_closed(url: str) -> None:
    with _connect(url) as s:
        assert _closed_within(s, 5) < 3


def test_slow_headers_are_cut_off(url: str) -> None:
    with _connect(url) as s:  # a byte every 0.2 s: the headers would take 8 s
        assert _closed_within(s, 6, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 20) < 3


def test_slow_body_gets_408(url: str) -> None:
    with _connect(url) as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                  b"content-length: 1000\r\n\r\n{")
        t0 = time.monotonic()
        s.settimeout(5)
        reply = _response(s)
        assert time.monotonic() - t0 < 3
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        body = json.loads(reply.split(b"\r\n\r\n", 1)[1])
        assert body["error"]["code"] == "body_timeout"


def test_keep_alive_connection_gets_a_new_header_deadline(url: str) -> None:
    with _connect(url) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        assert _closed_within(s, 6, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 20) < 3


def test_a_huge_request_head_is_refused_before_it_is_all_read(url: str) -> None:
    """Headers are bounded (1 MiB): a 4 MB header gets a 431 and the connection closed, where it was read
    whole (60 MB took 120 MB of the server's memory); a body of any size is still BodyLimit's to judge."""
    with _connect(url) as s:
        s.settimeout(10)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        with contextlib.suppress(OSError):  # the server may close while this is still sending
            for _ in range(64):
                s.sendall(b"a" * 65536)
        head = s.recv(65536)
    assert head.startswith(b"HTTP/1.1 431") and b"headers_too_large" in head
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()  # ~3 MB of noise as PNG: a body well past the head's bound, in one send
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (1000, 1000, 3), dtype=np.uint8)).save(buf, "PNG")
    assert buf.tell() > 2 * (1 << 20)
    r = httpx.post(url + "/predict", files={"image": ("x.png", buf.getvalue())}, data={"model": "lenet5"}, timeout=30)
    assert r.status_code in (200, 422), r.text  # read and judged (noise may have no digit), not refused
    assert httpx.get(url + "/healthz").status_code == 200


def test_a_websocket_outlives_the_header_deadline(url: str) -> None:
    """The header deadline (1 s here) is for a request's headers: a WebSocket, once upgraded, stays open
    (it was cut at the deadline, busy or idle, with no close frame)."""
    from websockets.sync.client import connect  # sync: a browser test's Playwright may hold this thread's loop

    from tests.helpers.images import GOOD

    answers = []
    with connect(url.replace("http://", "ws://") + "/ws/predict") as ws:
        for _ in range(3):
            time.sleep(1.2)  # each message after the deadline has passed again
            ws.send(json.dumps({**GOOD, "activations": "none"}))
            answers.append(len(json.loads(ws.recv(timeout=30))["top_k"]))
    assert answers == [5, 5, 5]


def test_connection_cap_refuses_fast_and_recovers(tmp_path) -> None:
    copy_lenet(tmp_path)
    # a header deadline far longer than the test: the held connections stay open however slow this machine is
    with serve(tmp_path, env={**ENV, "CONVSCOPE_HEADER_TIMEOUT_S": "60"}) as url:
        held = [_connect(url) for _ in range(16)]
        try:
            codes, slowest, until = [], 0.0, time.monotonic() + 10
            while 503 not in codes and time.monotonic() < until:  # the server may still be accepting the 16
                t0 = time.monotonic()
                r = httpx.get(url + "/healthz", timeout=5)
                slowest = max(slowest, time.monotonic() - t0)
                codes.append(r.status_code)
            assert codes[-1] == 503 and r.json()["error"]["code"] == "too_many_connections", codes
            assert slowest < 1, slowest
        finally:
            for s in held:
                s.close()
        time.sleep(0.3)
        assert httpx.get(url + "/healthz", timeout=5).status_code == 200
