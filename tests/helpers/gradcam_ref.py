"""Autograd Grad-CAM on the PyTorch reference of a built-in model, with the ONNX file's own weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper


def onnx_weights(path: Path) -> dict[str, np.ndarray]:
    """Every initializer of a model file (external data included) as a plain array."""
    model = onnx.load(str(path), load_external_data=True)
    return {t.name: numpy_helper.to_array(t).copy() for t in model.graph.initializer}


def autograd_gradcam(net, weights: dict[str, np.ndarray], x: np.ndarray, layer: str, cls: int) -> np.ndarray:
    """Selvaraju et al.'s Grad-CAM with hooks on the stage ``layer`` of app.backends.torch_ref.NetModule."""
    import torch

    from app.backends.torch_ref import NetModule

    module = NetModule(net).load_weights(weights).eval()
    stage = module.stages[[s.name for s in net.stages].index(layer)]
    seen: dict[str, torch.Tensor] = {}

    def keep(_m, _i, out):  # forward hook: the activation, and a hook for its gradient
        seen["act"] = out
        out.register_hook(lambda g: seen.__setitem__("grad", g))

    handle = stage.register_forward_hook(keep)
    try:
        logits = module(torch.from_numpy(x))
        logits[0, cls].backward()
    finally:
        handle.remove()
    act, grad = seen["act"][0].detach().double(), seen["grad"][0].double()
    alpha = grad.mean(dim=(1, 2))
    return torch.relu((alpha[:, None, None] * act).sum(0)).numpy()


def busy_weights(net, seed: int) -> dict[str, np.ndarray]:
    """He weights plus non-trivial biases and batch-norm statistics, so that every tensor matters."""
    from app.weights.init import he_init

    w = he_init(net, seed)
    rng = np.random.default_rng(seed + 1)
    for k, v in w.items():
        if k.endswith("running_var"):
            w[k] = rng.uniform(0.5, 2.0, v.shape).astype(np.float32)
        elif k.endswith(("bias", "running_mean")):
            w[k] = rng.normal(0, 0.1, v.shape).astype(np.float32)
        elif v.ndim == 1:  # BN gamma
            w[k] = rng.uniform(0.5, 1.5, v.shape).astype(np.float32) * v
    return w
