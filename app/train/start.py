"""The weights a training run starts from: fresh ones (stage 1) or a trained file's (stage 2)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from app import nets


def init_weights(model: Any, name: str) -> None:
    """Fresh weights for a first-stage run: LeCun's uniform for lenet5-1998, He for the modern LeNet-5."""
    import torch

    if name == "lenet5-1998":
        # uniform with variance 1 / fan-in (LeCun et al., "Efficient BackProp", 1998): the paper's own
        # +-2.4 / fan-in was tuned for its per-weight second-order step sizes and starts Adam ~5x too small
        from app.backends.torch_ref import _PartialConv, _Subsample

        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
                b = math.sqrt(3.0 / m.weight[0].numel())
                torch.nn.init.uniform_(m.weight, -b, b)
                torch.nn.init.zeros_(m.bias)
            elif isinstance(m, _PartialConv):  # fan-in of map j: 25 x the S2 maps it sees
                with torch.no_grad():
                    fan = torch.bincount(m.dst, minlength=m.out)[m.dst].float() * m.weight[0].numel()
                    m.weight.copy_((torch.rand_like(m.weight) * 2 - 1) * torch.sqrt(3.0 / fan).view(-1, 1, 1))
                torch.nn.init.zeros_(m.bias)
            elif isinstance(m, _Subsample):
                torch.nn.init.constant_(m.coef, 1.0 / (m.k * m.k))  # the 2x2 sum / 4: an average to start
                torch.nn.init.zeros_(m.bias)
        return
    for m in model.modules():  # He init, like the untrained build
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)


def load_onnx_weights(path: Path, name: str = "lenet5") -> dict[str, np.ndarray]:
    """The named weights of a convscope-built ONNX file of ``name``, as the PyTorch reference holds them:
    initializers as they are; a trainable subsampling's coefficients and a partial convolution's kernels
    read back from the constants the builder made of them (a depthwise kernel of equal weights, a dense
    kernel with zeros outside the connection table)."""
    import onnx
    from onnx import numpy_helper

    from app.backends.torch_ref import NetModule, _PartialConv

    m = onnx.load(str(path))
    arrays = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    conv_by_bias = {n.input[2]: n for n in m.graph.node if n.op_type == "Conv" and len(n.input) > 2}
    module = NetModule(nets.get(name))
    out: dict[str, np.ndarray] = {}
    for key, want in module.export_weights().items():
        if key in arrays:
            out[key] = arrays[key]
            continue
        prefix, _, kind = key.rpartition(".")
        node = conv_by_bias.get(f"{prefix}.bias")
        if node is None:
            raise ValueError(f"{path.name}: no weight {key!r} and no convolution with bias {prefix}.bias")
        dense = arrays[node.input[1]]
        if kind == "coef":
            out[key] = dense[:, 0, 0, 0].copy()
        else:
            pc = module.by_key[prefix]
            if not isinstance(pc, _PartialConv):
                raise ValueError(f"{path.name}: {key!r} is neither stored nor a partial convolution's")
            out[key] = dense[pc.dst.numpy(), pc.src.numpy()].copy()
        if out[key].shape != want.shape:
            raise ValueError(f"{path.name}: {key!r} has shape {out[key].shape}, expected {want.shape}")
    return out
