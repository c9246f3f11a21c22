"""The same app on Ray Serve, on loopback: 2 replicas answer, with the single-process server's
results, every Ray socket on 127.0.0.1, and a clean shutdown that leaves no Ray process behind."""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.web.app import create_app
from tests.conftest import ROOT
from tests.helpers.images import GOOD, PHOTO
from tests.helpers.server import free_port

pytest.importorskip("ray.serve")
pytestmark = pytest.mark.slow

RAY_PROCS = re.compile(r"raylet|gcs_server|ray::")


def _ray_pids() -> set[int]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout.splitlines()[1:]
    return {int(line.split()[0]) for line in out if RAY_PROCS.search(line)}


def _not_loopback(pids: set[int]) -> list[str]:
    """TCP sockets of these processes whose local or peer address is not loopback."""
    out = subprocess.run(["ss", "-tnpaH"], capture_output=True, text=True).stdout.splitlines()
    bad = []
    for line in out:
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if not owners & pids:
            continue
        cols = line.split()
        addrs = cols[3:4] if cols[0] == "LISTEN" else cols[3:5]  # a listener's peer column is a wildcard
        for addr in addrs:
            host = addr.rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:")
            if not (host.startswith("127.") or host == "::1"):  # also refuses 0.0.0.0, :: and *
                bad.append(line)
    return bad


def test_two_replicas_on_loopback_match_the_single_process_server(models_dir) -> None:
    assert not _ray_pids(), "a Ray instance is already running on this machine"
    port = free_port()
    env = {**os.environ, "CONVSCOPE_MODELS_DIR": str(models_dir), "OMP_WAIT_POLICY": "PASSIVE"}
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--ray", "--replicas", "2",
                             "--port", str(port)], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    photo = {"model": "resnet18", "image": base64.b64encode(PHOTO).decode(), "activations": "none"}
    try:
        while time.monotonic() - t0 < 90:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("Ray Serve did not become ready in 90 s")
        # Serve's proxy learns of running replicas by long poll, so the second may join the
        # router a moment after /readyz: ask until both have answered (16 asks at least, 60 s most)
        replicas, answers, i, t1 = set(), {}, 0, time.monotonic()
        while i < 16 or (len(replicas) < 2 and time.monotonic() - t1 < 60):
            body = GOOD if i % 2 else photo
            r = httpx.post(url + "/predict", json=body, timeout=60)
            assert r.status_code == 200, r.text
            replicas.add(r.headers["x-convscope-replica"])
            answers.setdefault(body["model"], []).append(r.json()["top_k"])
            i += 1
        assert len(replicas) == 2, (replicas, i)  # both replicas served
        pids = _ray_pids() | {proc.pid}
        assert not _not_loopback(pids), _not_loopback(pids)
        assert httpx.get(url + "/api/models/vgg16").json()["params"] == 138_357_544  # the same API
        assert "convscope_requests_total" in httpx.get(url + "/metrics").text
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(60)
    assert rc == 0
    deadline = time.monotonic() + 20
    while _ray_pids() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _ray_pids(), "Ray processes left behind"
    # the same results as the single-process server, replica by replica
    with TestClient(create_app(Settings.from_env(models_dir=models_dir))) as c:
        for model, body in (("lenet5", GOOD), ("resnet18", photo)):
            want = c.post("/predict", json=body).json()["top_k"]
            for got in answers[model]:
                assert [t["index"] for t in got] == [t["index"] for t in want]
                for g, w in zip(got, want, strict=True):
                    assert abs(g["probability"] - w["probability"]) < 1e-5
    shutil.rmtree(models_dir, ignore_errors=True)
