"""Issue 12 item 8: hostile checkpoints, read without PyTorch (as in the Docker image): every
storage view bounds-checked before it is built, every malformed safetensors header a one-line
error. (test_import.py's refusal cases run without torch too: its ``numpy`` writer.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.weights import checkpoints
from tests.helpers.checkpoints import Tensor, write_safetensors, write_torch_zip

NO_TORCH = "import sys; sys.modules['torch'] = None\nfrom app.cli import main\nsys.exit(main(sys.argv[1:]))"


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError


def _cli_without_torch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_TORCH, *args], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2], env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})


@pytest.mark.parametrize(("view", "expect"), [
    (Tensor(np.zeros(4), 0, (1 << 26,), (1,)), "reaches past its storage of 4 values"),   # was SIGSEGV
    (Tensor(np.zeros(4), 0, (64, 64), (64, 1)), "reaches past its storage of 4 values"),  # read heap memory
    (Tensor(np.zeros(4), 2, (3,), (1,)), "reaches past"),
    (Tensor(np.zeros(4), -1, (2,), (1,)), "negative offset"),
    (Tensor(np.zeros(4), 0, (2,), (-1,)), "negative offset, size or stride"),
    (Tensor(np.zeros(4), 0, (1 << 40,), (0,)), "reaches past"),  # a broadcast view: terabytes on .copy()
])
def test_out_of_bounds_views_are_refused_not_read(tmp_path, models_dir, view: Tensor, expect: str) -> None:
    path = write_torch_zip(tmp_path / "evil.pth", {"conv1.weight": view})
    r = _cli_without_torch("import", "resnet18", str(path), "--models-dir", str(models_dir))
    assert r.returncode == 1, (r.returncode, r.stderr)  # not -11 (SIGSEGV)
    assert expect in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_in_bounds_views_read_right(tmp_path, no_torch) -> None:
    store = np.arange(20, dtype=np.float32)
    path = write_torch_zip(tmp_path / "ok.pth", {"a": Tensor(store, 3, (2, 3), (6, 2)), "e": Tensor(store, 0, (0, 5))})
    got = checkpoints.read_torch(path)
    assert got["a"].tolist() == [[3, 5, 7], [9, 11, 13]] and got["e"].shape == (0, 5)


def test_compressed_storage_is_refused(tmp_path, no_torch) -> None:
    import zipfile

    path = write_torch_zip(tmp_path / "z.pth", {"a": np.zeros(4, np.float32)})
    with zipfile.ZipFile(path) as z:
        items = {n: z.read(n) for n in z.namelist()}
    items["archive/data/0"] = np.zeros(1 << 20, np.float32).tobytes()  # 4 MB squeezed to a few KB
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in items.items():
            z.writestr(n, b)
    with pytest.raises(checkpoints.ImportError_, match="compressed or larger than the file"):
        checkpoints.read_torch(path)


F32 = np.zeros(4, np.float32).tobytes()


@pytest.mark.parametrize(("header", "data", "expect"), [
    ({"w": {"dtype": "F32", "shape": [1 << 32], "data_offsets": [0, 16]}}, F32, "has shape [4294967296]"),
    ({"w": {"dtype": "F32", "shape": [1 << 32, 1 << 32], "data_offsets": [0, 16]}}, F32, "has shape"),
    ({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, F32, "has shape [-4]"),
    ({"w": {"dtype": "F16", "shape": [2], "data_offsets": [0, 3]}}, b"abc", "holds 3 bytes; shape [2] needs 4"),
    ([1, 2, 3], b"", "it is a JSON list, not an object"),
    ({"__metadata__": "hello", "w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, F32,
     "__metadata__ must be an object of strings"),
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [-8, 8]}}, F32, "negative or reversed"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, F32, "negative or reversed"),
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": "0-16"}}, F32, "want [start, end]"),
    ({"w": [1, 2]}, F32, "described by a list"),
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 1 << 40]}}, F32, "past the end of the file"),
    ({"w": {"dtype": "Q9", "shape": [4], "data_offsets": [0, 16]}}, F32, "unsupported dtype"),
])
def test_malformed_safetensors_headers_are_one_line_errors(tmp_path, header, data: bytes, expect: str) -> None:
    path = write_safetensors(tmp_path / "x.safetensors", header, data)
    with pytest.raises(checkpoints.ImportError_) as e:
        checkpoints.read_safetensors(path)
    assert expect in str(e.value) and "\n" not in str(e.value), str(e.value)
