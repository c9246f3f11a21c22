"""A foreign ONNX file -> the same layer table the built-ins get, read from the graph itself.

Layers are found by op type, never by name: each Conv / Gemm / MatMul / pooling / LRN node,
and each Add or Concat that joins two activations (residual and inception joins), is a
layer; the elementwise nodes that follow it alone (Relu, BatchNormalization, Clip, ...) are
folded into it, so the exposed tensor is what the layer hands on. Whatever the graph does
not say (an unknown dimension, an op we do not model) is left as None, never invented.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import onnx
from onnx import helper, shape_inference

from app.analysis import INPUT_RF, RF, LayerInfo, arithmetic

ANCHORS = {"Conv": "conv", "ConvTranspose": "conv", "Gemm": "fc", "MatMul": "fc", "MaxPool": "pool",
           "AveragePool": "pool", "GlobalAveragePool": "gap", "GlobalMaxPool": "gap", "LRN": "lrn",
           "Add": "block", "Concat": "block"}
FOLD = {"Relu", "BatchNormalization", "Clip", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "HardSwish",
        "HardSigmoid", "Elu", "Selu", "Dropout", "Identity", "Softplus", "Gelu", "Mish"}
SHAPE_KEEPING = FOLD | {"LRN", "Softmax", "LogSoftmax", "Mul", "Sub", "Div"}
FLOATS = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE}


@dataclass
class Inspected:
    input_name: str
    input_shape: list[int | None]  # without batch
    layers: list[LayerInfo]
    outputs: list[str]  # tensor name of each layer, in order
    final_output: str
    final_is_softmax: bool
    n_outputs: int = 1  # graph outputs; the first is taken as the class scores


def _dims(vi: onnx.ValueInfoProto) -> list[int | None] | None:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _prod(xs: list[int | None]) -> int | None:
    n = 1
    for x in xs:
        if x is None:
            return None
        n *= x
    return n


def _receptive_fields(nodes: list[onnx.NodeProto], inits: dict[str, onnx.TensorProto],
                      shapes: dict[str, list[int | None] | None], input_name: str) -> dict[str, RF | None]:
    """Receptive field of every tensor, through windows (Conv, pools), shape-keeping ops and joins."""
    rf: dict[str, RF | None] = {input_name: INPUT_RF}
    for node in nodes:
        a = _attrs(node)
        ins = [x for x in node.input if x]
        src = [rf.get(x) for x in ins if x not in inits]
        r: RF | None = None
        if node.op_type in ("Conv", "MaxPool", "AveragePool") and src and src[0] is not None:
            k = list(a.get("kernel_shape") or (shapes.get(ins[1]) or [0, 0, 0, 0])[2:])
            s = list(a.get("strides", [1] * len(k)))
            p = list(a.get("pads", [0] * 2 * len(k)))
            d = list(a.get("dilations", [1] * len(k)))
            if k and all(x == 1 for x in d) and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"):
                r = src[0].through(int(k[0]), int(s[0]), int(p[0]))
        elif node.op_type in SHAPE_KEEPING and src:
            r = src[0]
        elif node.op_type in ("Add", "Concat", "Sum", "Max") and src and all(x is not None for x in src):
            r = max(src, key=lambda x: x.size)  # type: ignore[union-attr]
        for o in node.output:
            rf[o] = r
    return rf


def inspect(model: onnx.ModelProto) -> Inspected:
    """Analyse a classifier graph; raises ValueError when it is not one we can show."""
    inits = {t.name: t for t in model.graph.initializer}
    real_inputs = [i for i in model.graph.input if i.name not in inits]
    if len(real_inputs) != 1:
        raise ValueError(f"expected one image input, found {len(real_inputs)} inputs")
    inp = real_inputs[0]
    in_dims = _dims(inp)
    if in_dims is None or len(in_dims) != 4:
        raise ValueError(f"input {inp.name!r} is not a 4-D image tensor (N, C, H, W)")
    if any(d is not None and d <= 0 for d in in_dims):
        raise ValueError(f"input {inp.name!r} has a dimension of {min(d for d in in_dims if d is not None)} "
                         f"({in_dims}); every dimension must be positive")
    elem = inp.type.tensor_type.elem_type
    if elem != onnx.TensorProto.FLOAT:
        raise ValueError(f"input {inp.name!r} holds {_dtype(elem)}; the input must be float32")
    try:
        inferred = shape_inference.infer_shapes(model, check_type=False, strict_mode=False)
    except Exception as exc:
        raise ValueError(f"shape inference failed: {exc}") from exc
    shapes: dict[str, list[int | None] | None] = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        shapes[vi.name] = _dims(vi)
    for name, t in inits.items():
        shapes[name] = list(t.dims)
    init_size = {name: _prod(list(t.dims)) or 0 for name, t in inits.items()}

    nodes = list(model.graph.node)
    consumers: dict[str, list[int]] = defaultdict(list)
    for i, n in enumerate(nodes):
        for x in n.input:
            consumers[x].append(i)
    graph_outputs = {o.name for o in model.graph.output}

    rf = _receptive_fields(nodes, inits, shapes, inp.name)
    layers: list[LayerInfo] = []
    outputs: list[str] = []
    taken: set[int] = set()
    for i, node in enumerate(nodes):
        a = _attrs(node)
        ins = [x for x in node.input if x]
        data_ins = [x for x in ins if x not in inits]
        if i in taken or node.op_type not in ANCHORS:
            continue
        if node.op_type in ("Add", "Concat") and len([x for x in data_ins if len(shapes.get(x) or []) == 4]) < 2:
            continue  # a bias add or a reshape join, not a residual/inception join
        # fold the single-consumer elementwise chain that follows
        members = [i]
        out = node.output[0]
        while out not in graph_outputs and len(consumers[out]) == 1:
            j = consumers[out][0]
            nxt = nodes[j]
            if nxt.op_type not in FOLD or [x for x in nxt.input if x and x not in inits] != [out]:
                break
            members.append(j)
            taken.add(j)
            out = nxt.output[0]
        out_shape = shapes.get(out)
        in_shape = shapes.get(data_ins[0]) if data_ins else None
        params = sum(init_size.get(x, 0) for m in members for x in nodes[m].input if x in inits)
        macs: int | None = 0
        if node.op_type in ("Conv", "ConvTranspose"):
            w = shapes.get(ins[1]) or []
            macs = _prod((out_shape or [None])[1:] + list(w[1:])) if len(w) == 4 and out_shape else None
        elif node.op_type in ("Gemm", "MatMul") and len(ins) > 1 and ins[1] in inits:
            macs = _prod(list(inits[ins[1]].dims))
        elif node.op_type in ("Gemm", "MatMul"):
            macs = None
        info = LayerInfo(
            name=out, kind=ANCHORS[node.op_type], op=node.op_type, ops=[nodes[m].op_type for m in members],
            input_shape=None if in_shape is None else [x for x in in_shape[1:]],  # type: ignore[misc]
            output_shape=None if out_shape is None or any(x is None for x in out_shape[1:])
            else [int(x) for x in out_shape[1:]],  # type: ignore[arg-type]
            params=params, macs=macs,
            receptive_field=None if rf.get(out) is None else {
                "size": rf[out].size, "jump": rf[out].jump, "start": rf[out].start},  # type: ignore[union-attr]
        )
        if node.op_type in ("Conv", "MaxPool", "AveragePool"):
            k = list(a.get("kernel_shape") or (shapes.get(ins[1]) or [0, 0, 0, 0])[2:])
            info.kernel = [int(x) for x in k]
            info.stride = [int(x) for x in a.get("strides", [1] * len(k))]
            info.padding = [int(x) for x in a.get("pads", [0] * 2 * len(k))]
            info.groups = int(a.get("group", 1)) if node.op_type == "Conv" else None
            if in_shape and len(in_shape) == 4 and in_shape[2] and info.kernel and info.padding:
                info.arithmetic = [arithmetic(int(in_shape[2]), info.kernel[0], info.stride[0], info.padding[0])]
        layers.append(info)
        outputs.append(out)
    if not model.graph.output:
        raise ValueError("the graph has no output")
    final = model.graph.output[0].name
    _check_output(model.graph.output[0], inferred, shapes.get(final))
    producer = next((n for n in nodes if final in n.output), None)
    return Inspected(
        input_name=inp.name, input_shape=in_dims[1:], layers=layers, outputs=outputs,
        final_output=final, final_is_softmax=producer is not None and producer.op_type == "Softmax",
        n_outputs=len(model.graph.output),
    )


def _dtype(elem_type: int) -> str:
    return onnx.TensorProto.DataType.Name(elem_type).lower() if elem_type else "an undeclared type"


def _check_output(out: onnx.ValueInfoProto, inferred: onnx.ModelProto, dims: list[int | None] | None) -> None:
    """Refuse a final output that cannot be class scores: not float (an ArgMax's index, a bool, a string),
    no classes, or a map with spatial size (N, K, H, W) other than 1x1 (a Softmax on a 1x1 map is fine)."""
    elem = out.type.tensor_type.elem_type or next(
        (vi.type.tensor_type.elem_type for vi in list(inferred.graph.output) + list(inferred.graph.value_info)
         if vi.name == out.name), 0)
    if elem and elem not in FLOATS:
        raise ValueError(f"the output {out.name!r} holds {_dtype(elem)}, not float scores; convscope shows "
                         "classifiers whose first output is the class scores (N, classes)")
    if dims is None:
        return
    if any(d == 0 for d in dims[1:]):
        raise ValueError(f"the output {out.name!r} has shape {dims}: no classes")
    if len(dims) > 2 and any(d not in (1, None) for d in dims[2:]):
        raise ValueError(f"the output {out.name!r} has shape {dims}, a map, not class scores (N, classes); "
                         "convscope shows classifiers")


def expose(model: onnx.ModelProto, tensors: list[str]) -> onnx.ModelProto:
    """The same model with ``tensors`` added as graph outputs (a graph edit, no new nodes)."""
    have = {o.name for o in model.graph.output}
    for t in tensors:
        if t not in have:
            model.graph.output.append(helper.make_empty_tensor_value_info(t))
    return model


def run_bytes(model: onnx.ModelProto, exposed: list[str]) -> int:
    """An upper estimate of the memory one run takes (batch 1): the exposed layer outputs, all held
    until the run ends, plus twice the largest tensor (a producer and its consumer live together).
    Raises ValueError naming a tensor whose size cannot be known before running (a shape computed
    from data, e.g. Shape -> Mul -> ConstantOfShape): such a graph's memory cannot be bounded."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inits = {t.name for t in m.graph.initializer}
    for vi in m.graph.input:
        dims = vi.type.tensor_type.shape.dim
        if vi.name not in inits and len(dims) and not dims[0].HasField("dim_value"):
            dims[0].Clear()
            dims[0].dim_value = 1  # the batch: convscope always runs one input
    try:
        inferred = shape_inference.infer_shapes(m, check_type=False, strict_mode=False, data_prop=True)
    except Exception as exc:
        raise ValueError(f"shape inference failed: {exc}") from exc
    known: dict[str, int] = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        t = vi.type.tensor_type
        dims = _dims(vi)
        if dims is not None and all(d is not None for d in dims):
            try:
                item = helper.tensor_dtype_to_np_dtype(t.elem_type).itemsize
            except (KeyError, TypeError, ValueError):
                item = 8
            known[vi.name] = (_prod(dims) or 0) * item
    sizes = []
    for node in inferred.graph.node:
        for out in node.output:
            if not out:
                continue
            if out not in known:
                raise ValueError(f"the size of tensor {out!r} ({node.op_type}) cannot be known before running, "
                                 "so the memory of a run cannot be bounded; refused")
            sizes.append(known[out])
    return sum(known.get(t, 0) for t in exposed) + 2 * max(sizes, default=0)
