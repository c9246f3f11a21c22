"""`convscope bench`, explain section: Grad-CAM's cost against a plain prediction of the same model
(in-process, the same session settings as the server), the full explanation with its checks, and
occlusion's cost per patch position (batched) against one run."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np

from app.bench.common import interleaved
from app.config import Settings
from app.explain import methods as m
from app.explain.backprop import Pass, gradcam
from app.explain.render import upsample
from app.explain.serve import graph_for, offered_layers
from app.serving.registry import Registry
from app.serving.run import MapOptions, answer, run


class _Svc:
    """Just what graph_for needs: the registry."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry


def one(registry: Registry, name: str, reps: int) -> dict[str, Any]:
    sess, info = registry.session_and_info(name)
    graph = graph_for(_Svc(registry), name)  # type: ignore[arg-type]
    layers, _ = offered_layers(info, graph)
    layer, tensor = layers[-1]
    shape = [int(d or 0) for d in info.input_shape]
    x = np.random.default_rng(0).standard_normal((1, *shape), dtype=np.float32)

    def job() -> m.Job:
        return m.Job(sess=sess, graph=graph, x=x, input_name=info.input_name, prob_output=info.prob_output,
                     prob_is_softmax=info.prob_is_softmax, head=tensor, kind=info.input_kind,
                     batch=64 if info.input_kind == "digit" else 8)

    later = info.outputs[info.outputs.index(tensor):]

    def predict() -> object:  # what /predict does in-process: the run with every layer, then the answer
        prob, outs = run(sess, info, x, "summary")
        return answer(info, prob, outs, 5, "summary", MapOptions())

    def logits() -> object:
        return sess.run([info.prob_output], {info.input_name: x})

    def cam() -> object:  # the Grad-CAM map: one run fetching the layer and what follows, then NumPy
        j = job()
        first = j.run(x, later)
        return gradcam(Pass(graph, first), tensor, int(first["@prob"][0].argmax()))

    t = interleaved({"predict": predict, "logits": logits, "gradcam": cam}, reps)
    med = {k: statistics.median(v) for k, v in t.items()}

    def full() -> object:  # map + sanity (re-drawn head) + deletion/insertion curves
        j = job()
        first = j.run(x, later)
        cls = int(first["@prob"][0].argmax())
        raw, _ = m.explain_gradcam(j, tensor, first, cls, graph.randomised(tensor))
        return m.curves(j, first, cls, upsample(raw, shape[1], shape[2]))

    # occlusion: one batch of occluded copies as explain_occlusion runs it (the model's p_c and the
    # re-drawn head's, for the sanity figure), against one plain run at batch 1, interleaved
    b = 64 if info.input_kind == "digit" else 8
    patch, stride = m.default_patch(min(shape[1], shape[2]))
    gh, gw = m.grid(shape[1], patch, stride), m.grid(shape[2], patch, stride)
    copies = np.repeat(x, b, axis=0)
    for k in range(b):
        r, c = divmod(k % (gh * gw), gw)
        copies[k, :, r * stride:r * stride + patch, c * stride:c * stride + patch] = 0
    random_head = graph.randomised(tensor)
    t2 = interleaved({"full": full, "occlusion_batch": lambda: job().probs(copies, 0, random_head), "logits": logits},
                     max(3, reps // 3), warmup=1)
    per_position = statistics.median(t2["occlusion_batch"]) / b
    one_run = statistics.median(t2["logits"])
    return {
        "model": name, "layer": layer,
        "predict_ms": round(med["predict"] * 1000, 3), "logits_ms": round(med["logits"] * 1000, 3),
        "gradcam_ms": round(med["gradcam"] * 1000, 3),
        "gradcam_vs_predict": round(med["gradcam"] / med["predict"], 3),
        "gradcam_vs_logits": round(med["gradcam"] / med["logits"], 3),
        "explain_full_ms": round(statistics.median(t2["full"]) * 1000, 1),
        "occlusion_batch": b, "occlusion_ms_per_position": round(per_position * 1000, 3),
        "occlusion_position_vs_run": round(per_position / one_run, 3),
        "occlusion_default": f"{patch}/{stride}", "occlusion_positions": gh * gw,
        "occlusion_default_ms": round(gh * gw * per_position * 1000, 1),
    }


def section(models: list[str], models_dir: Path, reps: int) -> list[dict[str, Any]]:
    registry = Registry(Settings.from_env(models_dir=models_dir))
    return [one(registry, name, reps) for name in models]


COLUMNS = [("model", "model"), ("layer", "layer"), ("predict_ms", "predict ms"), ("logits_ms", "logits ms"),
           ("gradcam_ms", "Grad-CAM ms"), ("gradcam_vs_predict", "CAM/predict"), ("gradcam_vs_logits", "CAM/logits"),
           ("explain_full_ms", "with checks ms"), ("occlusion_ms_per_position", "occl. ms/pos"),
           ("occlusion_position_vs_run", "pos/run"), ("occlusion_default", "patch/stride"),
           ("occlusion_positions", "positions"), ("occlusion_default_ms", "occlusion ms")]
