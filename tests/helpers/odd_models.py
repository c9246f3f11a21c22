"""Foreign classifiers with odd batch and output forms (issue 12's hostile pass), built on
hostile_models.conv_classifier: each loads, and each is a form real exports take."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tests.helpers.hostile_models import conv_classifier

N = helper.make_node


def free_batch(path: Path) -> Path:
    """The file's input and output take any batch ("N")."""
    m = onnx.load(str(path))
    for v in (m.graph.input[0], m.graph.output[0]):
        v.type.tensor_type.shape.dim[0].Clear()
        v.type.tensor_type.shape.dim[0].dim_param = "N"
    onnx.save(m, str(path))
    return path


def reshape_at_end(path: Path, c: int = 3, size: int = 32) -> Path:
    """Takes any batch, but its logits are reshaped to [1, -1] before the Softmax (PyTorch's
    ``x.view(1, -1)``): a batch of 8 runs without error and answers one softmax over 80 values."""
    m = onnx.load(str(free_batch(conv_classifier(path, c=c, h=size, w=size))))
    m.graph.initializer.extend([numpy_helper.from_array(np.array([1, -1], np.int64), "one_row")])
    soft = next(n for n in m.graph.node if n.op_type == "Softmax")
    i = list(m.graph.node).index(soft)
    m.graph.node.insert(i, N("Reshape", ["logits", "one_row"], ["logits_row"]))
    soft.input[0] = "logits_row"
    onnx.save(m, str(path))
    return path


def softmax_on_a_map(path: Path, size: int = 32) -> Path:
    """Conv -> GlobalAveragePool -> Softmax over the channels: probabilities shaped [N, 10, 1, 1]."""
    rng = np.random.default_rng(1)
    w = numpy_helper.from_array((rng.standard_normal((10, 3, 3, 3)) * 0.2).astype(np.float32), "w")
    nodes = [N("Conv", ["data", "w"], ["conv"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             N("Relu", ["conv"], ["relu"]), N("GlobalAveragePool", ["relu"], ["gap"]),
             N("Softmax", ["gap"], ["probs"], axis=1)]
    graph = helper.make_graph(nodes, path.stem,
                              [helper.make_tensor_value_info("data", onnx.TensorProto.FLOAT, ["N", 3, size, size])],
                              [helper.make_tensor_value_info("probs", onnx.TensorProto.FLOAT, ["N", 10, 1, 1])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def digit_failing_at_run(path: Path) -> Path:
    """A 1x28x28 classifier that loads but fails on every run (a Gather index outside its 8 features)."""
    m = onnx.load(str(conv_classifier(path, c=1, h=28, w=28)))
    m.graph.initializer.extend([numpy_helper.from_array(np.array([100], np.int64), "far")])
    soft = next(n for n in m.graph.node if n.op_type == "Softmax")
    i = list(m.graph.node).index(soft)
    m.graph.node.insert(i, N("Gather", ["flat", "far"], ["picked"], axis=1))
    m.graph.node.insert(i + 1, N("Add", ["logits", "picked"], ["logits2"]))
    soft.input[0] = "logits2"
    onnx.save(m, str(path))
    return path
