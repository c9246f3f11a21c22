"""Shared fixtures: a models directory in tmp (with the committed LeNet-5 copied in), a test client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.server import copy_lenet

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# servers the tests start may download (they bind to loopback): point them at a closed loopback port, so
# no test reaches the internet unless it arranges a mirror of its own
os.environ.setdefault("CONVSCOPE_DOWNLOAD_URL", "http://127.0.0.1:9/")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    d = tmp_path / "models"
    d.mkdir()
    copy_lenet(d)
    return d


@pytest.fixture
def client(models_dir: Path) -> Iterator:
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.web.app import create_app

    with TestClient(create_app(Settings.from_env(models_dir=models_dir)), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real `convscope serve` on loopback for the session: the committed LeNet-5 and a tiny foreign model."""
    from tests.helpers.foreign import tiny_resnet
    from tests.helpers.server import serve

    d = tmp_path_factory.mktemp("server-models")
    copy_lenet(d)
    tiny_resnet(d / "tiny.onnx")
    with serve(d, "--log-level", "warning") as url:
        yield url
