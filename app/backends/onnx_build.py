"""Definition + weights -> a self-describing ONNX model (opset 17, dynamic batch).

Every stage's output is a named graph output, so one ``session.run`` yields the prediction
and all activations; the stage output is what the stage hands on (after its ReLU, LRN or
pool), which keeps onnxruntime's Conv+ReLU fusion intact. After ``prob`` come the tensors an
LRN reads inside a stage (``conv1.pre_lrn``), for the before/after lesson. The layer table and the model's
facts travel in ``metadata_props["convscope"]`` as JSON.
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from app.analysis import analyse, totals
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
    PartialConv,
    ReLU,
    ScaledTanh,
    Subsample,
)
from app.nets.trace import Step, trace
from app.weights.init import Weights, check_weights

ALIGN = 4096
OPSET = 17
IR_VERSION = 8  # readable by onnxruntime >= 1.10
INPUT = "input"
PROB = "prob"
META_KEY = "convscope"


class _Graph:
    def __init__(self, weights: Weights, data: BinaryIO | None, location: str) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.weights = weights
        self.data, self.location = data, location
        self.count = 0

    def init(self, name: str) -> str:
        a = np.ascontiguousarray(self.weights[name], np.float32)
        if self.data is None:
            self.inits.append(numpy_helper.from_array(a, name))
            return name
        # external data: the bytes go straight to the data file, page-aligned so they can be mapped
        offset = self.data.seek(0, 2)
        pad = -offset % ALIGN
        self.data.write(b"\0" * pad)
        self.data.write(memoryview(a).cast("B"))
        t = onnx.TensorProto(name=name, data_type=TensorProto.FLOAT, dims=a.shape,
                             data_location=TensorProto.EXTERNAL)
        for k, v in (("location", self.location), ("offset", str(offset + pad)), ("length", str(a.nbytes))):
            t.external_data.add(key=k, value=v)
        self.inits.append(t)
        return name

    def const(self, scope: str, a: np.ndarray) -> str:
        """A small tensor derived from the weights or the definition, always stored inside the model."""
        self.count += 1
        name = f"{scope}/const_{self.count}"
        arr = np.ascontiguousarray(a, np.int64 if a.dtype.kind == "i" else np.float32)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def node(self, op_type: str, inputs: list[str], scope: str, out: str | None = None, **attrs: Any) -> str:
        self.count += 1
        out = out or f"{scope}/{op_type}_{self.count}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"{scope}/{op_type}_{self.count}", **attrs))
        return out


def _emit(g: _Graph, step: Step, x: str, scope: str) -> str:
    op = step.op

    def ins() -> list[str]:  # the input and the op's weight tensors, as Conv, BN and Gemm take them
        return [x] + [g.init(name) for name, _ in step.tensors]

    if isinstance(op, Conv):
        return g.node("Conv", ins(), scope, kernel_shape=[op.k, op.k], strides=[op.s, op.s],
                      pads=[op.p] * 4, group=op.groups, dilations=[1, 1])
    if isinstance(op, BN):
        return g.node("BatchNormalization", ins(), scope, epsilon=op.eps)
    if isinstance(op, ReLU):
        return g.node("Relu", [x], scope)
    if isinstance(op, LRN):
        return g.node("LRN", [x], scope, size=op.size, alpha=op.alpha, beta=op.beta, bias=op.k)
    if isinstance(op, MaxPool):
        return g.node("MaxPool", [x], scope, kernel_shape=[op.k, op.k], strides=[op.s, op.s], pads=[op.p] * 4)
    if isinstance(op, GlobalAvgPool):
        return g.node("GlobalAveragePool", [x], scope)
    if isinstance(op, Flatten):
        return g.node("Flatten", [x], scope, axis=1)
    if isinstance(op, Linear):
        return g.node("Gemm", ins(), scope, transB=1)
    return _emit_1998(g, step, x, scope)


def _emit_1998(g: _Graph, step: Step, x: str, scope: str) -> str:
    """The 1998 LeNet-5's kinds as small ONNX subgraphs."""
    op, k = step.op, step.key
    if isinstance(op, ScaledTanh):  # A * tanh(S * x)
        y = g.node("Tanh", [g.node("Mul", [x, g.const(scope, np.array(op.s))], scope)], scope)
        return g.node("Mul", [y, g.const(scope, np.array(op.a))], scope)
    if isinstance(op, Subsample):  # a depthwise k x k, stride k convolution whose k*k weights all equal the coef
        coef = np.asarray(g.weights[f"{k}.coef"], np.float32)
        w = np.broadcast_to(coef[:, None, None, None], (len(coef), 1, op.k, op.k))
        return g.node("Conv", [x, g.const(scope, w), g.init(f"{k}.bias")], scope, kernel_shape=[op.k, op.k],
                      strides=[op.k, op.k], pads=[0] * 4, group=len(coef), dilations=[1, 1])
    if isinstance(op, PartialConv):  # one dense convolution; kernels outside the table are zero
        per = np.asarray(g.weights[f"{k}.weight"], np.float32)
        w = np.zeros((op.out, step.input_shape[0], op.k, op.k), np.float32)
        pairs = [(j, i) for j, t in enumerate(op.table) for i in t]
        for n, (j, i) in enumerate(pairs):
            w[j, i] = per[n]
        return g.node("Conv", [x, g.const(scope, w), g.init(f"{k}.bias")], scope, kernel_shape=[op.k, op.k],
                      strides=[1, 1], pads=[0] * 4, group=1, dilations=[1, 1])
    if isinstance(op, RBF):  # -sum_j (x_j - w_ij)^2 over the fixed codes
        u = g.node("Unsqueeze", [x, g.const(scope, np.array([1]))], scope)
        d = g.node("Sub", [u, g.const(scope, np.array(op.codes, np.float32))], scope)
        s = g.node("ReduceSum", [g.node("Mul", [d, d], scope), g.const(scope, np.array([2]))], scope, keepdims=0)
        return g.node("Neg", [s], scope)
    raise TypeError(f"no ONNX form for {op!r}")


def pre_lrn(stage: str) -> str:
    """The graph output holding what a stage's LRN reads (the ReLU's output; Conv+ReLU stay fused)."""
    return f"{stage}.pre_lrn"


def _rename_last(g: _Graph, old: str, new: str) -> None:
    last = g.nodes[-1]
    assert last.output[0] == old
    last.output[0] = new


def metadata(net: Net, weights_source: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    layers = analyse(net)
    return {
        "format": 1, "name": net.name, "title": net.title, "family": net.family, "year": net.year,
        "input_shape": list(net.input_shape), "input_kind": net.input_kind, "labels": net.labels_kind,
        "weights": weights_source, "totals": totals(layers),
        "layers": [{k: v for k, v in layer.as_dict().items()
                    if k in ("name", "kind", "op", "kernel", "stride", "padding", "groups")} for layer in layers],
        **(extra or {}),
    }


def build(net: Net, weights: Weights, weights_source: str = "untrained",
          extra_meta: dict[str, Any] | None = None, data: BinaryIO | None = None,
          data_location: str = "") -> onnx.ModelProto:
    """The ONNX model of ``net`` with ``weights``, checked by onnx.checker.

    With ``data`` (a binary file open for writing) the weights are written there as ONNX
    external data named ``data_location`` (relative to the model file) instead of inside the
    model: a 550 MB VGG is then written in about a second and the model proto stays small."""
    check_weights(net, weights)
    g = _Graph(weights, data, data_location)
    x, shape = INPUT, net.input_shape
    outputs: list[tuple[str, tuple[int, ...]]] = []
    extra: list[tuple[str, tuple[int, ...]]] = []  # inside-stage tensors exposed after prob
    for st in trace(net):
        name = st.stage.name
        y = x
        for step in st.branch("main"):
            if isinstance(step.op, LRN) and step.index > 0:  # what LRN reads, for the lesson (app/lessons/lrn.py)
                _rename_last(g, y, pre_lrn(name))
                y = pre_lrn(name)
                extra.append((y, step.input_shape))
            y = _emit(g, step, y, name)
        if st.stage.shortcut is not None:
            sc = x
            for step in st.branch("shortcut"):
                sc = _emit(g, step, sc, name)
            y = g.node("Add", [y, sc], name)
        for step in st.branch("post"):
            y = _emit(g, step, y, name)
        _rename_last(g, y, name)
        x, shape = name, st.output_shape
        outputs.append((name, shape))
    g.node("Softmax", [x], "prob", out=PROB, axis=1)
    outputs.append((PROB, shape))
    outputs += extra

    graph = helper.make_graph(
        g.nodes, net.name,
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", *net.input_shape])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", *s]) for n, s in outputs],
        initializer=g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="convscope", ir_version=IR_VERSION)
    model.doc_string = f"{net.title}: {net.description}"
    helper.set_model_props(model, {META_KEY: json.dumps(metadata(net, weights_source, extra_meta))})
    if data is None:  # with external data the file is checked once written (app.backends.onnx_write.write_model)
        onnx.checker.check_model(model)
    return model


def read_metadata(model: onnx.ModelProto) -> dict[str, Any] | None:
    for prop in model.metadata_props:
        if prop.key == META_KEY:
            return json.loads(prop.value)
    return None
