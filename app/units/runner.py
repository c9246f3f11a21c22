"""The unit endpoints' work: model lookup, one admitted onnxruntime run off the event loop, NumPy after."""

from __future__ import annotations

import base64
import time
from typing import Any

import numpy as np

from app.catalog.info import ModelInfo
from app.errors import AppError, bad_input
from app.serving.service import PredictInput, Service
from app.units import rf as rfmod
from app.units.graph import Located, graph
from app.units.unit import conv_unit, pool_unit


def _locate(service: Service, info: ModelInfo, layer: str) -> tuple[Any, Located, str]:
    """(graph, located computation, exposed tensor) of ``layer``; blocking (may build the model file)."""
    i, _ = rfmod.find_layer(info, layer)
    g = graph(service.registry.get(info.name).onnx_path())
    tensor = info.outputs[i]
    return g, g.locate(tensor, {info.input_name, *info.outputs}, layer), tensor


async def unit(service: Service, req: PredictInput, layer: str, channel: int, y: int, x: int) -> dict[str, Any]:
    """POST /api/models/{name}/unit: one activation's arithmetic on the request's input."""
    t0 = time.perf_counter()
    info = await service.available(req.model)
    _, item = rfmod.find_layer(info, layer)
    shape = rfmod.spatial(info, item)
    rfmod.check_position(item, shape, y, x, channel)
    if req.image is None and req.pixels is None:
        raise bad_input("send the input as /predict takes it: an image (multipart 'image' or JSON 'image')"
                        + (" or JSON 'pixels'" if info.input_kind == "digit" else ""))
    xin, _ = service.prepare(info, req)
    g, loc, tensor = await service.blocking(_locate, service, info, layer)
    async with service.slot():
        sess = service.registry.cached(info.name) or await service.blocking(service.registry.session, info.name)
        names = list(dict.fromkeys(n for n in (loc.reads, tensor) if n != info.input_name))
        outs = await service.within_budget(
            lambda opts: dict(zip(names, sess.run(names, {info.input_name: xin}, opts), strict=True)), info.name)
    t1 = time.perf_counter()
    outs[info.input_name] = xin
    src, out = outs[loc.reads][0], outs[tensor][0]
    if loc.kind == "conv":
        body = await service.blocking(conv_unit, g, loc, src, out, channel, y, x)
    else:
        body = pool_unit(loc, src, out, channel, y, x)
    reads = next((item.name for item, t in zip(info.layers, info.outputs, strict=True) if t == loc.reads), "input")
    box = rfmod.rf_box(info, layer, y, x) if item.receptive_field else None
    t2 = time.perf_counter()
    return {"layer": layer, "channel": channel, "y": y, "x": x, "reads": reads, **body,
            "rf": box, "weights": info.weights,
            "timing_ms": {"inference": round((t1 - t0) * 1000, 3), "arithmetic": round((t2 - t1) * 1000, 3),
                          "total": round((t2 - t0) * 1000, 3)}}


def _kernels(service: Service, info: ModelInfo, layer: str, filt: int | None, norms_only: bool) -> dict[str, Any]:
    g, loc, _ = _locate_conv(service, info, layer)
    w = g.array(loc.node.input[1])
    cout = int(w.shape[0])
    if filt is not None and not 0 <= filt < cout:
        raise bad_input(f"filter={filt} is outside 0..{cout - 1} ({layer} has {cout} filters)")
    norms = np.sqrt(np.square(w.reshape(cout, -1), dtype=np.float64).sum(axis=1))
    sel = w if filt is None else w[filt:filt + 1]
    body: dict[str, Any] = {
        "layer": layer, "shape": [int(d) for d in sel.shape], "dtype": "float32",
        "groups": int(loc.attrs.get("group", 1)), "full_shape": [int(d) for d in w.shape],
        "norms": [float(v) for v in norms], "weights": info.weights, "initializer": loc.node.input[1],
        "batch_norm_follows": any(n.op_type == "BatchNormalization" for n in loc.after),
    }
    if filt is not None:
        body["filter"] = filt
    if not norms_only:
        body["data"] = base64.b64encode(np.ascontiguousarray(sel, "<f4").tobytes()).decode()
    return body


def _locate_conv(service: Service, info: ModelInfo, layer: str) -> tuple[Any, Located, str]:
    convs = ", ".join(item.name for item in info.layers if item.kind == "conv")
    _, item = rfmod.find_layer(info, layer)
    try:
        g, loc, tensor = _locate(service, info, layer)
    except AppError:
        if item.kind == "conv":
            raise
        # not one computation the unit panel reads: say what the layer is (1998's S2, a pool with weights, is
        # a convolution in the graph and has its kernels)
        what = {"fc": "fully connected layer (its weights are a matrix)", "pool": "pooling layer",
                "gap": "global average pool", "block": "residual block (its convolutions are its parts)"}
        raise bad_input(f"layer {layer[:100]!r} is a {what.get(item.kind, item.kind + ' layer')} and has no "
                        f"kernels; convolution layers: {convs}") from None
    if loc.kind != "conv":
        raise bad_input(f"layer {layer[:100]!r} is a pooling layer and has no kernels; convolution layers: {convs}")
    return g, loc, tensor


async def kernels(service: Service, name: str, layer: str, filt: int | None, norms_only: bool) -> dict[str, Any]:
    """GET /api/models/{name}/kernels: a conv layer's weights, exactly the initializer's bytes."""
    info = await service.available(name)
    rfmod.find_layer(info, layer)
    return await service.blocking(_kernels, service, info, layer, filt, norms_only)
