"""Shared fixtures: a models directory in tmp (with the committed LeNet-5 copied in), a test client."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
