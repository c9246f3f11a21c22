"""What LRN does, visibly: the maps an LRN reads and writes for one input, and one position worked through
(b = a / (k + α/n · Σ a²)^β on the real numbers, checked against onnxruntime's own output)."""

from __future__ import annotations

from typing import Any

import numpy as np

from app import nets
from app.backends.onnx_build import pre_lrn
from app.errors import AppError, bad_input
from app.i18n import gettext_for
from app.nets.spec import LRN
from app.serving.run import MapOptions, encode_maps
from app.serving.service import PredictInput, Service


def lrn_stages(name: str) -> list[tuple[str, str, LRN]]:
    """(stage name, tensor the LRN reads, the LRN) for each LRN of a built-in network."""
    net = nets.get(name)
    found = []
    prev = "input"
    for stage in net.stages:
        for i, op in enumerate(stage.ops):
            if isinstance(op, LRN):
                found.append((stage.name, pre_lrn(stage.name) if i > 0 else prev, op))
        prev = stage.name
    return found


def worked(pre: np.ndarray, post: np.ndarray, op: LRN, _: Any) -> dict[str, Any]:
    """One position, the most active value of the map, computed here and compared with onnxruntime's."""
    c, y, x = (int(v) for v in np.unravel_index(int(np.argmax(pre)), pre.shape))
    lo, hi = max(0, c - (op.size - 1) // 2), min(pre.shape[0] - 1, c + op.size // 2)  # ONNX's window
    window = pre[lo:hi + 1, y, x].astype(np.float64)
    a = float(pre[c, y, x])
    sq = float((window ** 2).sum())
    denom = (op.k + op.alpha / op.size * sq) ** op.beta
    b = a / denom
    g = lambda v: f"{v:.6g}"  # noqa: E731
    terms = " + ".join(f"{g(v)}²" for v in window)
    return {
        "channel": c, "y": y, "x": x, "channels": [lo, hi], "a": a, "neighbours": [float(v) for v in window],
        "sum_squares": sq, "denominator": denom, "b": b, "onnxruntime": float(post[c, y, x]),
        "steps": [
            f"Σ a² = {terms} = {g(sq)}",
            f"k + α/n · Σ a² = {g(op.k)} + {g(op.alpha)}/{op.size} · {g(sq)} = {g(op.k + op.alpha / op.size * sq)}",
            f"(…)^β = {g(op.k + op.alpha / op.size * sq)}^{g(op.beta)} = {g(denom)}",
            f"b = a / (…)^β = {g(a)} / {g(denom)} = {g(b)}",
        ],
        "text": _("Channel {c} at ({y}, {x}), the most active value before LRN: a = {a}. Its {n} neighbouring "
                  "channels {lo}–{hi} at the same position give the sum of squares; LRN divides a by {d}, so "
                  "b = {b} (onnxruntime computed {ort}). The ratio b/a = {r} is how much this value was damped."
                  ).format(c=c, y=y, x=x, a=g(a), n=hi - lo + 1, lo=lo, hi=hi, d=g(denom), b=g(b),
                           ort=g(float(post[c, y, x])), r=g(b / a) if a else "—"),
    }


async def lrn_lesson(service: Service, req: PredictInput, lang: str, channels: int = 8,
                     size: int = 56) -> dict[str, Any]:
    """POST /api/models/{name}/lrn: before/after maps of every LRN for one input, and a worked position."""
    info = service.registry.info(req.model)
    if info.source != "builtin":
        raise bad_input(f"{info.name} is not a built-in network; the LRN lesson is for alexnet and vgg11-lrn", 404,
                        "not_found")
    stages = lrn_stages(info.name)
    if not stages:
        raise bad_input(f"{info.name} has no LRN layer; try alexnet or vgg11-lrn", 404, "no_lrn")
    info = await service.available(info.name)
    if req.image is None and req.pixels is None:
        raise bad_input("send the input as /predict takes it: an image (multipart 'image' or JSON 'image')")
    x, seen = service.prepare(info, req)
    names = list(dict.fromkeys(n for s, pre, _op in stages for n in (pre, s)))
    async with service.slot():
        sess = service.registry.cached(info.name) or await service.blocking(service.registry.session, info.name)
        have = {o.name for o in sess.get_outputs()} | {info.input_name}
        missing = [n for n in names if n not in have]
        if missing:
            raise AppError(409, "stale_model", f"{info.name}'s ONNX file predates the pre-LRN outputs ({missing[0]}); "
                           f"rebuild it with: convscope build {info.name} --force")
        feeds = {info.input_name: x}
        wanted = [n for n in names if n != info.input_name]
        outs = await service.within_budget(
            lambda opts: dict(zip(wanted, sess.run(wanted, feeds, opts), strict=True)), info.name)
    outs[info.input_name] = x
    _ = gettext_for(lang)
    result = []
    for stage, pre_name, op in stages:
        pre, post = outs[pre_name][0], outs[stage][0]
        w = worked(pre, post, op, _)
        offset = max(0, min(w["channel"] - channels // 2, pre.shape[0] - channels))
        opts_maps = MapOptions(offset, channels, size)
        result.append({"layer": stage, "reads": pre_name, "k": op.k, "n": op.size, "alpha": op.alpha,
                       "beta": op.beta, "before": encode_maps(pre, opts_maps), "after": encode_maps(post, opts_maps),
                       "worked": w})
    return {"model": info.name, "weights": info.weights, "input": seen, "lrn": result}
