"""Grad-CAM computed from one onnxruntime run and NumPy equals autograd Grad-CAM on the PyTorch
reference with the ONNX file's own weights, hooks on the same stage, the same input tensor:
to 1e-4 of the map's maximum, at the default layer and at a deeper convolutional layer."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from app import nets
from app.backends.onnx_write import write_model
from app.explain.backprop import Pass, gradcam
from app.explain.graph import Graph
from tests.helpers.gradcam_ref import autograd_gradcam, busy_weights, onnx_weights

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.slow

# model -> (default layer, a deeper conv layer)
CASES = {
    "lenet5": ("S4", "C3"),
    "alexnet": ("pool5", "conv5"),
    "vgg11": ("pool5", "conv5_2"),
    "vgg16-3": ("pool5", "conv5_3"),
    "resnet18": ("layer4.1", "layer4.0"),
    "resnet50": ("layer4.2", "layer4.1"),
}


@pytest.mark.parametrize("name", CASES)
def test_gradcam_equals_autograd(name: str, tmp_path: Path) -> None:
    torch.set_num_threads(2)
    net = nets.get(name)
    path = write_model(net, busy_weights(net, 3), tmp_path, "untrained")  # weights as external data
    assert path.with_name(path.name + ".data").exists()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    x = np.random.default_rng(5).standard_normal((1, *net.input_shape), dtype=np.float32)
    outs = dict(zip(names, sess.run(names, {"input": x}), strict=True))
    del sess
    graph = Graph(path, "prob")
    weights = onnx_weights(path)
    top = int(outs["prob"][0].argmax())
    second = int(np.argsort(-outs["prob"][0])[1])
    for layer, cls in zip(CASES[name], (top, second), strict=True):
        ours = gradcam(Pass(graph, outs), layer, cls)
        ref = autograd_gradcam(net, weights, x, layer, cls)
        assert ours.shape == ref.shape
        assert ref.max() > 0, f"{name} {layer}: the reference map is all zero; pick another input"
        err = float(np.abs(ours - ref).max() / ref.max())
        assert err < 1e-4, f"{name} {layer} class {cls}: max error {err:.2e} of the map's maximum"
    del weights, graph, outs
    gc.collect()
