"""The weights label comes from what the weights are (the built file's own metadata), never from whether
a model card exists: built-in seeded models are "untrained" built, rebuilt and after a restart; "file" is
only for files convscope did not write."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx

from app import nets
from app.backends.onnx_write import card_path, write_model
from app.catalog.store import built_weights, write_builtin
from app.config import Settings
from app.serving.registry import Registry
from app.weights.init import HeWeights
from tests.helpers.foreign import tiny_resnet


def _labels(models_dir: Path) -> dict[str, str]:
    reg = Registry(Settings.from_env(models_dir=models_dir))
    return {name: src.info.weights for name, src in reg.sources.items()}


def test_every_builtin_is_untrained_before_it_is_built(tmp_path: Path) -> None:
    labels = _labels(tmp_path)
    assert {labels[n] for n in nets.BUILTIN_NAMES} == {"untrained"}


def test_built_on_demand_then_restarted_stays_untrained(tmp_path: Path) -> None:
    reg = Registry(Settings.from_env(models_dir=tmp_path))
    reg.get("resnet18").onnx_path()  # a first request builds it
    assert (tmp_path / "resnet18.onnx").exists()
    assert reg.get("resnet18").info.weights == "untrained"
    reg.refresh()
    assert reg.get("resnet18").info.weights == "untrained"
    assert _labels(tmp_path)["resnet18"] == "untrained"  # a restart: a new registry over the same folder


def test_rebuilt_over_trained_or_imported_is_untrained_and_the_stale_card_is_ignored(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2] / "models"
    for f in ("lenet5.onnx", "lenet5.card.json"):
        shutil.copy(root / f, tmp_path / f)
    assert _labels(tmp_path)["lenet5"] == "trained"  # the committed, trained LeNet-5
    write_builtin("lenet5", tmp_path)  # `convscope build lenet5` over it: the card now lies
    assert json.loads(card_path(tmp_path, "lenet5").read_text())["weights"] == "trained"
    reg = Registry(Settings.from_env(models_dir=tmp_path))
    assert reg.get("lenet5").info.weights == "untrained"
    assert reg.get("lenet5").info.card == {}
    # imported weights (the importer writes the same metadata) say so, with or without their card
    net = nets.get("resnet18")
    write_model(net, HeWeights(net, 1), tmp_path, "imported", {"checkpoint": "x.pth"})
    assert _labels(tmp_path)["resnet18"] == "imported"


def test_every_builtin_definition_builds_a_file_that_reads_untrained(tmp_path: Path) -> None:
    # The metadata a build writes, for every built-in definition (the weights themselves are not
    # needed to read the label; the real builds above cover the rest of the path).
    from app.backends.onnx_build import META_KEY, metadata

    for name in nets.BUILTIN_NAMES:
        model = onnx.helper.make_model(onnx.helper.make_graph([], name, [], []))
        onnx.helper.set_model_props(model, {META_KEY: json.dumps(metadata(nets.get(name), "untrained"))})
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(model.SerializeToString())
        assert built_weights(path) == "untrained", name


def test_file_only_for_files_convscope_did_not_write(tmp_path: Path) -> None:
    tiny_resnet(tmp_path / "mine.onnx")
    tiny_resnet(tmp_path / "resnet34.onnx")  # a foreign file under a built-in's name: no metadata
    labels = _labels(tmp_path)
    assert labels["mine"] == "file" and labels["resnet34"] == "file"
    (tmp_path / "resnet50.onnx").write_bytes(b"not an onnx file")
    assert built_weights(tmp_path / "resnet50.onnx") == "file"
