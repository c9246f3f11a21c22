"""LeNet-5 in its modern form (ReLU, max pooling), with the paper's layer names."""

from __future__ import annotations

from app.nets.spec import Conv, Flatten, Linear, MaxPool, Net, ReLU, Stage


def lenet5() -> Net:
    stages = (
        Stage("C1", "conv", (Conv(6, 5), ReLU())),  # 1x32x32 -> 6x28x28
        Stage("S2", "pool", (MaxPool(2, 2),)),  # -> 6x14x14
        Stage("C3", "conv", (Conv(16, 5), ReLU())),  # -> 16x10x10
        Stage("S4", "pool", (MaxPool(2, 2),)),  # -> 16x5x5
        Stage("C5", "conv", (Conv(120, 5), ReLU())),  # -> 120x1x1
        Stage("F6", "fc", (Flatten(), Linear(84), ReLU())),  # -> 84
        Stage("output", "fc", (Linear(10),)),  # -> 10 (softmax in the graph's "prob")
    )
    return Net(
        name="lenet5",
        title="LeNet-5",
        family="LeNet",
        year=1998,
        input_shape=(1, 32, 32),
        stages=stages,
        input_kind="digit",
        num_classes=10,
        description="LeCun et al.'s handwritten-digit network, modern form: ReLU and max pooling.",
        paper="Gradient-based learning applied to document recognition (LeCun et al., 1998)",
    )
