"""A small foreign ONNX classifier made with onnx.helper: conv-bn-relu, pool, a residual join,
global pooling, gemm, softmax -- a graph convscope did not write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def tiny_resnet(path: Path, classes: int = 10, size: int = 32, channels: int = 3) -> Path:
    rng = np.random.default_rng(0)

    def t(name: str, *shape: int, scale: float = 0.2) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    inits = [t("w1", 8, channels, 3, 3), t("b1", 8), t("g", 8, scale=0.1), t("beta", 8), t("mu", 8),
             numpy_helper.from_array(np.ones(8, np.float32), "var"),
             t("w2", 8, 8, 3, 3), t("w3", 8, 8, 3, 3), t("fc_w", classes, 8), t("fc_b", classes)]
    n = helper.make_node
    nodes = [
        n("Conv", ["data", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        n("BatchNormalization", ["c1", "g", "beta", "mu", "var"], ["bn1"]),
        n("Relu", ["bn1"], ["r1"]),
        n("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        n("Conv", ["p1", "w2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        n("Relu", ["c2"], ["r2"]),
        n("Conv", ["r2", "w3"], ["c3"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        n("Add", ["c3", "p1"], ["sum"]),
        n("Relu", ["sum"], ["r3"]),
        n("GlobalAveragePool", ["r3"], ["gap"]),
        n("Flatten", ["gap"], ["flat"], axis=1),
        n("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
        n("Softmax", ["logits"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["batch", channels, size, size])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", classes])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
