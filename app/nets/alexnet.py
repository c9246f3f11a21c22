"""AlexNet: the 2012 paper's two-stream form (groups, LRN, 227x227) and torchvision's single-stream form."""

from __future__ import annotations

from app.nets.spec import LRN, Conv, Flatten, Linear, MaxPool, Net, ReLU, Stage

# (name, out, kernel, stride, pad, groups, lrn, pool-after) -- the paper's conv stack
_PAPER = [
    ("conv1", 96, 11, 4, 0, 1, True, True),  # 3x227x227 -> 96x55x55 -> pool 96x27x27
    ("conv2", 256, 5, 1, 2, 2, True, True),  # -> 256x27x27 -> pool 256x13x13
    ("conv3", 384, 3, 1, 1, 1, False, False),  # -> 384x13x13
    ("conv4", 384, 3, 1, 1, 2, False, False),  # -> 384x13x13
    ("conv5", 256, 3, 1, 1, 2, False, True),  # -> 256x13x13 -> pool 256x6x6
]
# torchvision's AlexNet: 64-192-384-256-256, no LRN, no groups, 224x224
_TORCHVISION = [
    ("conv1", 64, 11, 4, 2, 1, False, True),  # 3x224x224 -> 64x55x55 -> pool 64x27x27
    ("conv2", 192, 5, 1, 2, 1, False, True),  # -> 192x27x27 -> pool 192x13x13
    ("conv3", 384, 3, 1, 1, 1, False, False),
    ("conv4", 256, 3, 1, 1, 1, False, False),
    ("conv5", 256, 3, 1, 1, 1, False, True),  # -> 256x13x13 -> pool 256x6x6
]
# torchvision's module indices for the convs in `features` and the linears in `classifier`
_TV_FEATURES = (0, 3, 6, 8, 10)
_TV_CLASSIFIER = (1, 4, 6)


def _alexnet(cfg: list, torchvision_keys: bool) -> tuple[Stage, ...]:
    stages: list[Stage] = []
    for i, (name, out, k, s, p, g, lrn, pool) in enumerate(cfg):
        ops = (Conv(out, k, s, p, g), ReLU()) + ((LRN(5, 1e-4, 0.75, 2.0),) if lrn else ())
        keys = (f"features.{_TV_FEATURES[i]}",) if torchvision_keys else ()
        stages.append(Stage(name, "conv", ops, keys=keys))
        if pool:
            stages.append(Stage(f"pool{name[-1]}", "pool", (MaxPool(3, 2),)))
    for j, (name, out) in enumerate([("fc6", 4096), ("fc7", 4096), ("fc8", 1000)]):
        ops = ((Flatten(),) if j == 0 else ()) + (Linear(out),) + ((ReLU(),) if j < 2 else ())
        keys = (f"classifier.{_TV_CLASSIFIER[j]}",) if torchvision_keys else ()
        stages.append(Stage(name, "fc", ops, keys=keys))
    return tuple(stages)


def alexnet() -> Net:
    return Net(
        name="alexnet",
        title="AlexNet (2012 paper)",
        family="AlexNet",
        year=2012,
        input_shape=(3, 227, 227),
        stages=_alexnet(_PAPER, torchvision_keys=False),
        input_kind="photo",
        num_classes=1000,
        description="Krizhevsky, Sutskever and Hinton's ILSVRC-2012 winner as in the paper: "
        "two GPU streams (grouped convolutions), local response normalisation, overlapping pooling.",
        paper="ImageNet Classification with Deep Convolutional Neural Networks (2012)",
    )


def alexnet_torchvision() -> Net:
    return Net(
        name="alexnet-torchvision",
        title="AlexNet (torchvision)",
        family="AlexNet",
        year=2014,
        input_shape=(3, 224, 224),
        stages=_alexnet(_TORCHVISION, torchvision_keys=True),
        input_kind="photo",
        num_classes=1000,
        description="The single-stream AlexNet that torchvision ships (from Krizhevsky's 'one weird trick' "
        "paper): 64-192-384-256-256 filters, no LRN, no groups.",
        paper="One weird trick for parallelizing convolutional neural networks (Krizhevsky, 2014)",
    )
