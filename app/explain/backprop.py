"""The exact backward pass in NumPy over an app.explain.graph.Graph, from one logit to any tensor whose
path to the logits it can read, and Grad-CAM from it.

Values come from the session's run where the graph exposes them; a tensor it does not expose
(the ReLU inside a residual block) is recomputed in NumPy from the nearest exposed one.
"""

from __future__ import annotations

import numpy as np
import onnx

from app.explain import ops
from app.explain.graph import PASS, Graph, Unreadable


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
        self.g.check(node)
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
