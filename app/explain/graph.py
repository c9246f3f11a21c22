"""An ONNX classifier read for explanations: its weights straight from the file's initializers
(external data memory-mapped, so they are exactly what the session runs and never copied), and
an exact backward pass in NumPy from one logit to any tensor whose path to the logits it can read.

Values come from the session's run where the graph exposes them; a tensor it does not expose
(the ReLU inside a residual block) is recomputed in NumPy from the nearest exposed one.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from app.explain import ops
from app.units.graph import graph as units_graph

# ops the backward pass knows, and those it passes straight through
PASS = {"Identity", "Dropout"}
SUPPORTED = {"Conv", "Relu", "MaxPool", "BatchNormalization", "Add", "GlobalAveragePool", "Flatten", "Reshape",
             "Gemm", "MatMul", "Concat"} | PASS


SANITY_STREAM = 0x5A417  # the re-drawn head's random stream, apart from app.weights.init.HeWeights's


class Unreadable(ValueError):
    """The graph's path from a layer to the logits holds something the backward pass cannot read."""


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _window(node: onnx.NodeProto, a: dict[str, Any], k: Iterable[int]) -> tuple[tuple[int, int], tuple[int, ...]]:
    k = list(k)
    if len(k) != 2:
        raise Unreadable(f"{node.op_type} {node.name!r}: only 2-D windows are read")
    if any(d != 1 for d in a.get("dilations", [1, 1])):
        raise Unreadable(f"{node.op_type} {node.name!r}: dilated windows are not read")
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise Unreadable(f"{node.op_type} {node.name!r}: auto_pad is not read; explicit pads are")
    if a.get("ceil_mode", 0):
        raise Unreadable(f"{node.op_type} {node.name!r}: ceil_mode pooling is not read")
    s = [int(x) for x in a.get("strides", [1, 1])]
    p = [int(x) for x in a.get("pads", [0, 0, 0, 0])]
    return (s[0], s[1]), (p[0], p[1], p[2], p[3])


class Graph:
    """One model file's graph and weights; ``logits`` is the pre-softmax score tensor."""

    def __init__(self, path: Path, final_output: str) -> None:
        model = units_graph(path).model  # the unit views' parse of the same file, shared and cached
        self.file = path
        self.folder = path.parent.resolve()
        self.inits = {t.name: t for t in model.graph.initializer}
        self.consts: dict[str, np.ndarray] = {}
        self.nodes: list[onnx.NodeProto] = []
        for n in model.graph.node:
            if n.op_type == "Constant" and len(n.output) == 1 and n.attribute and n.attribute[0].name == "value":
                self.consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
            else:
                self.nodes.append(n)
        self.producer = {o: n for n in self.nodes for o in n.output}
        self._arrays: dict[str, np.ndarray] = {}
        last = self.producer.get(final_output)
        self.logits = last.input[0] if last is not None and last.op_type == "Softmax" else final_output
        self._paths: dict[str, list[onnx.NodeProto]] = {}
        self._live: dict[str, set[str]] = {}
        self._random: dict[int, dict[str, np.ndarray]] = {}
        # each node's attributes and window, read once: parsing them on every pass cost LeNet-5's
        # Grad-CAM about as much as its onnxruntime run
        self._attrs: dict[int, dict[str, Any]] = {}
        self._windows: dict[tuple[int, tuple[int, ...]], tuple[tuple[int, int], tuple[int, ...]]] = {}

    def attrs(self, n: onnx.NodeProto) -> dict[str, Any]:
        a = self._attrs.get(id(n))
        if a is None:
            a = self._attrs[id(n)] = _attrs(n)
        return a

    def window(self, n: onnx.NodeProto, k: Iterable[int]) -> tuple[tuple[int, int], tuple[int, ...]]:
        key = (id(n), tuple(int(d) for d in k))
        w = self._windows.get(key)
        if w is None:
            w = self._windows[key] = _window(n, self.attrs(n), key[1])
        return w

    def live(self, target: str) -> set[str]:
        """``target`` and every tensor its path to the logits writes."""
        if target not in self._live:
            self._live[target] = {target} | {o for n in self.path(target) for o in n.output}
        return self._live[target]

    # -- weights ------------------------------------------------------------------------------
    def array(self, name: str) -> np.ndarray:
        """An initializer as float32; external data is memory-mapped read-only (app.units.graph reads
        a copy each time: for VGG's 411 MB fc6 that alone would cost more than the forward run)."""
        if name in self._arrays:
            return self._arrays[name]
        if name in self.consts:
            return self.consts[name]
        t = self.inits[name]
        if t.data_location == onnx.TensorProto.EXTERNAL:
            ext = {e.key: e.value for e in t.external_data}
            loc = ext.get("location", "")
            file = (self.folder / loc).resolve()
            if not loc or Path(loc).is_absolute() or self.folder not in file.parents:
                raise Unreadable(f"initializer {name!r}: external data {loc!r} lies outside the model's folder")
            if t.data_type != onnx.TensorProto.FLOAT:
                raise Unreadable(f"initializer {name!r}: only float32 external data is read")
            shape = tuple(int(d) for d in t.dims)
            offset, length = int(ext.get("offset", 0)), int(ext.get("length", 4 * math.prod(shape)))
            if length != 4 * math.prod(shape) or file.stat().st_size < offset + length:
                raise Unreadable(f"initializer {name!r}: external data length does not match its shape")
            a: np.ndarray = np.memmap(file, np.float32, "r", offset, shape)
        else:
            a = numpy_helper.to_array(t)
            if a.dtype.kind in "fc" and a.dtype != np.float32:
                a = a.astype(np.float32)
        self._arrays[name] = a
        return a

    def is_const(self, name: str) -> bool:
        return name in self.inits or name in self.consts

    # -- structure ------------------------------------------------------------------------------
    def path(self, target: str) -> list[onnx.NodeProto]:
        """The nodes between ``target`` and the logits, in graph order; Unreadable if there are none
        or if one of them is an op (or a form of one) the backward pass does not know."""
        if target in self._paths:
            return self._paths[target]
        fwd, reach = {target}, []
        for n in self.nodes:
            if any(i in fwd for i in n.input):
                fwd.update(n.output)
                reach.append(n)
        if self.logits not in fwd:
            raise Unreadable(f"{target!r} does not lead to the logits {self.logits!r}")
        need, path = {self.logits}, []
        for n in reversed(reach):
            if any(o in need for o in n.output):
                path.append(n)
                need.update(i for i in n.input if i in fwd)
        path.reverse()
        for n in path:
            self._check(n)
        self._paths[target] = path
        return path

    def _check(self, n: onnx.NodeProto) -> None:
        if n.op_type not in SUPPORTED:
            raise Unreadable(f"the path to the logits passes a {n.op_type} node ({n.name or n.output[0]!r}); "
                             f"explanations read {', '.join(sorted(SUPPORTED))}")
        a = _attrs(n)
        if n.op_type == "Conv":
            if n.input[1] not in self.inits:
                raise Unreadable(f"Conv {n.name!r}: its weights are not an initializer")
            _window(n, a, a.get("kernel_shape") or self.inits[n.input[1]].dims[2:])
        elif n.op_type == "MaxPool":
            _window(n, a, a["kernel_shape"])
            if len(n.output) > 1 and n.output[1]:
                raise Unreadable(f"MaxPool {n.name!r}: an indices output is not read")
        elif n.op_type in ("Gemm", "MatMul"):
            if not self.is_const(n.input[1]):
                raise Unreadable(f"{n.op_type} {n.name!r}: its weights are not an initializer")
            if a.get("transA", 0):
                raise Unreadable(f"Gemm {n.name!r}: transA is not read")
        elif n.op_type == "Flatten" and a.get("axis", 1) != 1:
            raise Unreadable(f"Flatten {n.name!r}: only axis 1 is read")

    def head_weights(self, start: str) -> list[str]:
        """The weight tensors of every Conv, Gemm and MatMul between ``start`` and the logits."""
        return [n.input[1] for n in self.path(start) if n.op_type in ("Conv", "Gemm", "MatMul")]

    def randomised(self, start: str, seed: int = 0) -> dict[str, np.ndarray]:
        """The head's weights re-drawn (He-uniform for each tensor's fan-in, seeded by its name);
        biases kept. Kept in memory when small (LeNet, ResNet's fc), drawn afresh otherwise."""
        key = hash((start, seed))
        if key in self._random:
            return self._random[key]
        out: dict[str, np.ndarray] = {}
        for name in self.head_weights(start):
            shape = self.array(name).shape
            n = self.producer_of_weight(name)
            fan_in = int(np.prod(shape[1:])) if n.op_type == "Conv" or _attrs(n).get("transB", 0) else int(shape[0])
            # a stream of its own: convscope's untrained built-ins are He-uniform from (seed 0, crc32 of the
            # name), so drawing from that stream handed back the file's own weights (sanity correlation 1)
            rng = np.random.default_rng([seed, zlib.crc32(name.encode()), SANITY_STREAM])
            a = rng.random(shape, dtype=np.float32)
            a -= np.float32(0.5)
            a *= np.float32(2 * math.sqrt(6.0 / max(1, fan_in)))
            out[name] = a
        if sum(a.nbytes for a in out.values()) <= 64 << 20:
            self._random[key] = out
        return out

    def producer_of_weight(self, name: str) -> onnx.NodeProto:
        return next(n for n in self.nodes if len(n.input) > 1 and n.input[1] == name)


class Pass:
    """One input batch's values (the session's outputs) and what NumPy derives from them."""

    def __init__(self, graph: Graph, values: dict[str, np.ndarray],
                 overrides: dict[str, np.ndarray] | None = None) -> None:
        self.g = graph
        self.over = overrides or {}
        tainted = set(self.over)
        if tainted:  # values downstream of a replaced weight must be recomputed
            for n in graph.nodes:
                if any(i in tainted for i in n.input):
                    tainted.update(n.output)
        self.values = {k: v for k, v in values.items() if k not in tainted}

    def value(self, t: str) -> np.ndarray:
        if t in self.over:
            return self.over[t]
        if t in self.values:
            return self.values[t]
        if self.g.is_const(t):
            return self.g.array(t)
        node = self.g.producer.get(t)
        if node is None:
            raise Unreadable(f"tensor {t!r} is neither computed nor exposed")
        self.g._check(node)
        for name, v in zip(node.output, self._forward(node), strict=False):
            self.values[name] = v
        return self.values[t]

    def _forward(self, n: onnx.NodeProto) -> list[np.ndarray]:
        a = self.g.attrs(n)
        op = n.op_type
        x = self.value(n.input[0])
        if op in PASS:
            return [x]
        if op == "Relu":
            return [np.maximum(x, 0)]
        if op == "Conv":
            w = self.value(n.input[1])
            b = self.value(n.input[2]) if len(n.input) > 2 and n.input[2] else None
            s, p = self.g.window(n, w.shape[2:])
            return [ops.conv2d(x, w, b, s, p, int(a.get("group", 1)))]
        if op == "MaxPool":
            s, p = self.g.window(n, a["kernel_shape"])
            return [ops.maxpool(x, tuple(a["kernel_shape"]), s, p)]
        if op == "BatchNormalization":
            g, b, m, v = (self.value(i) for i in n.input[1:5])
            return [ops.batchnorm(x, g, b, m, v, a.get("epsilon", 1e-5))]
        if op == "Add":
            return [x + self.value(n.input[1])]
        if op == "GlobalAveragePool":
            return [x.mean(axis=(2, 3), keepdims=True)]
        if op == "Flatten":
            return [x.reshape(x.shape[0], -1)]
        if op == "Reshape":
            shape = [int(d) for d in self.value(n.input[1])]
            shape = [x.shape[i] if d == 0 and not a.get("allowzero", 0) else d for i, d in enumerate(shape)]
            return [x.reshape(shape)]
        if op == "Gemm":
            w = self.value(n.input[1])
            y = np.float32(a.get("alpha", 1.0)) * (x @ (w.T if a.get("transB", 0) else w))
            if len(n.input) > 2 and n.input[2]:
                y = y + np.float32(a.get("beta", 1.0)) * self.value(n.input[2])
            return [y.astype(np.float32)]
        if op == "MatMul":
            return [(x @ self.value(n.input[1])).astype(np.float32)]
        if op == "Concat":
            return [np.concatenate([self.value(i) for i in n.input], axis=a["axis"])]
        raise Unreadable(f"no NumPy form for {op}")

    def logits(self) -> np.ndarray:
        return self.value(self.g.logits)

    def gradient(self, target: str, cls: int) -> np.ndarray:
        """d logit[cls] / d target, for every item of the batch (each item's own logit)."""
        path = self.g.path(target)
        z = self.logits()
        seed = np.zeros_like(z, dtype=np.float32)
        seed[:, cls] = 1
        grads: dict[str, np.ndarray] = {self.g.logits: seed}
        live = self.g.live(target)
        for n in reversed(path):
            dy = grads.pop(n.output[0], None)
            if dy is None:
                continue
            for name, g in self._backward(n, dy, live):
                grads[name] = grads[name] + g if name in grads else g
        if target not in grads:
            raise Unreadable(f"no gradient reaches {target!r}")
        return grads[target]

    def _backward(self, n: onnx.NodeProto, dy: np.ndarray, live: set[str]) -> list[tuple[str, np.ndarray]]:
        a = self.g.attrs(n)
        op = n.op_type
        x_name = n.input[0]
        if op in PASS:
            return [(x_name, dy)]
        if op == "Relu":
            return [(x_name, dy * (self.value(n.output[0]) > 0))]
        if op == "Conv":
            w = self.value(n.input[1])
            s, p = self.g.window(n, w.shape[2:])
            shape = self.value(x_name).shape
            return [(x_name, ops.conv2d_grad_input(dy, w, shape, s, p, int(a.get("group", 1))))]
        if op == "MaxPool":
            s, p = self.g.window(n, a["kernel_shape"])
            return [(x_name, ops.maxpool_grad_input(dy, self.value(x_name), tuple(a["kernel_shape"]), s, p))]
        if op == "BatchNormalization":
            scale = ops.bn_scale(self.value(n.input[1]), self.value(n.input[4]), a.get("epsilon", 1e-5))
            return [(x_name, dy * scale.reshape(1, -1, *([1] * (dy.ndim - 2))))]
        if op == "Add":
            return [(i, ops.unbroadcast(dy, self.value(i).shape)) for i in n.input if i in live]
        if op == "GlobalAveragePool":
            x = self.value(x_name)
            return [(x_name, np.broadcast_to(dy / np.float32(x.shape[2] * x.shape[3]), x.shape).astype(np.float32))]
        if op in ("Flatten", "Reshape"):
            return [(x_name, dy.reshape(self.value(x_name).shape))]
        if op == "Gemm":
            w = self.value(n.input[1])
            g = np.float32(a.get("alpha", 1.0)) * (dy @ (w if a.get("transB", 0) else w.T))
            return [(x_name, g.astype(np.float32))]
        if op == "MatMul":
            return [(x_name, (dy @ self.value(n.input[1]).T).astype(np.float32))]
        if op == "Concat":
            out, start, axis = [], 0, a["axis"]
            for i in n.input:
                size = self.value(i).shape[axis]
                if i in live:
                    out.append((i, np.take(dy, range(start, start + size), axis=axis)))
                start += size
            return out
        raise Unreadable(f"no gradient for {op}")


def gradcam(p: Pass, target: str, cls: int) -> np.ndarray:
    """Grad-CAM (Selvaraju et al.) of item 0 at ``target``: ReLU(sum_k alpha_k A_k), alpha_k the
    spatial mean of d y_cls / d A_k."""
    act = p.value(target)[0].astype(np.float64)
    grad = p.gradient(target, cls)[0].astype(np.float64)
    alpha = grad.mean(axis=(1, 2))
    return np.maximum(np.tensordot(alpha, act, axes=1), 0).astype(np.float32)
