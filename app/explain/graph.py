"""An ONNX classifier read for explanations: its weights straight from the file's initializers
(external data memory-mapped, so they are exactly what the session runs and never copied), the path
from a layer to the logits and whether the backward pass (app.explain.backprop) can read it, and the
re-drawn head of the sanity check.
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
            self.check(n)
        self._paths[target] = path
        return path

    def check(self, n: onnx.NodeProto) -> None:
        """Unreadable unless the backward pass can read node ``n`` (its op, its weights, its attributes)."""
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
