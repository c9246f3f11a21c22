"""Issue 12 item 8: hostile checkpoints, read without PyTorch (as in the Docker image): every
storage view bounds-checked before it is built, every malformed safetensors header a one-line
error, and the import refusal cases of test_import.py, here with checkpoints written without torch."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app import importer, nets
from app.cli import main
from app.weights import weight_shapes
from tests.helpers.checkpoints import Tensor, write_safetensors, write_torch_zip

NO_TORCH = "import sys; sys.modules['torch'] = None\nfrom app.cli import main\nsys.exit(main(sys.argv[1:]))"


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError


def _cli_without_torch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_TORCH, *args], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1], env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})


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
    got = importer.read_torch(path)
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
    with pytest.raises(importer.ImportError_, match="compressed or larger than the file"):
        importer.read_torch(path)


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
    with pytest.raises(importer.ImportError_) as e:
        importer.read_safetensors(path)
    assert expect in str(e.value) and "\n" not in str(e.value), str(e.value)


def _r18() -> dict[str, np.ndarray]:
    return {k: np.zeros(s, np.float32) for k, s in weight_shapes(nets.get("resnet18")).items()}


def _safetensors(sd: dict[str, np.ndarray], path: Path) -> Path:
    header, blobs, at = {}, [], 0
    for k, v in sd.items():
        b = v.tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    return write_safetensors(path, header, b"".join(blobs))


class _Evil:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(("case", "expect"), [
    ("wrong-architecture", "not a vgg11"),
    ("missing-key", "missing key 'layer4.1.bn2.running_var'"),
    ("wrong-shape", "has shape [10, 512]"),
    ("extra-key", "unexpected key 'extra.weight'"),
    ("truncated", "could not be read"),
    ("not-a-state-dict", "not a state dict"),
    ("malicious-pickle", "could not be read"),
    ("truncated-safetensors", "truncated"),
])
def test_refusals_without_torch(tmp_path, models_dir, no_torch, capsys, case: str, expect: str) -> None:
    sd, target, path = _r18(), "resnet18", tmp_path / "ckpt.pth"
    if case == "wrong-architecture":
        target = "vgg11"
    elif case == "missing-key":
        del sd["layer4.1.bn2.running_var"]
    elif case == "wrong-shape":
        sd["fc.weight"] = np.zeros((10, 512), np.float32)
    elif case == "extra-key":
        sd["extra.weight"] = np.zeros(3, np.float32)
    if case == "not-a-state-dict":
        import zipfile

        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", pickle.dumps([1, 2, 3]))
    elif case == "malicious-pickle":
        import zipfile

        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", pickle.dumps({"conv1.weight": _Evil()}))
    elif case == "truncated-safetensors":
        path = _safetensors(sd, tmp_path / "ckpt.safetensors")
        path.write_bytes(path.read_bytes()[:100_000])
    else:
        write_torch_zip(path, sd)
        if case == "truncated":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    before = {p.name for p in models_dir.iterdir()}
    assert main(["import", target, str(path), "--models-dir", str(models_dir)]) == 1
    err = capsys.readouterr().err
    assert expect in err and "pwned" not in err, err
    assert {p.name for p in models_dir.iterdir()} == before
