"""Shared fixtures: a models directory in tmp (with the committed LeNet-5 copied in), a test client."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.loadgen import free_port

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# servers the tests start may download (they bind to loopback): point them at a closed loopback port, so
# no test reaches the internet unless it arranges a mirror of its own
os.environ.setdefault("CONVSCOPE_DOWNLOAD_URL", "http://127.0.0.1:9/")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    d = tmp_path / "models"
    d.mkdir()
    for f in ("lenet5.onnx", "lenet5.card.json"):
        if (ROOT / "models" / f).exists():
            shutil.copy(ROOT / "models" / f, d / f)
    return d


@pytest.fixture
def client(models_dir: Path) -> Iterator:
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app

    with TestClient(create_app(Settings.from_env(models_dir=models_dir)), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("server-models")
    for f in ("lenet5.onnx", "lenet5.card.json"):
        shutil.copy(ROOT / "models" / f, d / f)
    from tests.foreign import tiny_resnet

    tiny_resnet(d / "tiny.onnx")
    port = free_port()
    env = {**os.environ, "CONVSCOPE_MODELS_DIR": str(d), "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--log-level", "warning"],
                            cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("server did not become ready")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
