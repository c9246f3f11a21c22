"""A client that disconnects mid-upload is logged in one line, not a traceback (issue 11 item 9): a real
server process and raw sockets on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import httpx

from tests.conftest import ROOT
from tests.helpers.server import free_port


def _half_upload(port: int, path: str, content_type: str, head: bytes) -> None:
    """Announce a large body, send the first bytes of it, then close the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
                  f"Content-Length: 200000\r\n\r\n".encode() + head)
        time.sleep(0.3)


def test_client_gone_mid_upload_logs_one_line(tmp_path) -> None:
    for f in ("lenet5.onnx", "lenet5.card.json"):
        shutil.copy(ROOT / "models" / f, tmp_path / f)
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "CONVSCOPE_MODELS_DIR": str(tmp_path), "OMP_WAIT_POLICY": "PASSIVE"}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--log-level", "info"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        before = log.read_text()
        _half_upload(port, "/predict", "application/json", b'{"model": "lenet5", "image": "data:image/png;base64,iVBOR')
        boundary = "xyz"
        _half_upload(port, "/api/models/lenet5/predict", f"multipart/form-data; boundary={boundary}",
                     f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
                     f'Content-Type: image/png\r\n\r\n\x89PNG'.encode("latin-1"))
        time.sleep(1.0)
        assert httpx.get(url + "/healthz", timeout=5).status_code == 200  # the server is fine
    finally:
        proc.terminate()
        proc.wait(20)
    new = log.read_text()[len(before):]
    assert "Traceback" not in new and "unexpected error" not in new, new
    gone = [line for line in new.splitlines() if "disconnected" in line]
    assert len(gone) == 2, new  # one line per dropped upload
    assert all(len(line) < 300 for line in gone), gone
