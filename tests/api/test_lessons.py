"""Lessons: every formula of every built-in layer evaluates to the layer's own numbers, in both languages."""

from __future__ import annotations

import re

import pytest

from app import nets
from app.analysis import analyse, totals
from app.i18n import gettext_for
from app.lessons import attach, lessons
from app.lessons.layers import LABELS
from tests.helpers.formulas import parse, value

LANGS = ("en", "zh")


def _expected(layer: dict, key: str, suffix: str):
    out = layer["output_shape"]
    if key == "params":
        return layer["params"]
    if key == "macs":
        return layer["macs"]
    if key == "output":
        return tuple(out) if len(out) > 1 else (out[0],)
    if key == "side":
        return out[2] if suffix == "(W)" else out[1]
    if key == "rf":
        return layer["receptive_field"]["size"]
    raise AssertionError(key)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", nets.BUILTIN_NAMES)
def test_every_formula_equals_the_layer(name: str, lang: str) -> None:
    _ = gettext_for(lang)
    by_label = {_(v): k for k, v in LABELS.items()}
    assert len(by_label) == len(LABELS), "two formula labels translate alike"
    layers = [layer.as_dict() for layer in analyse(nets.get(name))]
    per_layer, model = lessons(name, lang)
    assert len(per_layer) == len(layers)
    pairs = list(zip(layers, per_layer, strict=True))
    for layer, ex in list(pairs):
        if layer.get("children"):
            assert len(ex["children"]) == len(layer["children"]), f"{name} {layer['name']}"
            pairs += list(zip(layer["children"], ex["children"], strict=True))
    for layer, ex in pairs:
        assert ex["title"] and ex["text"], layer["name"]
        seen = set()
        for f in ex["formulas"]:
            label, parts = parse(f)
            m = re.fullmatch(r"(.*?)(?: (\(H\)|\(W\)))?", label)
            key = by_label[m.group(1)]
            want = _expected(layer, key, m.group(2) or "")
            want = tuple(want) if isinstance(want, tuple) else want
            for p in parts:  # every step of the chain equals the layer's value
                got = tuple(int(x) for x in p) if isinstance(p, tuple) else p
                if key == "output" and not isinstance(got, tuple):
                    got = (got,)
                assert got == want, f"{name} {layer['name']}: {f!r} gives {got}, the layer has {want}"
            seen.add(key)
        if layer["params"]:
            assert "params" in seen, f"{name} {layer['name']} has parameters but no formula for them"
        if layer["macs"]:
            assert "macs" in seen, f"{name} {layer['name']}"
        assert "output" in seen, f"{name} {layer['name']}"
        if layer["kernel"] and len(layer["output_shape"]) == 3:
            assert "side" in seen, f"{name} {layer['name']}"
    t = totals(analyse(nets.get(name)))
    assert sum(model["params_by_kind"].values()) == t["params"]
    assert sum(model["macs_by_kind"].values()) == t["macs"]
    assert model["activation_bytes"] == 4 * t["activations"]


def test_the_issues_examples() -> None:
    per_layer, model = lessons("vgg16-3", "en")
    names = [layer.name for layer in analyse(nets.get("vgg16-3"))]
    conv3_1 = per_layer[names.index("conv3_1")]["formulas"]
    assert "params = (3·3·128 + 1)·256 = 295,168" in conv3_1
    assert "output side = floor((56 + 2·1 − 3)/1) + 1 = 56" in conv3_1
    assert "MACs = 256·56·56·3·3·128 = 924,844,032" in conv3_1
    assert "receptive field = 16 + (3 − 1)·4 = 24" in conv3_1
    assert "params = 7·7·512·4096 + 4096 = 102,764,544" in per_layer[names.index("fc6")]["formulas"]
    p = model["params_by_kind"]
    assert 0.89 < p["fc"] / sum(p.values()) < 0.90  # "89% of its parameters in fc6-fc8"
    share = f"{100 * 102_764_544 / sum(p.values()):.1f}"  # fc6 alone: where most of the 138M live
    assert f"The layer with the most parameters is fc6: 102,764,544, {share}% of all." in model["text"]
    m = model["macs_by_kind"]
    assert m["conv"] / sum(m.values()) > 0.99
    c1 = lessons("lenet5", "en")[0][0]["formulas"]
    assert "params = (5·5·1 + 1)·6 = 156" in c1 and "output side = floor((32 + 2·0 − 5)/1) + 1 = 28" in c1


def test_kinds_are_explained() -> None:
    text = " ".join(e["text"] for e in lessons("alexnet", "en")[0])
    assert "groups = 2" in text and "k = 2, n = 5, α = 0.0001, β = 0.75" in text and "softmax" in text
    assert "A-LRN" in " ".join(e["text"] for e in lessons("vgg11-lrn", "en")[0])
    assert "1×1 convolution" in " ".join(e["title"] for e in lessons("vgg16-1", "en")[0])
    r50 = " ".join(e["text"] for e in lessons("resnet50", "en")[0])
    assert "projection shortcut" in r50 and "v1.5" in r50 and "1,179,648" in r50
    assert "Batch norm" in r50
    r18 = lessons("resnet18", "en")[1]["text"]
    assert "degradation" in r18 and "plain-34" in r18


def test_formula_evaluator_catches_a_wrong_number() -> None:
    assert parse("params = (3·3·128 + 1)·256 = 295,168")[1] == [295168, 295168]
    assert parse("params = (3·3·128 + 1)·256 = 295,169")[1][0] != parse("x = 295,169")[1][0]
    assert value("256×56×56") == (256, 56, 56)
    assert value("floor((227 + 2·0 − 11)/4) + 1") == 55


def test_attach_leaves_foreign_models_alone() -> None:
    d = {"name": "x", "source": "file", "layers": []}
    assert attach(d, "zh") is d


def test_zh_is_chinese() -> None:
    per_layer, model = lessons("vgg16-3", "zh")
    assert per_layer[0]["formulas"][0] == "参数量 = (3·3·3 + 1)·64 = 1,792"
    assert "卷积层" in per_layer[0]["title"] and "感受野" in per_layer[0]["text"]
    assert "全连接层" in model["text"] and "conv1_1" in model["text"]  # layer names stay as they are
    r50 = lessons("resnet50", "zh")
    assert "瓶颈" in r50[0][2]["title"] and "退化问题" in r50[1]["text"]
    assert "局部响应归一化" in lessons("alexnet", "zh")[0][0]["text"]


def test_explorer_json_leaves_out_the_block_parts_explain(client) -> None:
    """The page's JSON keeps each layer's explain (predict-the-shape uses its formulas) but not the block
    parts' (shown as HTML already): a third of ResNet-152's page."""
    import json

    page = client.get("/models/resnet18?lang=zh").text
    data = json.loads(re.search(r'<script id="model-data" type="application/json">(.*?)</script>', page, re.S)
                      .group(1))
    blocks = [layer for layer in data["layers"] if layer.get("children")]
    assert blocks and all(layer["explain"]["formulas"] for layer in data["layers"])
    assert not any("explain" in c for b in blocks for c in b["children"])
    assert "瓶颈" in page or "残差" in page  # the parts' explanations are still on the page, as HTML
    parts = lessons("resnet18", "zh")[0]
    part_title = next(e for e in parts if e.get("children"))["children"][0]["title"]
    assert part_title in page
