"""The arithmetic of one activation, in NumPy, from the tensor the layer reads in the same onnxruntime run.

A convolution unit: the patch it reads (its group's input channels only; padding as zeros), its
kernel, the products, their sum, the bias, the pre-activation and what follows (ReLU, LRN, or the
1998 LeNet's squashing: × a constant, tanh, × a constant).
Batch norm after a convolution is folded into the kernel and the bias in float32 the way
onnxruntime's Conv+BatchNormalization fusion does it, and the panel says so. A max-pool unit:
its window (padding as null) and the element that won.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
from onnx import helper

from app.units.graph import Graph, Located


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _window(a: np.ndarray, top: int, left: int, kh: int, kw: int) -> tuple[np.ndarray, np.ndarray]:
    """a[..., top:top+kh, left:left+kw] with zeros outside, and the mask of positions inside."""
    h, w = a.shape[-2:]
    out = np.zeros((*a.shape[:-2], kh, kw), a.dtype)
    inside = np.zeros((kh, kw), bool)
    r0, r1 = max(top, 0), min(top + kh, h)
    c0, c1 = max(left, 0), min(left + kw, w)
    if r0 < r1 and c0 < c1:
        out[..., r0 - top:r1 - top, c0 - left:c1 - left] = a[..., r0:r1, c0:c1]
        inside[r0 - top:r1 - top, c0 - left:c1 - left] = True
    return out, inside


class ConvUnit:
    """Everything one channel of a Conv (+ folded BN) needs, read once from the graph."""

    def __init__(self, g: Graph, loc: Located) -> None:
        node, a = loc.node, loc.attrs
        self.w = g.array(node.input[1])
        self.b = g.array(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        self.groups = int(a.get("group", 1))
        self.stride = [int(s) for s in a.get("strides", [1, 1])]
        self.pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
        self.bn: dict[str, Any] | None = None
        bn = next((n for n in loc.after if n.op_type == "BatchNormalization"), None)
        if bn is not None:
            gamma, beta, mean, var = (g.array(n) for n in bn.input[1:5])
            eps = np.float32(_attrs(bn).get("epsilon", 1e-5))
            scale = gamma / np.sqrt(var + eps)  # float32 throughout, as onnxruntime folds it
            self.bn = {"gamma": gamma, "beta": beta, "mean": mean, "var": var, "eps": float(eps), "scale": scale}

    def channel(self, c: int, x: np.ndarray, y: int, xx: int) -> dict[str, Any]:
        """Patch, kernel, bias and pre-activation of unit (c, y, xx) reading ``x`` (C, H, W)."""
        cout, cin_g, kh, kw = self.w.shape
        grp = c // (cout // self.groups)
        lo, hi = grp * cin_g, (grp + 1) * cin_g
        top, left = y * self.stride[0] - self.pads[0], xx * self.stride[1] - self.pads[1]
        patch, inside = _window(x[lo:hi], top, left, kh, kw)
        kernel = self.w[c]
        bias = np.float32(self.b[c]) if self.b is not None else np.float32(0)
        if self.bn is not None:
            s = self.bn["scale"][c]
            kernel = (kernel * s).astype(np.float32)
            bias = np.float32((bias - self.bn["mean"][c]) * s + self.bn["beta"][c])
        with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 of an overflowing model: 422 non_finite later
            products = patch.astype(np.float32) * kernel
            partial = products.reshape(cin_g, -1).sum(axis=1, dtype=np.float64)
            total = float(partial.sum())
        return {"channels": [lo, hi], "top": top, "left": left, "inside": inside, "patch": patch,
                "kernel": kernel, "products": products, "partial": partial, "sum": total,
                "bias": float(bias), "pre": total + float(bias)}


def _lrn(node: onnx.NodeProto, before: dict[int, float], c: int, n_channels: int) -> dict[str, Any]:
    a = _attrs(node)
    size, alpha, beta = int(a["size"]), float(a.get("alpha", 1e-4)), float(a.get("beta", 0.75))
    k = float(a.get("bias", 1.0))
    lo, hi = max(0, c - (size - 1) // 2), min(n_channels - 1, c + (size - 1) - (size - 1) // 2)
    sq = sum(before[j] ** 2 for j in range(lo, hi + 1))
    value = before[c] / (k + alpha / size * sq) ** beta
    return {"op": "LRN", "size": size, "alpha": alpha, "beta": beta, "bias": k, "channels": [lo, hi],
            "square_sum": sq, "value": value}


def conv_unit(g: Graph, loc: Located, x: np.ndarray, out: np.ndarray, c: int, y: int, xx: int) -> dict[str, Any]:
    """The whole arithmetic of conv unit (c, y, xx); ``x`` is what the Conv reads, ``out`` the exposed
    stage output (both (C, H, W) from one onnxruntime run)."""
    cu = ConvUnit(g, loc)
    me = cu.channel(c, x, y, xx)
    steps: list[dict[str, Any]] = []
    current = {c: me["pre"]}
    relu_value: float | None = None
    for node in loc.after:
        if node.op_type == "BatchNormalization":
            continue  # folded above
        if node.op_type == "Relu":
            current = {j: max(v, 0.0) for j, v in current.items()}
            relu_value = current[c]
            steps.append({"op": "Relu", "value": relu_value})
        elif node.op_type == "LRN":
            size = int(_attrs(node)["size"])
            cout = cu.w.shape[0]
            need = range(max(0, c - (size - 1) // 2), min(cout, c + size - (size - 1) // 2))
            for j in need:  # the neighbouring channels' values at the same position, by the same arithmetic
                if j not in current:
                    v = cu.channel(j, x, y, xx)["pre"]
                    current[j] = max(v, 0.0) if relu_value is not None else v
            step = _lrn(node, current, c, cout)
            steps.append(step)
            current = {c: step["value"]}
        elif node.op_type == "Mul":  # a scalar constant (the 1998 LeNet's scaled tanh: 1.7159·tanh(2x/3))
            k = float(g.array(node.input[1]).reshape(()))
            current = {j: float(np.float32(v) * np.float32(k)) for j, v in current.items()}
            steps.append({"op": "Mul", "factor": k, "value": current[c]})
        elif node.op_type == "Tanh":
            current = {j: float(np.tanh(np.float32(v))) for j, v in current.items()}
            steps.append({"op": "Tanh", "value": current[c]})
    output = float(out[c, y, xx])
    # the value after the ReLU: the exposed output itself unless more ops (LRN) follow the ReLU
    from_numpy = relu_value is not None and steps[-1]["op"] != "Relu"
    value = relu_value if from_numpy and relu_value is not None else output
    order = np.argsort(-np.abs(me["partial"]), kind="stable")
    lo = me["channels"][0]
    return {
        "kind": "conv", "op": "Conv", "groups": cu.groups, "stride": cu.stride, "padding": cu.pads,
        "reads_channels": me["channels"], "window": [me["top"], me["left"]],
        "inside": me["inside"].astype(int).tolist(),
        "patch": me["patch"].tolist(), "kernel": me["kernel"].tolist(), "products": me["products"].tolist(),
        "partial_sums": [{"channel": int(lo + i), "sum": float(me["partial"][i])} for i in order],
        "sum": me["sum"], "bias": me["bias"], "pre_activation": me["pre"],
        "batch_norm": None if cu.bn is None else {
            "folded": True, "gamma": float(cu.bn["gamma"][c]), "beta": float(cu.bn["beta"][c]),
            "mean": float(cu.bn["mean"][c]), "var": float(cu.bn["var"][c]), "eps": cu.bn["eps"],
            "scale": float(cu.bn["scale"][c]),
            "note": "batch norm folded into the kernel and bias (kernel × γ/√(σ²+ε); bias (b − μ)·γ/√(σ²+ε) + β), "
                    "as onnxruntime runs it"},
        "steps": steps, "value": value,
        "value_source": "numpy" if from_numpy else "onnxruntime",
        "output": output,
    }


def pool_unit(loc: Located, x: np.ndarray, out: np.ndarray, c: int, y: int, xx: int) -> dict[str, Any]:
    a = loc.attrs
    kh, kw = (int(k) for k in a["kernel_shape"])
    sh, sw = (int(s) for s in a.get("strides", [1, 1]))
    pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
    top, left = y * sh - pads[0], xx * sw - pads[1]
    win, inside = _window(x[c], top, left, kh, kw)
    masked = np.where(inside, win, -np.inf)
    i, j = np.unravel_index(int(np.argmax(masked)), masked.shape)
    return {
        "kind": "pool", "op": "MaxPool", "stride": [sh, sw], "padding": pads, "reads_channels": [c, c + 1],
        "window_at": [top, left], "inside": inside.astype(int).tolist(),
        "window": [[float(v) if ok else None for v, ok in zip(row, okrow, strict=True)]
                   for row, okrow in zip(win.tolist(), inside.tolist(), strict=True)],
        "argmax": [int(i), int(j)], "max": float(masked[i, j]), "value": float(out[c, y, xx]),
        "value_source": "onnxruntime", "output": float(out[c, y, xx]),
    }


def first_non_finite(body: Any, where: str = "") -> str | None:
    """Where the first NaN or ±inf number in ``body`` sits (``kernel[0][1][2]``), else None: JSON has no
    such numbers, and a model with an overflowing weight or activation produces them."""
    if isinstance(body, float):
        return None if math.isfinite(body) else where or "value"
    if isinstance(body, dict):
        items: Any = ((f"{where}.{k}" if where else str(k), v) for k, v in body.items())
    elif isinstance(body, list | tuple):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(body))
    else:
        return None
    return next((bad for path, v in items if (bad := first_non_finite(v, path)) is not None), None)
