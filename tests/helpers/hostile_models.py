"""Small hostile or odd ONNX models built with onnx.helper, for the attack tests (issue 12):
each file is a few hundred bytes and does what its name says when run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

N = helper.make_node


def _save(path: Path, nodes: list, inp: onnx.ValueInfoProto, out: onnx.ValueInfoProto,
          inits: list | None = None, check: bool = True) -> Path:
    graph = helper.make_graph(nodes, path.stem, [inp], [out], initializer=inits or [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    if check:
        onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def conv_classifier(path: Path, c: int = 3, h: int = 32, w: int = 32, classes: int = 10,
                    weight_fill: float | None = None) -> Path:
    """Conv(8 channels, 3x3, same) -> Relu -> GlobalAveragePool -> Flatten -> Gemm -> Softmax.
    ``weight_fill`` sets every conv weight (inf makes every activation after it non-finite)."""
    rng = np.random.default_rng(0)
    wc = (rng.standard_normal((8, c, 3, 3)) * 0.2).astype(np.float32)
    if weight_fill is not None:
        wc[:] = weight_fill
    inits = [numpy_helper.from_array(wc, "wc"),
             numpy_helper.from_array((rng.standard_normal((classes, 8)) * 0.2).astype(np.float32), "wf")]
    nodes = [N("Conv", ["data", "wc"], ["conv"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             N("Relu", ["conv"], ["relu"]), N("GlobalAveragePool", ["relu"], ["gap"]),
             N("Flatten", ["gap"], ["flat"]), N("Gemm", ["flat", "wf"], ["logits"], transB=1),
             N("Softmax", ["logits"], ["probs"], axis=1)]
    return _save(path, nodes, helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, c, h, w]),
                 helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, classes]), inits)


def constant_bomb(path: Path, gib: float, size: int = 32, computed: bool = False) -> Path:
    """ConstantOfShape (``gib`` GiB of float32) -> ReduceMean, added to a real classifier's logits,
    so one run allocates ``gib`` GiB. ``computed``: the issue's form, the length computed at run
    time (Shape -> ReduceProd -> Mul), so no shape inference can say how big it is."""
    base = conv_classifier(path, h=size, w=size)
    m = onnx.load(str(base))
    n = int(gib * (1 << 30) / 4)
    if computed:
        per = n // (3 * size * size)
        m.graph.initializer.extend([numpy_helper.from_array(np.array([per], np.int64), "k")])
        m.graph.node.extend([N("Shape", ["data"], ["s"]), N("ReduceProd", ["s"], ["numel"], keepdims=1),
                             N("Mul", ["numel", "k"], ["bomb_len"])])
    else:
        m.graph.initializer.extend([numpy_helper.from_array(np.array([n], np.int64), "bomb_len")])
    m.graph.node.extend([
        N("ConstantOfShape", ["bomb_len"], ["bomb"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
        N("ReduceMean", ["bomb"], ["bomb_mean"], keepdims=1),
        N("Add", ["logits", "bomb_mean"], ["logits2"]),
        N("Softmax", ["logits2"], ["probs2"], axis=1),
    ])
    m.graph.output[0].name = "probs2"
    onnx.save(m, str(path))
    return path


def long_chain(path: Path, layers: int, c: int = 3, hw: int = 32) -> Path:
    """A chain of ``layers`` 1x1 convolutions on a c x hw x hw map: a tiny file, many layers."""
    w = numpy_helper.from_array(np.eye(c, dtype=np.float32).reshape(c, c, 1, 1), "w")
    nodes, x = [], "data"
    for i in range(layers):
        nodes.append(N("Conv", [x, "w"], [f"c{i}"], kernel_shape=[1, 1]))
        x = f"c{i}"
    nodes += [N("GlobalAveragePool", [x], ["gap"]), N("Flatten", ["gap"], ["flat"]),
              N("Softmax", ["flat"], ["probs"], axis=1)]
    return _save(path, nodes, helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, c, hw, hw]),
                 helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, c]), [w])


def fails_at_run(path: Path, size: int = 32) -> Path:
    """A classifier that loads but fails on every run: the logits gain a Gather whose index (100)
    lies outside the 8 features it reads -- which no shape inference checks, only the run."""
    base = conv_classifier(path, h=size, w=size)
    m = onnx.load(str(base))
    m.graph.initializer.extend([numpy_helper.from_array(np.array([100], np.int64), "far")])
    m.graph.node.extend([N("Gather", ["flat", "far"], ["picked"], axis=1),
                         N("Add", ["logits", "picked"], ["logits2"]),
                         N("Softmax", ["logits2"], ["probs2"], axis=1)])
    m.graph.output[0].name = "probs2"
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def batch_one_inside(path: Path, size: int = 32) -> Path:
    """A classifier whose input takes any batch but whose Flatten is a Reshape to [1, 8]: batch 1
    runs, a batch of more fails -- the form many exported files have."""
    base = conv_classifier(path, h=size, w=size)
    m = onnx.load(str(base))
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    m.graph.initializer.extend([numpy_helper.from_array(np.array([1, 8], np.int64), "one_by_8")])
    flatten = next(n for n in m.graph.node if n.op_type == "Flatten")
    flatten.CopyFrom(N("Reshape", ["gap", "one_by_8"], ["flat"]))
    del m.graph.output[0].type.tensor_type.shape.dim[0]
    m.graph.output[0].type.tensor_type.shape.dim.insert(0, onnx.TensorShapeProto.Dimension(dim_param="N"))
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def odd_input(path: Path, shape: list[int | str], elem_type: int = TensorProto.FLOAT) -> Path:
    """conv_classifier with an odd declared input: a 0 or negative dimension, a named (dynamic) one, or
    another dtype than float32 (cast to float inside, so the graph itself is sound). Not checked."""
    base = conv_classifier(path)
    m = onnx.load(str(base))
    inp = m.graph.input[0]
    inp.CopyFrom(helper.make_tensor_value_info("data", elem_type, shape))
    if elem_type != TensorProto.FLOAT:
        m.graph.input[0].name = "raw"
        m.graph.node.insert(0, N("Cast", ["raw"], ["data"], to=TensorProto.FLOAT))
    onnx.save(m, str(path))
    return path


def odd_output(path: Path, kind: str) -> Path:
    """A graph whose final output is not (N, classes) float scores, or is only in a harmless way:
    "argmax" (int64 class index), "bool", "spatial" (a lone Conv: [1, 10, 32, 32]), "no_classes" ([1, 0]),
    "map_1x1" (Conv -> GlobalAveragePool -> Softmax: [1, 10, 1, 1], served as 10 classes)."""
    rng = np.random.default_rng(0)
    inp = helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 32, 32])
    w = [numpy_helper.from_array((rng.standard_normal((10, 3, 3, 3)) * 0.2).astype(np.float32), "w")]
    conv = N("Conv", ["data", "w"], ["conv"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    if kind == "spatial":
        return _save(path, [conv], inp, helper.make_tensor_value_info("conv", TensorProto.FLOAT, [1, 10, 32, 32]), w)
    if kind == "map_1x1":
        nodes = [conv, N("GlobalAveragePool", ["conv"], ["gap"]), N("Softmax", ["gap"], ["probs"], axis=1)]
        return _save(path, nodes, inp, helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 10, 1, 1]), w)
    if kind == "no_classes":
        return _no_classes(path)
    nodes = [conv, N("GlobalAveragePool", ["conv"], ["gap"]), N("Flatten", ["gap"], ["flat"])]
    if kind == "argmax":
        nodes.append(N("ArgMax", ["flat"], ["cls"], axis=1, keepdims=1))
        return _save(path, nodes, inp, helper.make_tensor_value_info("cls", TensorProto.INT64, [1, 1]), w)
    if kind == "bool":
        nodes.append(N("Cast", ["flat"], ["cls"], to=TensorProto.BOOL))
        return _save(path, nodes, inp, helper.make_tensor_value_info("cls", TensorProto.BOOL, [1, 10]), w)
    raise ValueError(kind)


def _no_classes(path: Path) -> Path:
    """conv_classifier with a Gemm to 0 classes: probs [1, 0] (the checker passes it)."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((rng.standard_normal((8, 3, 3, 3)) * 0.2).astype(np.float32), "wc"),
             numpy_helper.from_array(np.zeros((0, 8), np.float32), "wf")]
    nodes = [N("Conv", ["data", "wc"], ["conv"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             N("GlobalAveragePool", ["conv"], ["gap"]), N("Flatten", ["gap"], ["flat"]),
             N("Gemm", ["flat", "wf"], ["logits"], transB=1), N("Softmax", ["logits"], ["probs"], axis=1)]
    return _save(path, nodes, helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 32, 32]),
                 helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 0]), inits, check=False)
