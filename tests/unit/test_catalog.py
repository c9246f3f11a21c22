"""The catalog and the registry's status: a ModelInfo is never edited (a sidecar or a reload makes a new
one), the registry alone says whether a model is available, loaded or broken, and an import resolves
its definition once and names the checkpoint in its refusals."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from app import nets
from app.catalog import sources
from app.catalog.sidecar import apply_sidecar
from app.config import Settings
from app.errors import AppError
from app.serving.registry import Registry
from app.weights import importer
from app.weights.init import he_init
from tests.helpers.checkpoints import write_torch_zip
from tests.helpers.foreign import tiny_resnet


def test_model_info_is_frozen_and_a_sidecar_makes_a_new_one(tmp_path: Path) -> None:
    tiny_resnet(tmp_path / "pets.onnx", classes=3)
    info = sources.FileSource(tmp_path / "pets.onnx").info
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.title = "x"  # type: ignore[misc]
    named = apply_sidecar(info, {"title": "Pets", "labels": ["cat", "dog", "hamster"]}, 3)
    assert named.title == "Pets" and named.label_names == ["cat", "dog", "hamster"]
    assert info.title == "pets" and info.label_names is None  # the original is untouched


def test_unservable_files_say_which_file_and_why(tmp_path: Path) -> None:
    (tmp_path / "junk.onnx").write_bytes(b"not an onnx file")
    tiny_resnet(tmp_path / "side.onnx")
    (tmp_path / "side.json").write_text(json.dumps({"kind": "sound"}))
    found = sources.scan(Settings.from_env(models_dir=tmp_path, eager=()))
    assert found["junk"].error is not None and found["junk"].error.startswith("junk.onnx: ")
    assert found["side"].error == "side.json: kind must be 'photo' or 'digit'"
    assert found["lenet5"].error is None
    assert sources.lookup(found, "VGG16") is found["vgg16-3"] and sources.lookup(found, "nope") is None


def test_the_registry_owns_status(models_dir: Path) -> None:
    (models_dir / "junk.onnx").write_bytes(b"not an onnx file")
    reg = Registry(Settings.from_env(models_dir=models_dir, eager=()))
    assert reg.status("lenet5") == ("available", None)
    info = reg.info("lenet5")
    reg.session("lenet5")
    assert reg.status("lenet5") == ("loaded", None)
    assert reg.info("lenet5") is info  # loading changed the registry's status, not the ModelInfo
    status = {m["name"]: m["status"] for m in reg.summaries()}
    assert status["lenet5"] == "loaded" and status["junk"] == "error" and status["alexnet"] == "available"
    with pytest.raises(AppError) as e:
        reg.ensure_available("junk")
    assert e.value.status == 503 and "junk.onnx" in e.value.message


def test_an_import_resolves_the_definition_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = nets.get
    monkeypatch.setattr(nets, "get", lambda name: calls.append(name) or real(name))
    weights = he_init(real("lenet5"), seed=1)
    ckpt = write_torch_zip(tmp_path / "mine.pth", weights)
    card = importer.import_checkpoint("lenet5", ckpt, tmp_path / "models")
    assert calls == ["lenet5"] and card["weights"] == "imported"
    del weights["output.0.bias"]
    with pytest.raises(importer.ImportError_, match=r"^short\.pth: lenet5: missing weight 'output\.0\.bias'"):
        importer.import_checkpoint("lenet5", write_torch_zip(tmp_path / "short.pth", weights), tmp_path / "models")
