"""The provider choice (onnxruntime's provider list mocked: no GPU here) and where it is shown; the
weights API's answers and refusals; `convscope serve --pretrained` against a loopback mirror."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.serving import providers
from app.web.app import create_app
from app.weights.download import loopback_host
from tests.helpers.mirror import mirror, pins
from tests.helpers.server import ROOT, copy_lenet, free_port

GPU = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_provider_choice_with_onnxruntimes_list_mocked(monkeypatch) -> None:
    assert providers.choose(GPU) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert providers.choose(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert providers.choose(["AzureExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert providers.choose(GPU, "cpu") == ["CPUExecutionProvider"]
    assert providers.choose(GPU, "CUDA") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(ValueError, match=r"no CUDA provider.*gpu extra"):
        providers.choose(["CPUExecutionProvider"], "cuda")
    with pytest.raises(ValueError, match="auto, cuda or cpu"):
        providers.choose(GPU, "tpu")
    # what the registry hands to onnxruntime follows onnxruntime's list
    monkeypatch.setattr(providers.ort, "get_available_providers", lambda: GPU)
    providers.available.cache_clear()
    try:
        from app.serving.registry import chosen as registry_providers

        assert registry_providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]
        assert registry_providers("cpu") == ["CPUExecutionProvider"]
    finally:
        providers.available.cache_clear()


def test_provider_shown_in_healthz_model_and_footer(models_dir) -> None:
    with TestClient(create_app(Settings.from_env(models_dir=models_dir))) as c:
        health = c.get("/healthz").json()
        assert health["provider"] == "CPUExecutionProvider"  # no GPU on this machine
        assert "CPUExecutionProvider" in health["available_providers"]
        assert c.get("/api/models/lenet5").json()["provider"] == "CPUExecutionProvider"  # its live session's
        assert "runs on CPU" in c.get("/").text


def test_sessions_get_the_chosen_providers_and_pages_say_which(models_dir, monkeypatch) -> None:
    """onnxruntime "offers" CUDA (mocked): sessions are asked for CUDA then CPU, /healthz and the footer name
    CUDA; the real session here can only run on the CPU (as when CUDA fails to initialise), and the model's
    detail says what its session actually runs on."""
    import onnxruntime as ort

    asked: list[list[str]] = []
    real = ort.InferenceSession

    def session(path: str, options: object = None, providers: list[str] | None = None, **kw: object) -> object:
        asked.append(list(providers or []))
        return real(path, options, providers=["CPUExecutionProvider"], **kw)

    monkeypatch.setattr(providers.ort, "get_available_providers", lambda: GPU)
    monkeypatch.setattr(ort, "InferenceSession", session)
    providers.available.cache_clear()
    try:
        with TestClient(create_app(Settings.from_env(models_dir=models_dir))) as c:
            health = c.get("/healthz").json()
            assert health["provider"] == "CUDAExecutionProvider" and health["available_providers"] == GPU
            assert "runs on CUDA" in c.get("/").text
            assert c.get("/api/models/lenet5").json()["provider"] == "CPUExecutionProvider"
        assert asked and all(a == ["CUDAExecutionProvider", "CPUExecutionProvider"] for a in asked), asked
        with TestClient(create_app(Settings.from_env(models_dir=models_dir, provider="cpu"))) as c:
            assert c.get("/healthz").json()["provider"] == "CPUExecutionProvider"
            assert "runs on CPU" in c.get("/").text
        assert asked[-1] == ["CPUExecutionProvider"]
    finally:
        providers.available.cache_clear()


def test_cuda_demanded_without_cuda_refuses_to_start(models_dir) -> None:
    with pytest.raises(ValueError, match="no CUDA provider"):
        create_app(Settings.from_env(models_dir=models_dir, provider="cuda"))


def test_loopback_hosts() -> None:
    assert all(map(loopback_host, ["127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"]))
    assert not any(map(loopback_host, ["0.0.0.0", "::", "192.168.1.4", "example.invalid", ""]))


def test_weights_api_answers_and_refusals(models_dir) -> None:
    with TestClient(create_app(Settings.from_env(models_dir=models_dir))) as c:
        st = c.get("/api/models/resnet18/weights").json()
        assert st["offer"] == {"file": "resnet18-f37072fd.pth", "size": 46_830_571}
        assert st["weights"] == "untrained" and st["allowed"] is False and st["job"] is None
        r = c.post("/api/models/resnet18/weights")
        assert r.status_code == 403 and r.json()["error"]["code"] == "downloads_disabled"
        assert "convscope serve --allow-downloads" in r.json()["error"]["message"]
        assert c.get("/api/models/vgg16/weights").json()["offer"]["file"] == "vgg16-397923af.pth"  # alias
        assert c.get("/api/models/vgg16-1/weights").json()["offer"] is None
        assert c.get("/api/models/nope/weights").status_code == 404
        zh = c.post("/api/models/resnet18/weights?lang=zh").json()["error"]["message"]
        assert "--allow-downloads" in zh and "下载" in zh
    with TestClient(create_app(Settings.from_env(models_dir=models_dir, allow_downloads=True))) as c:
        r = c.post("/api/models/vgg11/weights")  # published, but no pinned digest: not from the page
        assert r.status_code == 404 and r.json()["error"]["code"] == "no_checkpoint"
        assert c.post("/api/models/lenet5/weights").status_code == 404


@pytest.mark.slow
def test_serve_pretrained_fetches_verifies_and_imports(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from tests.helpers import tv_reference

    www = tmp_path / "www"
    www.mkdir()
    blob = www / "resnet18.pth"
    torch.save(tv_reference.make("resnet18", seed=5).state_dict(), blob)
    digest = hashlib.sha256(blob.read_bytes()).hexdigest()
    blob = blob.rename(www / f"resnet18-{digest[:8]}.pth")
    models = tmp_path / "models"
    models.mkdir()
    copy_lenet(models)
    port = free_port()
    with mirror(www) as (url, _, hits):
        env = {**os.environ, "CONVSCOPE_MODELS_DIR": str(models), "CONVSCOPE_DOWNLOAD_URL": url,
               "CONVSCOPE_DATA_DIR": str(tmp_path / "cache"), "OMP_WAIT_POLICY": "PASSIVE",
               "CONVSCOPE_TEST_CHECKPOINTS": str(pins({"resnet18": blob}, tmp_path / "pins.json"))}
        log = tmp_path / "serve.log"
        with log.open("wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port),
                                     "--pretrained", "resnet18", "--log-level", "warning"],
                                    cwd=ROOT, env=env, stderr=err)
            try:
                deadline = time.monotonic() + 240
                while time.monotonic() < deadline:
                    assert proc.poll() is None, log.read_text()
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models/resnet18", timeout=5) as r:
                            detail = json.load(r)
                        break
                    except OSError:
                        time.sleep(0.5)
                else:
                    pytest.fail("the server did not come up")
            finally:
                proc.terminate()
                proc.wait(10)
    assert detail["weights"] == "imported" and detail["sha256"] == digest
    assert hits == [f"/models/{blob.name}"]
    assert "pretrained resnet18" in log.read_text() and "sha256 verified" in log.read_text()
