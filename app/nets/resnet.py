"""ResNet-18/34/50/101/152 (v1.5: stride in the bottleneck's 3x3), with torchvision's weight names."""

from __future__ import annotations

from app.nets.spec import BN, Conv, Flatten, GlobalAvgPool, Linear, MaxPool, Net, Op, ReLU, Stage

# depth -> (bottleneck?, blocks per stage)
depths: dict[int, tuple[bool, tuple[int, int, int, int]]] = {
    18: (False, (2, 2, 2, 2)),
    34: (False, (3, 4, 6, 3)),
    50: (True, (3, 4, 6, 3)),
    101: (True, (3, 4, 23, 3)),
    152: (True, (3, 8, 36, 3)),
}


def _block(name: str, cin: int, width: int, stride: int, bottleneck: bool) -> tuple[Stage, int]:
    """One residual block; returns it and its output channels."""
    if bottleneck:
        cout = width * 4
        ops: tuple[Op, ...] = (
            Conv(width, 1, bias=False), BN(), ReLU(),  # 1x1 reduce
            Conv(width, 3, stride, 1, bias=False), BN(), ReLU(),  # 3x3 (carries the stride)
            Conv(cout, 1, bias=False), BN(),  # 1x1 expand, 4x
        )
        keys = ["conv1", "bn1", "conv2", "bn2", "conv3", "bn3"]
    else:
        cout = width
        ops = (Conv(width, 3, stride, 1, bias=False), BN(), ReLU(), Conv(width, 3, 1, 1, bias=False), BN())
        keys = ["conv1", "bn1", "conv2", "bn2"]
    shortcut: tuple[Op, ...] = ()
    if stride != 1 or cin != cout:  # 1x1 projection where the shape changes
        shortcut = (Conv(cout, 1, stride, bias=False), BN())
        keys += ["downsample.0", "downsample.1"]
    stage = Stage(name, "block", ops, shortcut=shortcut, post=(ReLU(),), keys=tuple(f"{name}.{k}" for k in keys))
    return stage, cout


def resnet(depth: int) -> Net:
    if depth not in depths:
        raise KeyError(f"unknown ResNet depth {depth}; known: {', '.join(map(str, depths))}")
    bottleneck, blocks = depths[depth]
    stages = [
        Stage("conv1", "conv", (Conv(64, 7, 2, 3, bias=False), BN(), ReLU()), keys=("conv1", "bn1")),  # 64x112x112
        Stage("pool1", "pool", (MaxPool(3, 2, 1),)),  # 64x56x56
    ]
    cin = 64
    for i, (width, n) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
        for j in range(n):
            stride = 2 if i > 0 and j == 0 else 1
            stage, cin = _block(f"layer{i + 1}.{j}", cin, width, stride, bottleneck)
            stages.append(stage)
    stages += [
        Stage("avgpool", "gap", (GlobalAvgPool(), Flatten())),
        Stage("fc", "fc", (Linear(1000),), keys=("fc",)),
    ]
    kind = "bottleneck" if bottleneck else "basic"
    return Net(
        name=f"resnet{depth}",
        title=f"ResNet-{depth}",
        family="ResNet",
        year=2015,
        input_shape=(3, 224, 224),
        stages=tuple(stages),
        input_kind="photo",
        num_classes=1000,
        description=f"He et al.'s residual network, {depth} layers of {kind} blocks "
        f"({' '.join(map(str, blocks))} per stage); batch norm after every convolution.",
        paper="Deep Residual Learning for Image Recognition (2015)",
    )
