"""Importing torchvision-format checkpoints (downloading them: tests/system/test_download.py), and
foreign classifiers with a sidecar."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from app import nets
from app.cli import main
from app.weights import checkpoints
from app.weights.init import weight_shapes
from tests.helpers.checkpoints import write_safetensors, write_torch_zip

try:  # the refusal cases also run without PyTorch (as in the Docker image); the rest need it
    import torch

    from tests.helpers import tv_reference
except ImportError:
    torch = None  # type: ignore[assignment]
needs_torch = pytest.mark.skipif(torch is None, reason="needs PyTorch (the reference modules and torch.save)")


def save_safetensors(sd: dict, path: Path) -> None:
    """A minimal safetensors writer (the format is a JSON header and raw little-endian bytes)."""
    header, blobs, offset = {}, [], 0
    for k, v in sd.items():
        a = np.ascontiguousarray(v.detach().cpu().numpy().astype(np.float32))
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    path.write_bytes(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def _onnx_logits(models_dir: Path, name: str, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(models_dir / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    last = sess.get_outputs()[-2].name  # the last stage: logits (the last output is the softmax)
    return sess.run([last], {"input": x})[0]


@needs_torch
@pytest.mark.parametrize(("name", "fmt"), [("alexnet-torchvision", "pth"), ("vgg11", "safetensors"),
                                           ("resnet18", "pth"), ("resnet50", "safetensors")])
def test_import_matches_the_torchvision_layout_module(tmp_path, models_dir, name: str, fmt: str) -> None:
    ref = tv_reference.make(name)
    ckpt = tmp_path / f"{name}.{fmt}"
    if fmt == "pth":
        torch.save(ref.state_dict(), ckpt)
    else:
        save_safetensors(ref.state_dict(), ckpt)
    assert main(["import", name, str(ckpt), "--models-dir", str(models_dir)]) == 0
    card = json.loads((models_dir / f"{name}.card.json").read_text())
    assert card["weights"] == "imported" and card["checkpoint_sha256"] == checkpoints.sha256(ckpt)
    x = np.random.default_rng(3).standard_normal((2, 3, 224, 224), dtype=np.float32)
    with torch.inference_mode():
        want = ref(torch.from_numpy(x)).numpy()
    got = _onnx_logits(models_dir, name, x)
    assert np.abs(got - want).max() <= 1e-4 * max(1.0, float(np.abs(want).max()))
    # the server now reports it as imported, with the checkpoint's hash
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.web.app import create_app

    with TestClient(create_app(Settings.from_env(models_dir=models_dir, eager=()))) as c:
        m = c.get(f"/api/models/{name}").json()
        assert m["weights"] == "imported" and m["sha256"] == card["checkpoint_sha256"]


def _before(models_dir: Path) -> set[str]:
    return {p.name for p in models_dir.iterdir()}


@pytest.fixture(scope="module")
def r18_state() -> dict:
    if torch is None:
        pytest.skip("needs PyTorch")
    return tv_reference.make("resnet18").state_dict()


class _Evil:
    def __reduce__(self) -> tuple:
        import os

        return (os.system, ("echo pwned",))


def _write_wrong(case: str, tmp_path: Path, writer: str) -> tuple[str, Path]:
    """The checkpoint of one refusal case, written by torch.save or (``numpy``) without PyTorch:
    torch.save()'s zip layout and safetensors from tests/helpers/checkpoints.py."""
    import pickle
    import zipfile

    if writer == "torch":
        sd = dict(tv_reference.make("resnet18").state_dict())
        zeros = torch.zeros
    else:
        sd = {k: np.zeros(v, np.float32) for k, v in weight_shapes(nets.get("resnet18")).items()}

        def zeros(*shape: int) -> np.ndarray:
            return np.zeros(shape, np.float32)
    target, path = "resnet18", tmp_path / "ckpt.pth"
    if case == "wrong-architecture":
        target = "vgg11"
    elif case == "missing-key":
        del sd["layer4.1.bn2.running_var"]
    elif case == "wrong-shape":
        sd["fc.weight"] = zeros(10, 512)
    elif case == "extra-key":
        sd["extra.weight"] = zeros(3)
    elif case == "overflowing":  # finite weights (3e38) whose products overflow: NaN against NaN "matched"
        sd = {k: (v * 0 + 3e38 if "num_batches" not in k else v) for k, v in sd.items()}
    def save(obj: dict, to: Path) -> None:
        if writer == "torch":
            torch.save(obj, to)
        else:
            write_torch_zip(to, obj)
    if case == "not-a-state-dict":
        if writer == "torch":
            torch.save([1, 2, 3], path)
        else:
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("archive/data.pkl", pickle.dumps([1, 2, 3]))
    elif case == "malicious-pickle":
        path.write_bytes(pickle.dumps({"conv1.weight": _Evil()}))
    elif case == "malicious-pickle-zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", pickle.dumps({"conv1.weight": _Evil()}))
    elif case == "truncated-safetensors":
        path = tmp_path / "ckpt.safetensors"
        if writer == "torch":
            save_safetensors(sd, path)
        else:
            header, blobs, at = {}, [], 0
            for k, v in sd.items():
                header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [at, at + v.nbytes]}
                blobs.append(v.tobytes())
                at += v.nbytes
            write_safetensors(path, header, b"".join(blobs))
        path.write_bytes(path.read_bytes()[:100_000])
    else:
        save(sd, path)
        if case == "truncated":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return target, path


@pytest.mark.parametrize("writer", ["torch", "numpy"])
@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("wrong-architecture", "not a vgg11"),
        ("missing-key", "ckpt.pth: resnet18: missing weight 'layer4.1.bn2.running_var'"),
        ("wrong-shape", "has shape [10, 512]"),
        ("extra-key", "unexpected weight 'extra.weight'"),
        ("truncated", "could not be read"),
        ("not-a-state-dict", "not a state dict"),
        ("malicious-pickle", "could not be read"),
        ("malicious-pickle-zip", "could not be read"),
        ("truncated-safetensors", "truncated"),
        ("overflowing", "NaN or infinite activations at conv1"),
    ],
)
def test_wrong_checkpoints_are_refused_cleanly(tmp_path, models_dir, monkeypatch, case: str, expect: str,
                                               writer: str, capsys) -> None:
    """``numpy``: the checkpoint written without PyTorch and imported with PyTorch unimportable (the
    Docker image's reader), so these cases run where torch is not installed; ``torch``: torch.save."""
    if writer == "torch" and torch is None:
        pytest.skip("needs PyTorch")
    target, path = _write_wrong(case, tmp_path, writer)
    if writer == "numpy":
        monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    before = _before(models_dir)
    assert main(["import", target, str(path), "--models-dir", str(models_dir)]) == 1
    err = capsys.readouterr().err
    assert expect in err and "pwned" not in err and "Traceback" not in err, err
    assert "weights_only" not in err and len(err.strip().splitlines()) == 1, err  # never "retry, unsafely"
    assert _before(models_dir) == before  # nothing half-written, no staging folder left


def test_foreign_classifier_with_sidecar(models_dir) -> None:
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.web.app import create_app
    from tests.helpers.foreign import tiny_resnet
    from tests.helpers.images import PHOTO

    tiny_resnet(models_dir / "pets.onnx", classes=3)
    (models_dir / "pets.json").write_text(json.dumps({
        "title": "Pets", "labels": ["cat", "dog", "hamster"], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],
        "input_shape": [3, 32, 32]}))
    tiny_resnet(models_dir / "plain.onnx", classes=1000)
    tiny_resnet(models_dir / "badside.onnx")
    (models_dir / "badside.json").write_text(json.dumps({"labels": ["only one"]}))
    with TestClient(create_app(Settings.from_env(models_dir=models_dir, eager=()))) as c:
        models = {m["name"]: m for m in c.get("/api/models").json()}
        assert models["pets"]["title"] == "Pets" and models["pets"]["assumed"] == []
        assert any("ImageNet" in a for a in models["plain"]["assumed"])
        assert models["badside"]["status"] == "error" and "badside.json" in models["badside"]["error"]
        r = c.post("/predict", data={"model": "pets", "top_k": "3"}, files={"image": ("x.png", PHOTO)})
        assert sorted(t["label"] for t in r.json()["top_k"]) == ["cat", "dog", "hamster"]
        r = c.post("/predict", data={"model": "plain"}, files={"image": ("x.png", PHOTO)})
        from app.catalog.labels import imagenet

        assert r.json()["top_k"][0]["label"] in imagenet()
        assert "Assumed" in c.get("/models/plain").text


def test_pth_reader_without_torch_agrees_with_torch_load(tmp_path, r18_state) -> None:
    """The restricted zip reader (used where PyTorch is absent, e.g. the Docker image) gives exactly
    what torch.load gives, and refuses pickles that build anything but tensors."""
    import os
    import pickle

    path = tmp_path / "r18.pth"
    torch.save(r18_state, path)
    mine = checkpoints.read_torch_zip(path)
    assert set(mine) == set(r18_state)
    for k, v in r18_state.items():
        assert np.array_equal(mine[k], v.numpy()), k
    half = {"w": torch.randn(3, 4).half(), "s": torch.arange(10.0)[2:8:2]}  # half and a strided view
    torch.save(half, path)
    got = checkpoints.read_torch_zip(path)
    assert np.array_equal(got["w"], half["w"].numpy()) and np.array_equal(got["s"], [2.0, 4.0, 6.0])

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x/data.pkl", pickle.dumps({"a": Evil()}))
    with pytest.raises(checkpoints.ImportError_, match="not allowed"):
        checkpoints.read_torch_zip(path)
