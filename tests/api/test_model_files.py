"""Odd and hostile files in the models folder: each makes only its own model unservable (status "error",
a message naming the file and what is wrong, 503 model_unavailable when used). None crashes start-up,
hangs it (a FIFO), turns GET /api/models into a 500, or serves a file from outside the folder."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import onnx
import pytest
from fastapi.testclient import TestClient
from onnx import TensorProto, helper

from app.catalog.info import ModelInfo
from app.catalog.sidecar import MAX_BYTES, apply_sidecar, parse_sidecar
from app.config import Settings
from app.web.app import create_app
from tests.helpers.hostile_models import conv_classifier, odd_input, odd_output
from tests.helpers.images import PHOTO


def _start(models_dir: Path, timeout: float = 120) -> TestClient:
    """A started client, or a failure (not a hung test run) when start-up does not finish."""
    box: dict[str, Any] = {}

    def go() -> None:
        try:
            c = TestClient(create_app(Settings.from_env(models_dir=models_dir, eager=())),
                           raise_server_exceptions=False)
            c.__enter__()
            box["client"] = c
        except BaseException as exc:  # handed to the test below
            box["error"] = exc

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "start-up hung"
    if "error" in box:
        raise box["error"]
    return box["client"]


def _listed(c: TestClient) -> dict[str, dict[str, Any]]:
    r = c.get("/api/models")
    assert r.status_code == 200, r.text
    return {m["name"]: m for m in r.json()}


def _predict(c: TestClient, name: str) -> Any:
    return c.post("/predict", data={"model": name, "activations": "none"}, files={"image": ("x.png", PHOTO)})


def _unservable(c: TestClient, name: str, *words: str) -> None:
    m = _listed(c)[name]
    assert m["status"] == "error", m
    for w in words:
        assert w in m["error"], m["error"]
    r = _predict(c, name)
    assert r.status_code == 503 and r.json()["error"]["code"] == "model_unavailable", r.text


def test_fifos_are_refused_without_opening_them(models_dir: Path) -> None:
    conv_classifier(models_dir / "good.onnx")
    conv_classifier(models_dir / "side.onnx")
    os.mkfifo(models_dir / "evil.onnx")
    os.mkfifo(models_dir / "side.json")
    c = _start(models_dir)
    with c:
        _unservable(c, "evil", "evil.onnx", "not a regular file but a FIFO")
        _unservable(c, "side", "side.json", "not a regular file but a FIFO")
        assert _listed(c)["good"]["status"] == "available" and _predict(c, "good").status_code == 200
        assert c.get("/").status_code == 200
        os.mkfifo(models_dir / "late.onnx")  # dropped in while running: the listing still answers
        time.sleep(1.1)  # the folder is looked at again at most once a second
        _unservable(c, "late", "late.onnx", "FIFO")


def test_a_fifo_under_a_built_in_name_is_refused(models_dir: Path) -> None:
    (models_dir / "lenet5.onnx").unlink(missing_ok=True)
    os.mkfifo(models_dir / "lenet5.onnx")
    c = _start(models_dir)
    with c:
        m = _listed(c)["lenet5"]
        assert m["status"] == "error" and "lenet5.onnx: not a regular file" in m["error"], m
        assert c.get("/api/models/lenet5").status_code == 200
        r = c.post("/predict", json={"model": "lenet5", "pixels": [[0.5] * 28] * 28})
        assert r.status_code == 503 and r.json()["error"]["code"] == "model_unavailable", r.text


@pytest.mark.parametrize(("make", "words"), [
    (lambda p: p.write_text("[" * 100_000 + "]" * 100_000), ("nested too deeply",)),
    (lambda p: p.write_text('{"title": ' + "[" * 5000 + "]" * 5000 + "}"), ("nested too deeply",)),
    (lambda p: p.mkdir(), ("not a regular file but a directory",)),
    (lambda p: p.write_text('{"title": "' + "x" * MAX_BYTES + '"}'), (f"the limit is {MAX_BYTES:,} bytes",)),
    (lambda p: p.write_text('{"mean": [NaN, NaN, NaN]}'), ("NaN is not a number JSON allows",)),
    (lambda p: p.write_text('{"title": "a", "title": "b"}'), ("'title' is given twice",)),
])
def test_a_bad_sidecar_makes_only_its_model_unservable(models_dir: Path, make, words) -> None:
    conv_classifier(models_dir / "foo.onnx")
    conv_classifier(models_dir / "ok.onnx")
    make(models_dir / "foo.json")
    c = _start(models_dir)
    with c:
        _unservable(c, "foo", "foo.json", *words)
        assert _predict(c, "ok").status_code == 200
        conv_classifier(models_dir / "bar.onnx")  # the same dropped in while running
        make(models_dir / "bar.json")
        time.sleep(1.1)
        _unservable(c, "bar", "bar.json", *words)


def test_a_sidecar_symlinked_out_of_the_folder_is_not_read(models_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "secret.json"
    secret.parent.mkdir()
    secret.write_text('{"title": "SECRET", "description": "hunter2"}')
    conv_classifier(models_dir / "foo.onnx")
    (models_dir / "foo.json").symlink_to(secret)
    conv_classifier(models_dir / "inside.onnx")
    (models_dir / "real.json").write_text('{"title": "Inside"}')
    (models_dir / "inside.json").symlink_to(models_dir / "real.json")  # a link within the folder is fine
    c = _start(models_dir)
    with c:
        _unservable(c, "foo", "foo.json is a symlink", "outside the models directory")
        assert "SECRET" not in c.get("/api/models/foo").text and "hunter2" not in c.get("/api/models").text
        assert _listed(c)["inside"]["title"] == "Inside"


@pytest.mark.parametrize(("side", "words"), [
    ({"std": [float("inf"), 1, 1]}, "std must be a list of 3 finite numbers"),
    ({"mean": [True, False, True]}, "mean must be a list of 3 finite numbers"),
    ({"input_shape": [True, 32, 32]}, "input_shape must be [C, H, W] of positive integers"),
    ({"pixel_range": True}, "pixel_range must be 1 or 255"),
    ({"title": {"a": [1, 2]}}, "title must be a string"),
    ({"description": 5}, "description must be a string"),
    ({"title": "x" * 201}, "title is 201 characters long; the limit is 200"),
])
def test_sidecar_values_are_checked(side: dict[str, Any], words: str) -> None:
    info = ModelInfo(name="m", title="m", family="f", year=None, source="file", input_kind="photo",
                     input_shape=[3, 32, 32], labels="index", weights="file", layers=[], outputs=[])
    with pytest.raises(ValueError, match=None) as exc:
        apply_sidecar(info, side, 10)
    assert words in str(exc.value)
    assert apply_sidecar(info, {"title": "x" * 200, "description": "d", "mean": [0, 0.5, 1]}, 10).title == "x" * 200


def test_sidecar_json_is_read_strictly() -> None:
    for bad, words in ((b'{"a": Infinity}', "Infinity"), (b"[-Infinity]", "-Infinity"),
                       (b'{"labels": {"x": 1, "x": 2}}', "given twice"), (b"\xff{}", "utf-8")):
        with pytest.raises(ValueError, match=None) as exc:
            parse_sidecar(bad)
        assert words in str(exc.value), exc.value
    assert parse_sidecar(b'{"title": "T", "mean": [0.5, 1e3, -2]}') == {"title": "T", "mean": [0.5, 1e3, -2]}


@pytest.mark.parametrize(("make", "words"), [
    (lambda p: odd_input(p, [1, 3, 0, 32]), "has a dimension of 0"),
    (lambda p: odd_input(p, [1, 3, -4, 32]), "has a dimension of -4"),
    (lambda p: odd_input(p, [1, 3, 32, 32], TensorProto.DOUBLE), "the input must be float32"),
    (lambda p: odd_input(p, [1, 3, 32, 32], TensorProto.UINT8), "the input must be float32"),
    (lambda p: odd_input(p, [1, "C", 32, 32]), "the input's channel count must be fixed"),
    (lambda p: odd_output(p, "no_classes"), "no classes"),
    (lambda p: odd_output(p, "argmax"), "holds int64, not float scores"),
    (lambda p: odd_output(p, "bool"), "holds bool, not float scores"),
    (lambda p: odd_output(p, "spatial"), "[1, 10, 32, 32], a map, not class scores"),
])
def test_graphs_that_cannot_be_served_are_refused_at_scan(models_dir: Path, make, words: str) -> None:
    make(models_dir / "odd.onnx")
    conv_classifier(models_dir / "fixed.onnx")  # the usual export, batch fixed at 1: still served
    odd_output(models_dir / "map.onnx", "map_1x1")  # a Softmax on a 1x1 map: 10 classes, as before
    c = _start(models_dir)
    with c:
        _unservable(c, "odd", "odd.onnx", words)
        for name in ("fixed", "map"):
            r = _predict(c, name)
            assert r.status_code == 200, r.text
            assert len(r.json()["top_k"]) == 5


def test_a_file_name_too_long_for_its_side_file_is_refused(models_dir: Path) -> None:
    stem = "m" * 245
    conv_classifier(models_dir / f"{stem}.onnx")
    c = _start(models_dir)
    with c:
        _unservable(c, stem, "the file name is 250 bytes long", "up to 238 bytes")


def test_a_gray_model_of_no_digit_size_is_refused(models_dir: Path) -> None:
    conv_classifier(models_dir / "gray.onnx", c=1, h=4, w=4)
    conv_classifier(models_dir / "digit.onnx", c=1, h=28, w=28)
    c = _start(models_dir)
    with c:
        _unservable(c, "gray", "gray.onnx: a one-channel model is fed digits", "but it takes [1, 4, 4]")
        r = c.post("/predict", json={"model": "digit", "pixels": [[0.0] * 10 + [1.0] * 8 + [0.0] * 10] * 28})
        assert r.status_code == 200, r.text


def test_which_output_is_taken_is_said_when_there_are_several(models_dir: Path) -> None:
    path = conv_classifier(models_dir / "two.onnx")
    m = onnx.load(str(path))
    m.graph.output.append(helper.make_tensor_value_info("gap", TensorProto.FLOAT, [1, 8, 1, 1]))
    onnx.save(m, str(path))
    conv_classifier(models_dir / "one.onnx")
    c = _start(models_dir)
    with c:
        models = _listed(c)
        assert models["two"]["status"] == "available"
        two = c.get("/api/models/two").json()["assumed"]
        assert "the first of the graph's 2 outputs ('probs') holds the class scores" in two
        assert not any("outputs (" in a for a in c.get("/api/models/one").json()["assumed"])
        assert _predict(c, "two").status_code == 200


def test_side_files_and_cards_that_are_not_regular_files_are_not_opened(models_dir: Path, tmp_path: Path) -> None:
    conv_classifier(models_dir / "foo.onnx")
    os.mkfifo(models_dir / ".foo.convscope.onnx")  # newer than foo.onnx: it would be loaded as it is
    conv_classifier(models_dir / "bar.onnx")
    elsewhere = conv_classifier(tmp_path / "elsewhere.onnx", classes=3)
    (models_dir / ".bar.convscope.onnx").symlink_to(elsewhere)
    (models_dir / "lenet5.card.json").unlink(missing_ok=True)
    os.mkfifo(models_dir / "lenet5.card.json")
    c = _start(models_dir)
    with c:
        assert _predict(c, "foo").status_code == 200
        r = _predict(c, "bar")
        assert r.status_code == 200 and len(r.json()["top_k"]) == 5, r.text  # its own 10 classes, not the 3
        assert not (models_dir / ".bar.convscope.onnx").is_symlink()
        assert c.get("/api/models/lenet5").status_code == 200


def test_a_file_named_as_a_built_in_in_another_case_is_refused(models_dir) -> None:
    """Model names are case-insensitive (/api/models/LeNet5 is lenet5): a dropped LeNet5.onnx would take
    that spelling away from the built-in; it is listed as an error saying so, and lenet5 serves on."""
    conv_classifier(models_dir / "LeNet5.onnx", c=1, h=28, w=28)
    with _start(models_dir) as c:
        _unservable(c, "LeNet5", "built-in lenet5", "rename the file")
        assert c.post("/api/models/lenet5/predict", json={"pixels": [[0.0] * 28] * 28}).status_code == 422  # no ink
