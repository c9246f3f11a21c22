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
from typing import Any

import numpy as np
import onnxruntime as ort

from app.analysis import LayerInfo
from app.catalog.info import ModelInfo
from app.catalog.labels import label
from app.errors import bad_input
from app.serving.options import MapOptions

_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="summarise")


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def summary(a: np.ndarray) -> dict[str, Any]:
    """min/max/mean/zero fraction over the finite values; ``nonfinite`` counts NaN and +-Inf
    (statistics are None when nothing is finite), so the answer is always valid JSON."""
    a = np.asarray(a)
    if a.size == 0:
        return {"min": None, "max": None, "mean": None, "zero_fraction": 0.0, "nonfinite": 0}
    finite = np.isfinite(a)
    bad = int(a.size - np.count_nonzero(finite))
    v = a if bad == 0 else a[finite]
    if v.size == 0:
        return {"min": None, "max": None, "mean": None, "zero_fraction": 0.0, "nonfinite": bad}
    mean = float(v.mean(dtype=np.float64))
    return {"min": float(v.min()), "max": float(v.max()), "mean": mean if math.isfinite(mean) else None,
            "zero_fraction": float(np.count_nonzero(v == 0) / a.size), "nonfinite": bad}


def as_chw(a: np.ndarray) -> np.ndarray:
    """Any activation as (C, H, W): vectors (N,) and Cx1x1 maps become one 1 x N strip."""
    if a.ndim == 1 or (a.ndim == 3 and a.shape[1:] == (1, 1)):
        return a.reshape(1, 1, -1)
    if a.ndim == 2:
        return a[None]
    if a.ndim == 0:
        return a.reshape(1, 1, 1)
    if a.ndim > 3:  # (C, D, H, W, ...): channels first, the rest flattened into rows
        return a.reshape(a.shape[0], -1, a.shape[-1])
    return a


def map_geometry(shape: tuple[int, ...], opts: MapOptions) -> tuple[int, int, int, int]:
    """(channels sent, height, width, downsample) of a layer's maps, without computing them."""
    c_total, h, w = shape
    chans = max(0, min(opts.channels, c_total - opts.offset))
    f = max(1, math.ceil(max(h, w) / opts.size)) if h > 1 else 1
    return chans, max(1, h // min(f, h)), max(1, w // min(f, w)), f


def encode_maps(a: np.ndarray, opts: MapOptions, max_channels: int | None = None) -> dict[str, Any]:
    """(C, H, W) or (N,) activation -> the compact 8-bit form described above. A layer with no
    channel at ``opts.offset`` gives an empty selection (channels 0). Non-finite values are
    drawn as the finite range's ends (NaN as its minimum)."""
    a = as_chw(np.asarray(a))
    c_total, h, w = a.shape
    chans, hh, ww, f = map_geometry(a.shape, opts)
    if max_channels is not None:
        chans = min(chans, max_channels)
    sel = a[opts.offset:opts.offset + chans] if chans else a[:0]
    fh, fw = min(f, h), min(f, w)
    if sel.size and (fh > 1 or fw > 1):  # average-pool, in two contiguous passes (3x faster than one mean)
        c = sel.shape[0]
        rows = sel[:, :hh * fh, :ww * fw].reshape(c, hh, fh, ww * fw).sum(axis=2, dtype=np.float32)
        sel = rows.reshape(c, hh, ww, fw).sum(axis=3) * np.float32(1 / (fh * fw))
    sel = np.asarray(sel, dtype=np.float32)
    if sel.size and not np.isfinite(sel).all():
        finite = np.isfinite(sel)
        lo_f = np.where(finite, sel, np.inf).reshape(sel.shape[0], -1).min(axis=1)
        hi_f = np.where(finite, sel, -np.inf).reshape(sel.shape[0], -1).max(axis=1)
        lo_f, hi_f = np.where(np.isfinite(lo_f), lo_f, 0), np.where(np.isfinite(hi_f), hi_f, 0)
        sel = np.clip(np.where(np.isnan(sel), lo_f[:, None, None], sel), lo_f[:, None, None], hi_f[:, None, None])
    lo = sel.reshape(sel.shape[0], -1).min(axis=1) if sel.size else np.zeros(0, np.float32)
    hi = sel.reshape(sel.shape[0], -1).max(axis=1) if sel.size else np.zeros(0, np.float32)
    span = np.where(hi > lo, hi - lo, 1.0)[:, None, None]
    u8 = np.rint((sel - lo[:, None, None]) / span * 255).astype(np.uint8) if sel.size else np.zeros(0, np.uint8)
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


def ort_errors() -> tuple[type[BaseException], ...]:
    """The exceptions onnxruntime raises from a run (its pybind errors)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as st

    names = ("Fail", "InvalidArgument", "RuntimeException", "InvalidGraph", "NotImplemented", "EPFail")
    return tuple(getattr(st, n) for n in names if hasattr(st, n))


def fixed_batch(sess: ort.InferenceSession, input_name: str) -> bool:
    """Whether the graph's input fixes its batch (foreign files often declare [1, C, H, W])."""
    dim = next(i for i in sess.get_inputs() if i.name == input_name).shape[0]
    return isinstance(dim, int)


def run_rows(sess: ort.InferenceSession, names: list[str], input_name: str, x: np.ndarray,
             opts: ort.RunOptions | None = None, whole: bool = True) -> tuple[list[np.ndarray], bool]:
    """``names`` for each row of x (N, ...), each output (N, ...): in one run while ``whole``, else one
    row at a time. A graph that fixes its batch -- at its input, or inside (a Reshape to [1, -1], say),
    where it fails on a batch or answers it with other than N rows -- runs the rows one by one.
    Returns the outputs and whether the batch ran whole (pass it as the next call's ``whole``)."""
    n = len(x)
    if whole and fixed_batch(sess, input_name):
        whole = False
    if whole and n > 1:
        try:
            outs = sess.run(names, {input_name: x}, opts)
            if all(o.ndim and o.shape[0] == n for o in outs):
                return outs, True
        except ort_errors():
            if opts is not None and opts.terminate:
                raise
        whole = False
    rows = [sess.run(names, {input_name: x[i:i + 1]}, opts) for i in range(n)]
    # a batch-1 graph's output may lack the batch axis ([10] for [1, 10])
    cols = [[o if o.ndim and o.shape[0] == 1 else o[None] for o in col] for col in zip(*rows, strict=True)]
    return [np.concatenate(col) for col in cols], whole


def check_layers(info: ModelInfo, wanted: tuple[str, ...]) -> None:
    """422 when ``layers`` names a layer the model does not expose, listing the valid names."""
    valid = [layer.name for layer in info.layers]
    unknown = [n for n in wanted if n not in set(valid)]
    if unknown:
        shown = ", ".join(valid[:40]) + (f", ... ({len(valid) - 40} more; GET /api/models/{info.name})"
                                         if len(valid) > 40 else "")
        raise bad_input(f"layers: {info.name} has no layer {unknown[0][:80]!r}; valid names: {shown or 'none'}")


def _first(a: np.ndarray) -> np.ndarray:
    return a[0] if a.ndim >= 1 and a.shape[0] >= 1 else a


def answer(info: ModelInfo, prob: np.ndarray, outs: dict[str, np.ndarray], top_k: int, activations: str,
           maps: MapOptions, max_map_bytes: int | None = None) -> dict[str, Any]:
    """Top-k and per-layer statistics (and maps). Maps are paged: when the selected maps would
    exceed ``max_map_bytes`` (raw bytes, before base64), the layers that did not fit are sent
    without maps and ``maps_page.next`` says how to ask for the rest (``layers`` and ``map_offset``)."""
    p = np.asarray(prob[0], dtype=np.float64)
    bad_prob = int(p.size - np.count_nonzero(np.isfinite(p)))
    p = np.where(np.isfinite(p), p, 0.0)
    k = min(top_k, p.shape[0])
    idx = np.argsort(-p, kind="stable")[:k]
    layers: list[dict[str, Any]] = []
    page: dict[str, Any] | None = None
    if activations != "none":
        pairs = list(zip(info.layers, info.outputs, strict=True))
        budget: dict[str, int | None] = {}  # channels each layer may send (None: all selected)
        if activations == "maps":
            left = max_map_bytes if max_map_bytes is not None else 1 << 62
            pending: list[str] = []
            for layer, tensor in pairs:
                if maps.layers and layer.name not in maps.layers:
                    continue
                if pending:
                    pending.append(layer.name)
                    budget[layer.name] = 0
                    continue
                chans, hh, ww, _ = map_geometry(as_chw(_first(outs[tensor])).shape, maps)
                per = hh * ww
                fit = chans if chans * per <= left else left // per
                budget[layer.name] = fit
                left -= fit * per
                if fit < chans:
                    page = {"complete": False, "limit_bytes": max_map_bytes,
                            "next": {"layer": layer.name, "map_offset": maps.offset + fit}}
                    pending.append(layer.name)
            if page is not None:
                page["next"]["layers"] = pending
                page["message"] = (f"maps beyond {max_map_bytes:,} bytes are not sent in one answer: ask again "
                                   f"with layers=[{page['next']['layer']!r}] and map_offset="
                                   f"{page['next']['map_offset']}, then for the other layers in next.layers")

        def one(pair: tuple[LayerInfo, str]) -> dict[str, Any]:
            layer, tensor = pair
            a = _first(outs[tensor])
            item: dict[str, Any] = {"name": layer.name, "shape": list(a.shape), **summary(a)}
            if layer.name in budget and budget[layer.name] != 0:
                item["maps"] = encode_maps(a, maps, budget[layer.name])
            elif layer.name in budget and map_geometry(as_chw(a).shape, maps)[0] == 0:
                item["maps"] = encode_maps(a, maps, 0)  # nothing at this offset: an empty selection
            return item

        big = sum(_first(outs[t]).size for t in info.outputs) > 1_000_000
        # numpy reductions release the GIL: big networks' layers are summarised on two threads
        layers = list(_POOL.map(one, pairs)) if big else [one(p) for p in pairs]
    out: dict[str, Any] = {
        "top_k": [{"index": int(i), "probability": float(p[i]),
                   "label": info.label_names[int(i)] if info.label_names else label(info.labels, int(i))}
                  for i in idx],
        "layers": layers,
    }
    if bad_prob:
        out["nonfinite_outputs"] = bad_prob
    if page is not None:
        out["maps_page"] = page
    return out


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
