"""One forward pass -> the answer: top-k classes, per-layer summaries and compact 8-bit maps.

Maps format (``activations=maps``), per layer: ``{"offset", "channels", "total_channels",
"height", "width", "downsample", "min": [...], "max": [...], "data"}`` where ``data`` is base64
of ``channels*height*width`` bytes, channel-major, row-major; byte ``v`` of channel ``c`` stands
for ``min[c] + v/255 * (max[c] - min[c])``. Vectors (fully connected layers, Cx1x1 maps) are one channel of 1 x N.
"""

from __future__ import annotations

import base64
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from app.analysis import LayerInfo
from app.labels import label
from app.registry import ModelInfo

_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="summarise")


@dataclass(frozen=True)
class MapOptions:
    offset: int = 0  # first channel sent
    channels: int = 16  # how many channels per layer
    size: int = 56  # largest side sent; bigger maps are average-pooled down
    layers: tuple[str, ...] = ()  # only these layers (all when empty)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def summary(a: np.ndarray) -> dict[str, float]:
    return {"min": float(a.min()), "max": float(a.max()), "mean": float(a.mean()),
            "zero_fraction": float(np.count_nonzero(a == 0) / a.size)}


def encode_maps(a: np.ndarray, opts: MapOptions) -> dict[str, Any]:
    """(C, H, W) or (N,) activation -> the compact 8-bit form described above."""
    if a.ndim == 1 or (a.ndim == 3 and a.shape[1:] == (1, 1)):  # a vector: one 1 x N strip
        a = a.reshape(1, 1, -1)
    elif a.ndim == 2:
        a = a[None]
    c_total, h, w = a.shape
    sel = a[opts.offset:opts.offset + opts.channels]
    f = max(1, math.ceil(max(h, w) / opts.size)) if h > 1 else 1
    if f > 1:  # average-pool by f, in two contiguous passes (3x faster than one mean over two axes)
        c, hh, ww = sel.shape[0], h // f, w // f
        rows = sel[:, :hh * f, :ww * f].reshape(c, hh, f, ww * f).sum(axis=2)
        sel = rows.reshape(c, hh, ww, f).sum(axis=3) * np.float32(1 / (f * f))
    flat = sel.reshape(sel.shape[0], -1)
    lo = flat.min(axis=1) if sel.size else np.zeros(0)
    hi = flat.max(axis=1) if sel.size else np.zeros(0)
    span = np.where(hi > lo, hi - lo, 1.0)[:, None, None]
    u8 = np.rint((sel - lo[:, None, None]) / span * 255).astype(np.uint8)
    return {"offset": opts.offset, "channels": int(sel.shape[0]), "total_channels": int(c_total),
            "height": int(sel.shape[1]) if sel.size else 0, "width": int(sel.shape[2]) if sel.size else 0,
            "downsample": f, "min": [round(float(x), 6) for x in lo], "max": [round(float(x), 6) for x in hi],
            "data": base64.b64encode(u8.tobytes()).decode()}


def run(sess: ort.InferenceSession, info: ModelInfo, x: np.ndarray, activations: str,
        run_options: ort.RunOptions | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run one batch; returns probabilities (N, classes) and the requested layer outputs."""
    names = [info.prob_output] + (list(info.outputs) if activations != "none" else [])
    names = list(dict.fromkeys(names))
    outs = dict(zip(names, sess.run(names, {info.input_name: x}, run_options), strict=True))
    prob = outs[info.prob_output].reshape(x.shape[0], -1)
    if not info.prob_is_softmax:
        prob = softmax(prob.astype(np.float64)).astype(np.float32)
    return prob, outs


def answer(info: ModelInfo, prob: np.ndarray, outs: dict[str, np.ndarray], top_k: int, activations: str,
           maps: MapOptions) -> dict[str, Any]:
    p = prob[0]
    k = min(top_k, p.shape[0])
    idx = np.argsort(-p, kind="stable")[:k]
    layers: list[dict[str, Any]] = []
    if activations != "none":
        def one(pair: tuple[LayerInfo, str]) -> dict[str, Any]:
            layer, tensor = pair
            a = outs[tensor][0]
            item: dict[str, Any] = {"name": layer.name, "shape": list(a.shape), **summary(a)}
            if activations == "maps" and (not maps.layers or layer.name in maps.layers):
                item["maps"] = encode_maps(a, maps)
            return item

        pairs = list(zip(info.layers, info.outputs, strict=True))
        big = sum(outs[t][0].size for t in info.outputs) > 1_000_000
        # numpy reductions release the GIL: big networks' layers are summarised on two threads
        layers = list(_POOL.map(one, pairs)) if big else [one(p) for p in pairs]
    return {
        "top_k": [{"index": int(i), "probability": float(p[i]),
                   "label": info.label_names[int(i)] if info.label_names else label(info.labels, int(i))}
                  for i in idx],
        "layers": layers,
    }


class Timer:
    def __init__(self) -> None:
        self.t0 = self.last = time.perf_counter()
        self.ms: dict[str, float] = {}

    def lap(self, what: str) -> None:
        now = time.perf_counter()
        self.ms[what] = round((now - self.last) * 1000, 3)
        self.last = now

    def done(self) -> dict[str, float]:
        self.ms["total"] = round((time.perf_counter() - self.t0) * 1000, 3)
        return self.ms
