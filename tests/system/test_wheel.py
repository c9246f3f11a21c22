"""The wheel works: built from this checkout, installed into a clean venv (offline: its dependencies are
re-packed from this interpreter), `convscope serve` started from an unrelated folder serves the pages,
the static files and a LeNet-5 prediction from the per-user models folder it seeds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import httpx
import pytest

from tests.helpers import wheelhouse
from tests.helpers.images import digit_body
from tests.helpers.server import free_port

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["app", "static", "templates", "requirements", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md"]
SHIPPED_MODELS = ["lenet5.onnx", "lenet5.card.json", "imagenet_classes.tsv"]


def build_wheel(tmp: Path) -> Path:
    """Build from a copy of the sources, so no stale build/ folder in the checkout can leak into it."""
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif p.exists():
            shutil.copy(p, src / name)
    (src / "models").mkdir()
    for f in SHIPPED_MODELS:
        shutil.copy(ROOT / "models" / f, src / "models" / f)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    str(src), "-w", str(tmp / "dist")], check=True, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("convscope-*.whl")
    return wheel


def _wait_ready(proc: subprocess.Popen, url: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, f"{proc.args} exited"
        time.sleep(0.1)
    pytest.fail(f"{proc.args} did not become ready")


@pytest.mark.slow
def test_wheel_installs_and_serves_from_any_folder(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    for f in ["app/_data/templates/base.html", "app/_data/static/js/draw.js", "app/_data/static/css/site.css",
              *[f"app/_data/models/{m}" for m in SHIPPED_MODELS]]:
        assert f in names, f"{f} missing from the wheel"
    in_package = [str(f.relative_to(ROOT)) for f in (ROOT / "app").rglob("*")
                  if f.is_file() and "__pycache__" not in f.parts and f.suffix not in (".pyc", ".pyo")]
    assert not [f for f in in_package if f not in names], "files of app/ missing from the wheel"
    assert not [n for n in names if n.startswith("app/_data/models/") and n.rsplit("/", 1)[1] not in SHIPPED_MODELS]
    meta = Parser().parsestr(zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    house = tmp_path / "wheelhouse"
    wheelhouse.build([r for r in meta.get_all("Requires-Dist") if "extra ==" not in r], house)

    data_home = tmp_path / "data-home"
    # a user's environment: none of this shell's CONVSCOPE_*, PYTHONPATH (which would import this checkout) or venv
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVSCOPE_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(data_home), OMP_WAIT_POLICY="PASSIVE")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)  # this interpreter's pip installs into it (faster)
    py = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-compile",
                    "--disable-pip-version-check", "--no-index", "--find-links", str(house), str(wheel)],
                   check=True, cwd=tmp_path, env=env)
    installed = subprocess.run([str(py), "-c", "import app; print(app.__file__)"], check=True, text=True,
                               capture_output=True, cwd=tmp_path, env=env).stdout
    assert installed.startswith(str(env_dir)), installed

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    proc = subprocess.Popen([str(env_dir / "bin" / "convscope"), "serve", "--port", str(port),
                             "--log-level", "warning"], cwd=elsewhere, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, url)
        assert "LeNet-5" in httpx.get(url + "/").text
        assert httpx.get(url + "/draw").status_code == 200
        js = httpx.get(url + "/static/js/draw.js")
        assert js.status_code == 200 and js.text == (ROOT / "static" / "js" / "draw.js").read_text()
        detail = httpx.get(url + "/api/models/lenet5").json()
        assert detail["weights"] == "trained", detail.get("weights")
        r = httpx.post(url + "/predict", json=digit_body("lenet5"), timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["top_k"][0]["label"] == "1"
        seeded = data_home / "convscope" / "models"
        assert (seeded / "lenet5.onnx").read_bytes() == (ROOT / "models" / "lenet5.onnx").read_bytes()
        assert not list(elsewhere.iterdir()), "serve wrote into the working directory"
    finally:
        proc.terminate()
        proc.wait(10)
    # the benchmark's minimal endpoint runs from the installed package too, on the LeNet-5 it ships
    port = free_port()
    proc = subprocess.Popen([str(py), "-m", "app.bench.minimal", "--port", str(port)], cwd=elsewhere, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, url)
        r = httpx.post(url + "/predict", json=digit_body("lenet5"), timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["top_k"][0]["index"] == 1
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"wheel {wheel.stat().st_size / 1e3:.0f} kB; build+install+serve {time.perf_counter() - t0:.1f} s")
