"""Pretrained weights into the models directory: a checkpoint (read by app.weights.checkpoints) fitted
onto a definition -- resolved once, checked with app.weights.init.check_weights -- written as ONNX
atomically, verified against the PyTorch reference when torch is installed; and `download`
torchvision's published files (pinned in app.weights.download) to import them."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from app import nets
from app.backends.onnx_write import card_path, write_model
from app.config import DEFAULT_URL_BASE
from app.nets.trace import weight_shapes
from app.weights.checkpoints import ImportError_, read_checkpoint, sha256
from app.weights.download import CHECKPOINTS
from app.weights.init import check_weights

TORCHVISION_FILES = {m: c.file for m, c in CHECKPOINTS.items()}  # file names; the pins live in app.weights.download


def fit(net: nets.Net, sd: dict[str, np.ndarray], source: str = "this checkpoint") -> dict[str, np.ndarray]:
    """A state dict (torchvision's names; DataParallel's "module." prefix and batch-norm counters
    dropped) as the definition's weights: every key and shape exactly as check_weights wants them,
    float32, finite. ImportError_ naming ``source`` and what was wrong otherwise."""
    sd = {k.removeprefix("module."): v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    want = weight_shapes(net)
    if not set(sd) & set(want):
        example = next(iter(sd), "nothing")
        raise ImportError_(f"{source} is not a {net.name}: none of its {len(sd)} keys match "
                           f"(it has e.g. {example!r}, {net.name} needs e.g. {next(iter(want))!r})")
    try:
        check_weights(net, sd)
    except ValueError as exc:
        raise ImportError_(f"{source}: {exc}") from exc
    out = {}
    for k in want:
        a = np.asarray(sd[k], dtype=np.float32)
        if not np.isfinite(a).all():
            raise ImportError_(f"{source}: key {k!r} holds NaN or infinite values")
        out[k] = np.ascontiguousarray(a)
    return out


def verify(net: nets.Net, onnx_path: Path, weights: dict[str, np.ndarray]) -> str:
    """Compare every layer of the written ONNX against the PyTorch reference (1e-4 of magnitude)."""
    import onnxruntime as ort

    x = np.random.default_rng(0).standard_normal((1, *net.input_shape), dtype=np.float32)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [s.name for s in net.stages]
    got = dict(zip(names, sess.run(names, {"input": x}), strict=True))
    bad = next((n for n in names if not np.isfinite(got[n]).all()), None)
    if bad is not None:  # with or without torch: NaN against NaN would "match" (NaN > 1e-4 is False)
        raise ImportError_(f"the imported model produces NaN or infinite activations at {bad} "
                           "(weights that overflow, or not this network's)")
    try:
        import torch

        from app.backends.torch_ref import NetModule
    except ImportError:
        return "runs in onnxruntime; not compared with PyTorch (torch not installed)"
    ref = NetModule(net).load_weights(weights).eval()
    with torch.inference_mode():
        want = ref.forward_all(torch.from_numpy(x))
    worst = 0.0
    for n in names:
        e = want[n].numpy()
        err = float(np.abs(got[n] - e).max()) / max(1.0, float(np.abs(e).max()))
        worst = max(worst, err)
        if not err <= 1e-4:  # NaN fails too
            raise ImportError_(f"verification failed at {n}: ONNX and PyTorch differ by {err:.2e} of its magnitude")
    return f"every layer matches PyTorch within {worst:.1e} of its magnitude"


def import_checkpoint(name: str, checkpoint: Path, models_dir: Path, source_url: str | None = None,
                      digest: str | None = None) -> dict[str, Any]:
    """Import, verify, then move into place: nothing half-written is ever left in ``models_dir``.
    ``digest``: the file's sha256 when the caller has just checked it (a download), else computed here."""
    net = nets.get(name)  # resolved once: KeyError naming the known models for an unknown name
    name = net.name
    weights = fit(net, read_checkpoint(checkpoint), checkpoint.name)
    digest = digest or sha256(checkpoint)
    models_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".import-", dir=models_dir))
    try:
        meta = {"checkpoint": checkpoint.name, "checkpoint_sha256": digest}
        path = write_model(net, weights, stage, "imported", meta)
        verified = verify(net, path, weights)
        card = {"name": name, "weights": "imported", "checkpoint": checkpoint.name, "checkpoint_sha256": digest,
                "source": source_url, "imported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "verified": verified}
        card_path(stage, name).write_text(json.dumps(card, indent=2) + "\n")
        for f in (f"{name}.onnx.data", f"{name}.onnx", f"{name}.card.json"):  # data first, card last
            os.replace(stage / f, models_dir / f)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return card


def download(name: str, models_dir: Path, url_base: str = DEFAULT_URL_BASE, cache: Path | None = None,
             progress: Callable[[int, int], None] | None = None, expect_sha256: str | None = None,
             deadline_s: float | None = None) -> dict[str, Any]:
    """Fetch torchvision's checkpoint (full sha256 and size pinned in app.weights.download), import it."""
    from app.weights import download as dl

    name = nets.canonical(name)
    ck = dl.checkpoint(name, url_base)
    if ck is None:
        raise ImportError_(f"torchvision publishes no checkpoint for {name}; downloadable: {', '.join(dl.CHECKPOINTS)}")
    digest = (expect_sha256 or ck.sha256 or "").lower()
    prefix = ck.file.rsplit("-", 1)[1].split(".")[0]
    if not digest:
        raise ImportError_(f"no sha256 is pinned here for {ck.file}: pass the digest you have verified with "
                           f"--sha256 (it starts with {prefix}), or fetch the file yourself and run "
                           f"`convscope import {name} FILE`")
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest) or not digest.startswith(prefix):
        raise ImportError_(f"the sha256 (--sha256) must be 64 hex digits starting with {prefix}, as the file name "
                           f"{ck.file} says")
    url = url_base.rstrip("/") + "/" + ck.file
    cache = cache or Path(os.environ.get("CONVSCOPE_DATA_DIR", Path.home() / ".cache" / "convscope")) / "checkpoints"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / ck.file
    if not target.exists() or sha256(target) != digest:
        try:
            dl.fetch(url, target, digest, size=ck.size, ceiling=dl.ceiling(name), deadline_s=deadline_s,
                     progress=progress)
        except dl.DownloadError as exc:
            raise ImportError_(str(exc)) from exc
    return import_checkpoint(name, target, models_dir, source_url=url, digest=digest)  # checked just above
