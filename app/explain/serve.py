"""Explanations served: options checked against the model's graph, the work done inside the
service's admission control and time budget, off the event loop, with progress to watch."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.catalog.info import ModelInfo
from app.catalog.labels import label
from app.errors import AppError, bad_input
from app.explain import methods as m
from app.explain import render
from app.explain.graph import Graph, Unreadable
from app.serving.service import PredictInput, Service

METHODS = ("gradcam", "occlusion", "rise")
MAX_POSITIONS = 256  # occlusion copies per explanation (a 16x16 grid)
_GRAPHS: OrderedDict[tuple[str, int, int], Graph] = OrderedDict()
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ExplainOptions:
    method: str = "gradcam"
    target: int | None = None
    layer: str | None = None
    patch: int | None = None
    stride: int | None = None


def graph_for(service: Service, name: str) -> Graph:
    """The graph of the file the model's session runs (blocking: reads the file's header)."""
    info = service.registry.info(name)
    path: Path = service.registry.get(name).onnx_path()
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _LOCK:
        if key in _GRAPHS:
            _GRAPHS.move_to_end(key)
            return _GRAPHS[key]
    g = Graph(path, info.prob_output)
    with _LOCK:
        _GRAPHS[key] = g
        while len(_GRAPHS) > 4:
            _GRAPHS.popitem(last=False)
    return g


def offered_layers(info: ModelInfo, graph: Graph) -> tuple[list[tuple[str, str]], str | None]:
    """(layer name, tensor) of every spatial layer whose path to the logits can be read, in graph
    order (the last is the default); and why none can, when none can."""
    found, why = [], None
    for layer, tensor in zip(info.layers, info.outputs, strict=True):
        shape = layer.output_shape
        if not shape or len(shape) != 3 or shape[1] * shape[2] <= 1:
            continue
        try:
            graph.path(tensor)
        except Unreadable as exc:
            why = str(exc)
            continue
        found.append((layer.name, tensor))
    return found, None if found else (why or "the graph has no spatial layer before its classifier")


def _unreadable(info: ModelInfo, why: str | None) -> AppError:
    return AppError(422, "unexplainable", f"{info.name}: its head cannot be read, so it cannot be explained "
                    f"(explanations read Conv, pooling, batch norm, ReLU, Add, Flatten/Reshape and Gemm/MatMul "
                    f"chains): {why}")


def describe(service: Service, name: str) -> dict[str, Any]:
    """What the explain options can be for this model (blocking)."""
    info = service.registry.info(name)
    graph = graph_for(service, name)
    layers, why = offered_layers(info, graph)
    h, w = (int(d or 0) for d in info.input_shape[1:3])
    patch, stride = m.default_patch(min(h, w))
    return {
        "model": info.name, "methods": list(METHODS), "layers": [n for n, _ in layers],
        "default_layer": layers[-1][0] if layers else None, "error": None if layers else why,
        "input": [h, w], "patch": {"default": patch, "min": 1, "max": min(h, w)},
        "stride": {"default": stride, "min": 1, "max": min(h, w)}, "max_positions": MAX_POSITIONS,
        "rise_samples": m.RISE_SAMPLES.get(info.input_kind, 128), "check_runs": m.CHECK_RUNS,
        "runs": {"gradcam": 1 + m.CHECK_RUNS,
                 "occlusion": 1 + m.grid(h, patch, stride) * m.grid(w, patch, stride) + m.CHECK_RUNS,
                 "rise": 1 + m.RISE_SAMPLES.get(info.input_kind, 128) + m.CHECK_RUNS},
        "colormap": render.COLORMAP,
    }


def _resolve(info: ModelInfo, graph: Graph, o: ExplainOptions) -> tuple[str | None, str | None, int, int]:
    """Checked options -> (layer name, its tensor, patch, stride); 422 naming the valid values."""
    if o.method not in METHODS:
        raise bad_input(f"method must be one of {', '.join(METHODS)}")
    layers, why = offered_layers(info, graph)
    if not layers:
        raise _unreadable(info, why)
    h, w = (int(d or 0) for d in info.input_shape[1:3])
    if o.method != "gradcam" and o.layer is not None:
        raise bad_input("'layer' applies to method gradcam only")
    if o.method != "occlusion" and (o.patch is not None or o.stride is not None):
        raise bad_input("'patch' and 'stride' apply to method occlusion only")
    name = tensor = None
    if o.method == "gradcam":
        names = dict(layers)
        name = o.layer or layers[-1][0]
        if name not in names:
            raise bad_input(f"layer {name!r} cannot be explained in {info.name}; valid layers: "
                            f"{', '.join(names)} (default {layers[-1][0]})")
        tensor = names[name]
    dp, ds = m.default_patch(min(h, w))
    patch, stride = o.patch or dp, o.stride or (ds if o.patch is None else max(1, o.patch // 2))
    if o.method == "occlusion":
        if not 1 <= patch <= min(h, w):
            raise bad_input(f"patch must be between 1 and {min(h, w)} (the input is {h}x{w}; default {dp})")
        if not 1 <= stride <= min(h, w):
            raise bad_input(f"stride must be between 1 and {min(h, w)} (default {ds})")
        n = m.grid(h, patch, stride) * m.grid(w, patch, stride)
        if n > MAX_POSITIONS:
            raise bad_input(f"patch {patch} with stride {stride} makes {n} occluded copies; at most "
                            f"{MAX_POSITIONS} are run: choose a larger stride (default: patch {dp}, stride {ds})")
    return name, tensor, patch, stride


def _compute(job: m.Job, info: ModelInfo, o: ExplainOptions, layer: str | None, tensor: str | None,
             patch: int, stride: int, seen_size: list[int] | None) -> dict[str, Any]:
    t0 = time.perf_counter()
    later = info.outputs[info.outputs.index(tensor):] if tensor else []
    first = job.run(job.x, [*later, job.head])
    p = first["@prob"][0]
    if not np.isfinite(p).all():
        raise AppError(422, "non_finite", f"{info.name} gave non-finite probabilities for this input; "
                       "there is nothing to explain")
    if o.target is not None and not 0 <= o.target < p.shape[0]:
        raise bad_input(f"target must be a class index from 0 to {p.shape[0] - 1} (default: the top-1)")
    cls = int(np.argmax(p)) if o.target is None else o.target
    random_head = job.graph.randomised(job.head)
    _, _, h, w = job.x.shape
    if o.method == "gradcam":
        raw, raw_random = m.explain_gradcam(job, tensor or "", first, cls, random_head)
        pixel = render.upsample(raw, h, w)
    elif o.method == "occlusion":
        raw, raw_random, pixel = m.explain_occlusion(job, first, cls, patch, stride, random_head)
    else:
        n = m.RISE_SAMPLES.get(info.input_kind, 128)
        raw, raw_random, pixel = m.explain_rise(job, first, cls, n, random_head)
    t_map = time.perf_counter()
    if not (np.isfinite(raw).all() and np.isfinite(pixel).all()):
        raise AppError(422, "non_finite", f"the {o.method} map of {info.name} holds non-finite values "
                       "(the model's weights or activations overflow)")
    raw_random = np.nan_to_num(raw_random, nan=0.0, posinf=0.0, neginf=0.0)  # only ranked, never shown
    checks = m.curves(job, first, cls, pixel)
    if not all(np.isfinite(v).all() for k, v in checks.items() if k != "fractions"):
        raise AppError(422, "non_finite", f"{info.name} gave non-finite probabilities for a perturbed input")
    t_checks = time.perf_counter()
    shown = pixel
    if seen_size and (h, w) == (32, 32) and seen_size == [28, 28]:  # a digit padded to 32: show the 28x28 seen
        shown = pixel[2:30, 2:30]
    name = info.label_names[cls] if info.label_names else label(info.labels, cls)
    result = {
        "model": info.name, "method": o.method,
        "target": {"index": cls, "label": name, "probability": float(p[cls])},
        "layer": layer,
        "map": {"height": int(raw.shape[0]), "width": int(raw.shape[1]),
                "values": [[float(v) for v in row] for row in raw]},
        "overlay": render.overlay_png(shown),
        "deletion_auc": checks.pop("deletion_auc"), "insertion_auc": checks.pop("insertion_auc"),
        "random_auc": checks.pop("random_auc"),
        "sanity_rank_correlation": render.spearman(raw, raw_random),
        "curves": {**checks, "runs": job.done},
        "timing_ms": {"map": round((t_map - t0) * 1000, 3), "checks": round((t_checks - t_map) * 1000, 3),
                      "inference": round(job.run_s * 1000, 3)},
    }
    if o.method == "occlusion":
        result["patch"], result["stride"] = patch, stride
    return result


async def options(service: Service, name: str) -> dict[str, Any]:
    info = service.registry.info(name)
    service.registry.ensure_available(info.name)
    await service.blocking(service.registry.session, info.name)  # builds a built-in on first use
    return await service.blocking(describe, service, info.name)


async def explain(service: Service, req: PredictInput, o: ExplainOptions,
                  watch: Callable[[m.Job], None] | None = None) -> dict[str, Any]:
    """One explanation with its checks; ``watch`` receives the job (its ``done``/``total``) once planned."""
    t0 = time.perf_counter()
    info = service.registry.info(req.model)
    service.registry.ensure_available(info.name)
    if o.method not in METHODS:
        raise bad_input(f"method must be one of {', '.join(METHODS)}")
    if req.image is None and req.pixels is None:
        raise bad_input("send an image (multipart field 'image', or JSON 'image' as a data URL or base64)"
                        + (" or JSON 'pixels' (28x28 numbers in [0,1])" if info.input_kind == "digit" else ""))
    async with service.slot():
        # as /predict does: the session and the info of one version, preprocessing on a worker thread
        sess, info = await service.blocking(service.registry.session_and_info, req.model)
        x, seen = await service.blocking(service.prepare, info, req)
        t_pre = time.perf_counter()
        graph = await service.blocking(graph_for, service, info.name)
        layer, tensor, patch, stride = _resolve(info, graph, o)
        layers, _ = offered_layers(info, graph)
        job = m.Job(sess=sess, graph=graph, x=x, input_name=info.input_name, prob_output=info.prob_output,
                    prob_is_softmax=info.prob_is_softmax, head=layers[-1][1], kind=info.input_kind,
                    batch=64 if info.input_kind == "digit" else 8)  # run_rows falls back to 1 for a fixed batch
        h, w = x.shape[2:]
        job.total = 1 + m.CHECK_RUNS + {"gradcam": 0, "rise": m.RISE_SAMPLES.get(info.input_kind, 128),
                                        "occlusion": m.grid(h, patch, stride) * m.grid(w, patch, stride)}[o.method]
        if watch:
            watch(job)
        try:
            result = await service.within_budget(
                lambda _opts: _compute(job, info, o, layer, tensor, patch, stride, seen.get("size")), info.name,
                what="explanation", opts=job.opts, stop=job.cancel,
                progress=lambda: f" after {job.done} of {job.total} runs")
        except Unreadable as exc:
            raise _unreadable(info, str(exc)) from None
    result["timing_ms"] = {"load_and_preprocess": round((t_pre - t0) * 1000, 3), **result["timing_ms"],
                           "total": round((time.perf_counter() - t0) * 1000, 3)}
    return result
