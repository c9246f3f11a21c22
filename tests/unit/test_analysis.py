"""Parameter counts against ARCHITECTURES.md, MACs within 1%, receptive fields by hand."""

from __future__ import annotations

import pytest

from app import nets
from app.analysis import analyse, conv_out, totals

# ../shared/ARCHITECTURES.md
PARAMS = {
    "lenet5": 61_706, "lenet5-1998": 60_000, "alexnet": 60_965_224, "alexnet-torchvision": 61_100_840,
    "vgg11": 132_863_336, "vgg11-lrn": 132_863_336, "vgg13": 133_047_848, "vgg16-1": 133_638_952,
    "vgg16-3": 138_357_544, "vgg19": 143_667_240, "resnet18": 11_689_512, "resnet34": 21_797_672,
    "resnet50": 25_557_032, "resnet101": 44_549_160, "resnet152": 60_192_808,
}
MACS = {"alexnet-torchvision": 0.71e9, "vgg11": 7.61e9, "vgg13": 11.31e9, "vgg16-3": 15.47e9, "vgg19": 19.63e9,
        "resnet18": 1.81e9, "resnet34": 3.66e9, "resnet50": 4.09e9, "resnet101": 7.80e9, "resnet152": 11.51e9}
REQUIRED = ["lenet5", "lenet5-1998", "alexnet", "vgg11", "vgg11-lrn", "vgg13", "vgg16-1", "vgg16-3", "vgg19",
            "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


def test_registry_has_every_required_name() -> None:
    assert set(REQUIRED) <= set(nets.BUILTIN_NAMES)
    assert nets.get("vgg16") is nets.get("vgg16-3")
    with pytest.raises(KeyError, match="known:"):
        nets.get("vgg17")


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_counts_are_exact(name: str) -> None:
    assert totals(analyse(nets.get(name)))["params"] == PARAMS[name]


@pytest.mark.parametrize("name", sorted(MACS))
def test_macs_within_one_percent(name: str) -> None:
    macs = totals(analyse(nets.get(name)))["macs"]
    assert abs(macs - MACS[name]) / MACS[name] < 0.01, macs


def test_vgg_c_sits_between_b_and_d() -> None:
    m = {n: totals(analyse(nets.get(n)))["macs"] for n in ("vgg13", "vgg16-1", "vgg16-3")}
    assert m["vgg13"] < m["vgg16-1"] < m["vgg16-3"]


def _rf(name: str) -> dict[str, float]:
    return {layer.name: (layer.receptive_field or {}).get("size") for layer in analyse(nets.get(name))}


def test_receptive_fields_by_hand() -> None:
    assert {k: v for k, v in _rf("lenet5").items() if v} == {"C1": 5, "S2": 6, "C3": 14, "S4": 16, "C5": 32}
    vgg = _rf("vgg16-3")
    assert vgg["conv1_1"] == 3 and vgg["conv1_2"] == 5 and vgg["pool1"] == 6
    assert vgg["conv5_3"] == 196 and vgg["pool5"] == 212
    assert vgg["fc6"] is None
    alex = _rf("alexnet")
    assert alex["conv1"] == 11 and alex["pool1"] == 19 and alex["conv2"] == 51  # 11 + 2*4, + 4*8
    r50 = _rf("resnet50")
    assert r50["conv1"] == 7 and r50["pool1"] == 11


def test_shapes_match_the_architecture_tables() -> None:
    shapes = {n: {layer.name: layer.output_shape for layer in analyse(nets.get(n))} for n in ("lenet5", "alexnet")}
    assert shapes["lenet5"] == {"C1": [6, 28, 28], "S2": [6, 14, 14], "C3": [16, 10, 10], "S4": [16, 5, 5],
                                "C5": [120, 1, 1], "F6": [84], "output": [10]}
    assert shapes["alexnet"]["conv1"] == [96, 55, 55] and shapes["alexnet"]["pool5"] == [256, 6, 6]
    r = {layer.name: layer.output_shape for layer in analyse(nets.get("resnet50"))}
    assert r["layer1.2"] == [256, 56, 56] and r["layer4.2"] == [2048, 7, 7] and r["fc"] == [1000]


def test_output_size_arithmetic_is_spelled_out() -> None:
    layers = {layer.name: layer for layer in analyse(nets.get("vgg16-3"))}
    assert layers["conv1_1"].arithmetic == ["floor((224 + 2*1 - 3)/1) + 1 = 224"]
    assert layers["pool1"].arithmetic == ["floor((224 + 2*0 - 2)/2) + 1 = 112"]
    assert conv_out(227, 11, 4, 0) == 55
