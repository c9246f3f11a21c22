"""ResNet blocks' `children`: derived from the definitions, adding up to the block, and matching a
torchvision-layout PyTorch model part by part (parameters and output shapes)."""

from __future__ import annotations

import pytest

from app import nets
from app.analysis import analyse
from app.nets.resnet import depths
from app.web.schemas import ModelDetail

RESNETS = [f"resnet{d}" for d in depths]


@pytest.mark.parametrize("name", RESNETS)
def test_children_add_up_to_every_block(name: str) -> None:
    layers = analyse(nets.get(name))
    blocks = [layer for layer in layers if layer.kind == "block"]
    assert len(blocks) == sum(depths[int(name[6:])][1])
    for b in blocks:
        assert b.children, b.name
        assert sum(c.params or 0 for c in b.children) == b.params, b.name
        assert sum(c.macs or 0 for c in b.children) == b.macs, b.name
        assert b.children[0].input_shape == b.input_shape
        assert b.children[-1].output_shape == b.output_shape
        assert [c.name for c in b.children][-2:] == [f"{b.name}.add", f"{b.name}.relu"]
        assert all(c.kind not in ("block",) and c.children is None for c in b.children)
    for layer in layers:
        if layer.kind != "block":
            assert layer.children is None


def test_bottleneck_parts_of_resnet50_layer1_0() -> None:
    b = next(layer for layer in analyse(nets.get("resnet50")) if layer.name == "layer1.0")
    parts = {c.name.removeprefix("layer1.0."): c for c in b.children or []}
    assert list(parts) == ["conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "conv3", "bn3",
                           "downsample.0", "downsample.1", "add", "relu"]
    assert (parts["conv1"].kernel, parts["conv1"].output_shape, parts["conv1"].params) == ([1, 1], [64, 56, 56], 4096)
    assert (parts["conv2"].kernel, parts["conv2"].padding, parts["conv2"].params) == ([3, 3], [1, 1, 1, 1], 36864)
    assert (parts["conv3"].output_shape, parts["conv3"].params) == ([256, 56, 56], 16384)
    assert parts["downsample.0"].branch == "shortcut" and parts["downsample.0"].params == 64 * 256
    assert parts["bn3"].params == 2 * 256  # gamma and beta; running statistics are buffers
    # v1.5: layer2.0's stride sits in the 3x3 conv and in the projection, not in the first 1x1
    b2 = {c.name.removeprefix("layer2.0."): c for c in next(
        layer for layer in analyse(nets.get("resnet50")) if layer.name == "layer2.0").children or []}
    assert (b2["conv1"].stride, b2["conv2"].stride, b2["downsample.0"].stride) == ([1, 1], [2, 2], [2, 2])
    # an identity block has no shortcut parts
    b1 = next(layer for layer in analyse(nets.get("resnet50")) if layer.name == "layer1.1")
    assert not [c for c in b1.children or [] if c.branch == "shortcut"]


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_children_match_a_torchvision_layout_model(name: str) -> None:
    torch = pytest.importorskip("torch")
    from tests.helpers import tv_reference

    model = tv_reference.make(name)
    shapes: dict[str, list[int]] = {}
    hooks = [mod.register_forward_hook(lambda m, i, o, n=n: shapes.__setitem__(n, list(o.shape[1:])))
             for n, mod in model.named_modules() if isinstance(mod, torch.nn.Conv2d | torch.nn.BatchNorm2d)]
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    for h in hooks:
        h.remove()
    modules = dict(model.named_modules())
    n_checked = 0
    for b in analyse(nets.get(name)):
        for c in b.children or []:
            if c.kind not in ("conv", "bn"):
                continue
            ref = modules[c.name]
            assert c.params == sum(p.numel() for p in ref.parameters()), c.name
            assert c.output_shape == shapes[c.name], c.name
            if c.kind == "conv":
                assert c.kernel == list(ref.kernel_size) and c.stride == list(ref.stride), c.name
                assert c.macs == ref.weight.numel() * shapes[c.name][1] * shapes[c.name][2], c.name
            n_checked += 1
    assert n_checked == len([n for n, m in modules.items() if n.startswith("layer")
                             and isinstance(m, torch.nn.Conv2d | torch.nn.BatchNorm2d)])


def test_api_detail_carries_children(client) -> None:
    r = client.get("/api/models/resnet50")
    assert r.status_code == 200
    ModelDetail.model_validate(r.json())  # the documented schema describes children
    layers = {layer["name"]: layer for layer in r.json()["layers"]}
    kids = layers["layer1.0"]["children"]
    assert sum(k["params"] for k in kids) == layers["layer1.0"]["params"]
    assert {"kind", "kernel", "stride", "padding", "input_shape", "output_shape", "params", "macs",
            "receptive_field", "activation_size", "branch"} <= set(kids[0])
    assert layers["conv1"]["children"] is None
