"""Find one layer's computation in the ONNX graph a session runs, and read its weights exactly.

A layer is located from the tensor the session exposes for it, walking back through the ops
that follow a convolution (LRN, Relu, BatchNormalization; the 1998 LeNet's constant Mul, Tanh,
Mul) to the Conv itself, or to a lone
MaxPool. Weights come from the graph's initializers (external data included), so they are
bit for bit what onnxruntime loaded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from app.errors import bad_input

AFTER_CONV = ("Relu", "BatchNormalization", "LRN", "Tanh", "Mul")  # Mul by a scalar constant: the 1998 squashing
SMALL = 1 << 18  # initializers kept in memory up to this many values


@dataclass
class Located:
    """One layer's computation: its window op and what follows it, in graph order."""

    kind: str  # "conv" or "pool"
    reads: str  # the tensor the window op reads (an exposed stage output or the graph input)
    node: onnx.NodeProto  # the Conv or MaxPool
    after: list[onnx.NodeProto] = field(default_factory=list)  # e.g. [BatchNormalization, Relu, LRN]

    @property
    def attrs(self) -> dict[str, Any]:
        return {a.name: helper.get_attribute_value(a) for a in self.node.attribute}


class Graph:
    """A model file's graph (external data not loaded) with lazy, exact initializer reads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.model = onnx.load(str(path), load_external_data=False)
        self.inits = {t.name: t for t in self.model.graph.initializer}
        self.producer = {o: n for n in self.model.graph.node for o in n.output}
        self._arrays: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def array(self, name: str) -> np.ndarray:
        """An initializer as the session holds it (read once; external data from its file)."""
        with self._lock:
            if name in self._arrays:
                return self._arrays[name]
        a = numpy_helper.to_array(self.inits[name], base_dir=str(self.path.parent))
        a.setflags(write=False)
        if a.size <= SMALL:  # big tensors (VGG's 2.4 M-weight convs) are re-read: the session holds them already
            with self._lock:
                self._arrays[name] = a
        return a

    def _elementwise(self, node: onnx.NodeProto) -> bool:
        """A Mul counts as part of a layer only when it scales by one constant (1.7159·tanh(2x/3))."""
        if node.op_type != "Mul":
            return True
        k = self.inits.get(node.input[1]) if len(node.input) == 2 else None
        return k is not None and int(np.prod(k.dims)) == 1

    def locate(self, tensor: str, exposed: set[str], layer: str) -> Located:
        """The computation behind exposed ``tensor``; 422 saying why when it is not one we can show."""
        node = self.producer.get(tensor)
        after: list[onnx.NodeProto] = []
        while node is not None and node.op_type in AFTER_CONV and len(after) < 4 and self._elementwise(node):
            after.insert(0, node)
            node = self.producer.get(node.input[0])
        if node is None or node.op_type not in ("Conv", "MaxPool") or (node.op_type == "MaxPool" and after):
            what = node.op_type if node is not None else "the graph input"
            raise bad_input(f"layer {layer!r} is not a single convolution or max pool (it ends in {what}); "
                            "the arithmetic of one unit is shown for conv and max-pool layers, its "
                            "receptive field for every spatial layer")
        reads = node.input[0]
        if reads not in exposed:
            raise bad_input(f"layer {layer!r} reads {reads!r}, an intermediate tensor the session does not "
                            "expose; its unit arithmetic cannot be shown exactly")
        loc = Located("conv" if node.op_type == "Conv" else "pool", reads, node, after)
        a = loc.attrs
        if any(d != 1 for d in a.get("dilations", [1, 1])) or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise bad_input(f"layer {layer!r} uses dilation or auto_pad, which the unit view does not cover")
        if loc.kind == "conv" and (node.input[1] not in self.inits
                                   or (len(node.input) > 2 and node.input[2] and node.input[2] not in self.inits)):
            raise bad_input(f"layer {layer!r} takes its weights from a computed tensor, not an initializer")
        return loc


_CACHE: dict[tuple[Path, int, int], Graph] = {}
_CACHE_LOCK = threading.Lock()


def graph(path: Path) -> Graph:
    """The Graph of a model file, cached while the file (its mtime and size) is unchanged."""
    st = path.stat()
    key = (path, st.st_mtime_ns, st.st_size)
    with _CACHE_LOCK:
        g = _CACHE.get(key)
        if g is None:
            for old in [k for k in _CACHE if k[0] == path] + list(_CACHE)[:max(0, len(_CACHE) - 7)]:
                _CACHE.pop(old, None)
            g = _CACHE[key] = Graph(path)
        return g
