"""The same definitions as PyTorch modules: the reference the ONNX graphs are tested against,
and what LeNet-5 is trained with. Needs the ``train`` extra; the server never imports it."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from app.nets.spec import (
    BN,
    LRN,
    RBF,
    Conv,
    Flatten,
    GlobalAvgPool,
    Linear,
    MaxPool,
    Net,
    Op,
    PartialConv,
    ReLU,
    ScaledTanh,
    Subsample,
)
from app.nets.trace import Branch, StageTrace, trace
from app.weights.init import Weights, check_weights


class _ScaledTanh(nn.Module):
    def __init__(self, op: ScaledTanh) -> None:
        super().__init__()
        self.a, self.s = op.a, op.s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a * torch.tanh(self.s * x)


class _Subsample(nn.Module):
    """k x k sums (an average pool times k^2), times a coefficient per map, plus a bias per map."""

    def __init__(self, op: Subsample, cin: int) -> None:
        super().__init__()
        self.k = op.k
        self.coef = nn.Parameter(torch.full((cin,), 1.0 / (op.k * op.k)))
        self.bias = nn.Parameter(torch.zeros(cin))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = nn.functional.avg_pool2d(x, self.k) * (self.k * self.k)
        return s * self.coef.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class _PartialConv(nn.Module):
    """Each connection (input map -> output map) is its own k x k kernel: the input maps are gathered once
    per connection, convolved depthwise, and summed into their output maps (the ONNX graph instead uses
    one dense convolution whose unconnected kernels are zero: two formulations checked against each other)."""

    def __init__(self, op: PartialConv, cin: int) -> None:
        super().__init__()
        self.src = torch.tensor([i for t in op.table for i in t])
        self.dst = torch.tensor([j for j, t in enumerate(op.table) for _ in t])
        self.out = op.out
        self.weight = nn.Parameter(torch.empty(op.connections, op.k, op.k))
        self.bias = nn.Parameter(torch.zeros(op.out))
        nn.init.uniform_(self.weight, -2.4 / (op.k * op.k * 4), 2.4 / (op.k * op.k * 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.conv2d(x[:, self.src], self.weight[:, None], groups=len(self.src))
        out = y.new_zeros(y.shape[0], self.out, y.shape[2], y.shape[3]).index_add(1, self.dst, y)
        return out + self.bias.view(1, -1, 1, 1)


class _RBF(nn.Module):
    """Negated squared Euclidean distances to fixed codes (a buffer, not trained)."""

    def __init__(self, op: RBF) -> None:
        super().__init__()
        self.register_buffer("codes", torch.tensor(op.codes, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -((x[:, None, :] - self.codes[None]) ** 2).sum(-1)


def _module(op: Op, cin: int) -> nn.Module:
    if isinstance(op, Conv):
        return nn.Conv2d(cin, op.out, op.k, op.s, op.p, groups=op.groups, bias=op.bias)
    if isinstance(op, BN):
        return nn.BatchNorm2d(cin, eps=op.eps)
    if isinstance(op, Linear):
        return nn.Linear(cin, op.out)
    if isinstance(op, ReLU):
        return nn.ReLU()
    if isinstance(op, LRN):
        return nn.LocalResponseNorm(op.size, op.alpha, op.beta, op.k)
    if isinstance(op, MaxPool):
        return nn.MaxPool2d(op.k, op.s, op.p)
    if isinstance(op, GlobalAvgPool):
        return nn.AdaptiveAvgPool2d(1)
    if isinstance(op, Flatten):
        return nn.Flatten(1)
    if isinstance(op, ScaledTanh):
        return _ScaledTanh(op)
    if isinstance(op, Subsample):
        return _Subsample(op, cin)
    if isinstance(op, PartialConv):
        return _PartialConv(op, cin)
    if isinstance(op, RBF):
        return _RBF(op)
    raise TypeError(f"no PyTorch form for {op!r}")


class _StageModule(nn.Module):
    def __init__(self, ops: nn.Sequential, shortcut: nn.Sequential | None, post: nn.Sequential) -> None:
        super().__init__()
        self.ops, self.shortcut, self.post = ops, shortcut, post

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ops(x)
        if self.shortcut is not None:
            y = y + self.shortcut(x)
        return self.post(y)


class NetModule(nn.Module):
    """``forward`` returns the logits; ``forward_all`` every stage's output by stage name."""

    def __init__(self, net: Net) -> None:
        super().__init__()
        self.net = net
        self.by_key: dict[str, nn.Module] = {}
        stages = []
        for st in trace(net):
            def seq(branch: Branch, st: StageTrace = st) -> nn.Sequential:
                mods = []
                for step in st.branch(branch):
                    mods.append(_module(step.op, step.input_shape[0]))
                    if step.key is not None:
                        self.by_key[step.key] = mods[-1]
                return nn.Sequential(*mods)

            main = seq("main")  # built in graph order: modules draw their initial weights from torch's stream
            shortcut = seq("shortcut") if st.stage.shortcut is not None else None
            stages.append(_StageModule(main, shortcut, seq("post")))
        self.stages = nn.ModuleList(stages)

    def forward_all(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        outs = {}
        for stage, mod in zip(self.net.stages, self.stages, strict=True):
            x = mod(x)
            outs[stage.name] = x
        return outs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for mod in self.stages:
            x = mod(x)
        return x

    def load_weights(self, weights: Weights) -> NetModule:
        check_weights(self.net, weights)
        with torch.no_grad():
            for key, mod in self.by_key.items():
                for name, t in list(mod.named_parameters()) + list(mod.named_buffers()):
                    if name == "num_batches_tracked":
                        continue
                    t.copy_(torch.tensor(np.asarray(weights[f"{key}.{name}"])))
        return self

    def export_weights(self) -> Weights:
        out: Weights = {}
        for key, mod in self.by_key.items():
            for name, t in list(mod.named_parameters()) + list(mod.named_buffers()):
                if name != "num_batches_tracked":
                    out[f"{key}.{name}"] = t.detach().cpu().numpy().astype(np.float32).copy()
        return out
