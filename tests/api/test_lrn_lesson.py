"""LRN before and after: the pre-LRN tensor is a graph output, and the worked position matches onnxruntime."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from app.lessons.lrn import lrn_stages, worked
from app.nets.spec import LRN

ROOT = Path(__file__).resolve().parents[2]
CAT = "data:image/jpeg;base64," + base64.b64encode((ROOT / "static/samples/chelsea.jpg").read_bytes()).decode()


def test_lrn_stages() -> None:
    assert [(s, r) for s, r, _ in lrn_stages("alexnet")] == [("conv1", "conv1.pre_lrn"), ("conv2", "conv2.pre_lrn")]
    assert [(s, r) for s, r, _ in lrn_stages("vgg11-lrn")] == [("lrn1", "conv1_1")]
    assert lrn_stages("vgg16-3") == [] and lrn_stages("alexnet-torchvision") == []


def test_worked_position_is_the_formula() -> None:
    rng = np.random.default_rng(0)
    pre = np.abs(rng.standard_normal((7, 3, 3))).astype(np.float32) * 10
    op = LRN(5, 1e-4, 0.75, 2.0)
    # the LRN definition, written out independently: window c-2..c+2 clipped to the channels
    sq = np.stack([(pre[max(0, c - 2):c + 3] ** 2).sum(0) for c in range(7)])
    post = pre / (2.0 + 1e-4 / 5 * sq) ** 0.75
    w = worked(pre, post, op, lambda s: s)
    assert (w["channel"], w["y"], w["x"]) == tuple(int(v) for v in np.unravel_index(pre.argmax(), pre.shape))
    assert w["b"] == pytest.approx(w["onnxruntime"], rel=1e-6)
    assert w["steps"][-1].endswith(f"{w['b']:.6g}") and len(w["neighbours"]) == w["channels"][1] - w["channels"][0] + 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["alexnet", "vgg11-lrn"])
def test_lrn_endpoint_against_onnxruntime(client, name: str) -> None:
    r = client.post(f"/api/models/{name}/lrn?lang=zh", json={"image": CAT})
    assert r.status_code == 200, r.text
    d = r.json()
    assert [x["layer"] for x in d["lrn"]] == [s for s, _, _ in lrn_stages(name)]
    for item in d["lrn"]:
        b, a = item["before"], item["after"]
        assert (b["offset"], b["channels"], b["height"]) == (a["offset"], a["channels"], a["height"])
        w = item["worked"]
        assert w["b"] == pytest.approx(w["onnxruntime"], rel=1e-4, abs=1e-6)  # our arithmetic = onnxruntime's
        assert 0 < w["b"] < w["a"]  # damped
        assert b["offset"] <= w["channel"] < b["offset"] + b["channels"]
        assert "通道" in w["text"]
    page = client.get(f"/models/{name}?lang=zh").text
    assert 'id="lrn-lesson"' in page


def test_lrn_endpoint_refuses(client) -> None:
    r = client.post("/api/models/lenet5/lrn", json={"pixels": [[0.0] * 28] * 28})
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_lrn"
    assert client.post("/api/models/nope/lrn", json={"image": CAT}).status_code == 404
