"""The explanation methods and their trust checks, on one input, in a worker thread.

- Grad-CAM: one run, then the exact backward pass of app.explain.backprop.
- Occlusion (Zeiler & Fergus): a square patch of the normalised input set to 0 (the mean) and
  slid with a stride; value = p_c(input) - p_c(occluded), one batched run per chunk of copies.
- RISE (Petsiuk et al., 2018): N random masks (a coarse binary grid, p = 0.5, bilinearly
  upsampled and randomly shifted); saliency = sum_i p_c(input * M_i) M_i / (N p).
- Checks: deletion and insertion curves (pixels removed from, or added to, a blank (zero)
  input in the map's order; area under each) beside deletion in a random order; and Adebayo et
  al.'s sanity check: the same method with the head's weights re-drawn, compared by Spearman's
  rank correlation. Perturbation methods get the randomised head's probabilities from the
  same runs (the head input is fetched too, and the re-drawn head applied in NumPy).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort

from app.explain import render
from app.explain.backprop import Pass, gradcam
from app.explain.graph import Graph
from app.explain.ops import softmax
from app.serving.run import run_rows

STEPS = 8  # points of the deletion/insertion curves besides the two ends
CHECK_RUNS = 1 + 3 * (STEPS - 1)  # the blank input, then 7 interior points of three curves
RISE_GRID = {"digit": 4, "photo": 7}
RISE_SAMPLES = {"digit": 1000, "photo": 128}
RISE_RES = 56  # masks are drawn at up to this resolution; the map is reported there


class Cancelled(Exception):
    pass


def default_patch(size: int) -> tuple[int, int]:
    """A quarter of the input's side, half of it as the stride: 7x7 positions on 224 and on 32."""
    patch = max(1, round(size / 4))
    return patch, max(1, patch // 2)


def grid(size: int, patch: int, stride: int) -> int:
    return (size - patch) // stride + 1


@dataclass
class Job:
    """One explanation's session, graph and input; progress counted in images run."""

    sess: ort.InferenceSession
    graph: Graph
    x: np.ndarray  # (1, C, H, W), normalised
    input_name: str
    prob_output: str
    prob_is_softmax: bool
    head: str  # the tensor the head starts from (the default Grad-CAM layer)
    kind: str  # "digit" or "photo"
    total: int = 0
    done: int = 0
    batch: int = 8
    opts: ort.RunOptions = field(default_factory=ort.RunOptions)
    cancelled: threading.Event = field(default_factory=threading.Event)
    run_s: float = 0.0

    def cancel(self) -> None:
        self.cancelled.set()
        self.opts.terminate = True

    def run(self, xb: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
        if self.cancelled.is_set():
            raise Cancelled()
        t = time.perf_counter()
        names = list(dict.fromkeys([self.prob_output, *names]))
        got, whole = run_rows(self.sess, names, self.input_name, xb, self.opts, self.batch > 1)
        if not whole:
            self.batch = 1  # the graph fixes its batch (run_rows): one copy per run from here on
        outs = dict(zip(names, got, strict=True))
        self.run_s += time.perf_counter() - t
        p = outs[self.prob_output].reshape(xb.shape[0], -1)
        outs["@prob"] = p if self.prob_is_softmax else softmax(p.astype(np.float64)).astype(np.float32)
        self.done += xb.shape[0]
        return outs

    def chunks(self, n: int) -> list[slice]:
        """The batches n copies run in, ``batch`` at a time as it is now: a fall back to 1 on the
        way splits the runs (``run``), not these slices."""
        return [slice(i, min(i + self.batch, n)) for i in range(0, n, self.batch)]

    def probs(self, copies: np.ndarray, cls: int, random_head: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """p_cls of every copy, with the model's head and with the re-drawn head, in batches."""
        p, q = [], []
        for sl in self.chunks(len(copies)):
            outs = self.run(copies[sl], [self.head])
            p.append(outs["@prob"][:, cls])
            q.append(self.random_probs(outs[self.head], cls, random_head))
        return np.concatenate(p), np.concatenate(q)

    def random_probs(self, head_in: np.ndarray, cls: int, random_head: dict[str, np.ndarray]) -> np.ndarray:
        if self.batch == 1 and len(head_in) > 1:  # the head's NumPy twin fixes its batch where the graph does
            return np.concatenate([self.random_probs(h[None], cls, random_head) for h in head_in])
        z = Pass(self.graph, {self.head: head_in}, random_head).logits().reshape(len(head_in), -1)  # [N,10,1,1] too
        return softmax(z.astype(np.float64))[:, cls].astype(np.float32)


def explain_gradcam(job: Job, layer: str, first: dict[str, np.ndarray], cls: int,
                    random_head: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    cam = gradcam(Pass(job.graph, first), layer, cls)
    cam_random = gradcam(Pass(job.graph, first, random_head), layer, cls)
    return cam, cam_random


def explain_occlusion(job: Job, first: dict[str, np.ndarray], cls: int, patch: int, stride: int,
                      random_head: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The patch grid of probability drops (model and re-drawn head) and the per-pixel map
    (each pixel: the mean drop of the patches that cover it)."""
    _, _, h, w = job.x.shape
    gh, gw = grid(h, patch, stride), grid(w, patch, stride)
    p0 = first["@prob"][0, cls]
    q0 = job.random_probs(first[job.head], cls, random_head)[0]
    p, q = [], []
    for sl in job.chunks(gh * gw):  # copies made per batch: 169 VGG inputs never sit in memory at once
        idx = range(sl.start, sl.stop)
        copies = np.repeat(job.x, len(idx), axis=0)
        for k, pos in enumerate(idx):
            r, c = divmod(pos, gw)
            copies[k, :, r * stride:r * stride + patch, c * stride:c * stride + patch] = 0
        pp, qq = job.probs(copies, cls, random_head)
        p.append(pp)
        q.append(qq)
    drop = (p0 - np.concatenate(p)).reshape(gh, gw)
    drop_random = (q0 - np.concatenate(q)).reshape(gh, gw)
    total = np.zeros((h, w), np.float64)
    count = np.zeros((h, w), np.float64)
    for r in range(gh):
        for c in range(gw):
            total[r * stride:r * stride + patch, c * stride:c * stride + patch] += drop[r, c]
            count[r * stride:r * stride + patch, c * stride:c * stride + patch] += 1
    pixel = np.where(count > 0, total / np.maximum(count, 1), 0).astype(np.float32)
    return drop.astype(np.float32), drop_random.astype(np.float32), pixel


def rise_masks(n: int, res: int, s: int, seed: int = 0, p: float = 0.5) -> np.ndarray:
    """RISE's masks at ``res`` x ``res``: s x s binary grids upsampled to (s+1) cells and shifted."""
    rng = np.random.default_rng(seed)
    cell = math.ceil(res / s)
    up = (s + 1) * cell
    grids = (rng.random((n, s, s)) < p).astype(np.float32)
    out = np.empty((n, res, res), np.float32)
    for i in range(n):
        big = render.upsample(np.pad(grids[i], ((0, 1), (0, 1)), mode="edge"), up, up)
        dy, dx = rng.integers(0, cell, 2)
        out[i] = big[dy:dy + res, dx:dx + res]
    return out


def explain_rise(job: Job, first: dict[str, np.ndarray], cls: int, n: int,
                 random_head: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _, _, h, w = job.x.shape
    res = min(h, RISE_RES)
    masks = rise_masks(n, res, RISE_GRID.get(job.kind, 7))
    sal = np.zeros((res, res), np.float64)
    sal_random = np.zeros((res, res), np.float64)
    for sl in job.chunks(n):
        m = masks[sl]
        full = m if res == h and res == w else np.stack([render.upsample(k, h, w) for k in m])
        pp, qq = job.probs(job.x * full[:, None], cls, random_head)
        sal += np.tensordot(pp.astype(np.float64), m, axes=1)
        sal_random += np.tensordot(qq.astype(np.float64), m, axes=1)
    norm = n * 0.5
    sal, sal_random = (sal / norm).astype(np.float32), (sal_random / norm).astype(np.float32)
    return sal, sal_random, render.upsample(sal, h, w)


def curves(job: Job, first: dict[str, np.ndarray], cls: int, pixel_map: np.ndarray) -> dict[str, Any]:
    """Deletion and insertion in the map's order (highest first, ties by position) and deletion in a
    seeded random order: p_cls at fractions 0, 1/8, ..., 1 of the pixels, and the area under each."""
    x = job.x
    _, _, h, w = x.shape
    n = h * w
    order = np.argsort(-pixel_map.ravel(), kind="stable")
    rand = np.random.default_rng(0).permutation(n)
    fractions = [k / STEPS for k in range(STEPS + 1)]
    copies = [np.zeros_like(x[0])]
    for o, insert in ((order, False), (order, True), (rand, False)):
        for k in range(1, STEPS):
            mask = np.zeros(n, bool)
            mask[o[:round(k * n / STEPS)]] = True
            mask = mask.reshape(1, h, w)
            copies.append(np.where(mask, x[0], 0) if insert else np.where(mask, 0, x[0]))
    p = []
    for sl in job.chunks(len(copies)):
        p.append(job.run(np.stack(copies[sl]), [])["@prob"][:, cls])
    pv = np.concatenate(p)
    p0, blank = float(first["@prob"][0, cls]), float(pv[0])
    k = STEPS - 1
    deletion = [p0, *map(float, pv[1:1 + k]), blank]
    insertion = [blank, *map(float, pv[1 + k:1 + 2 * k]), p0]
    random = [p0, *map(float, pv[1 + 2 * k:1 + 3 * k]), blank]

    def auc(c: list[float]) -> float:
        return round(float(np.trapezoid(c, fractions)), 6)

    return {"fractions": fractions, "deletion": deletion, "insertion": insertion, "random": random,
            "deletion_auc": auc(deletion), "insertion_auc": auc(insertion), "random_auc": auc(random)}
