"""The training loop of the digit models on MNIST (seeded, one or several seeds, optionally in parallel
processes) and their evaluation on the 10,000 test images."""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from app import nets
from app.catalog.info import MNIST_MEAN, MNIST_STD
from app.train.augment import augment, flag_ones
from app.train.card import PAD, with_runs, write_trained
from app.train.card import card as make_card
from app.train.recipe import recipe
from app.train.start import init_weights, load_onnx_weights

log = logging.getLogger("app.train")


def prep(x: Any) -> Any:
    """A (B, 1, 28, 28) batch in [0, 1] -> LeNet-5's input: padded to 32x32, normalised as MNIST."""
    import torch.nn.functional as F

    return (F.pad(x, (PAD, PAD, PAD, PAD)) - MNIST_MEAN) / MNIST_STD


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

    rc = recipe(name, stage2=base is not None)
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
        init_weights(model, name)
    ema = [p.detach().clone() for p in model.parameters()] if rc.ema else None
    steps = epochs * math.ceil(len(x_all) / batch)
    opt = torch.optim.AdamW(model.parameters(), lr=rc.lr, weight_decay=rc.wd)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=rc.lr, total_steps=steps, pct_start=rc.warmup)
    gen = torch.Generator().manual_seed(seed)
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
            if rc.flag_p:
                x = flag_ones(x, y, gen, rc.flag_p)
            x = prep(augment(x, gen, rc.aug))
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=rc.smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                with torch.no_grad():
                    for e, p in zip(ema, model.parameters(), strict=True):
                        e.lerp_(p, 1 - rc.ema)
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
    card = make_card(name, rc, ds, epochs, batch, seed, acc, train_s, torch.__version__, base, extra)
    proto = build(net, weights, "trained", {"test_accuracy": card["test_accuracy"]})
    if write:
        write_trained(proto, card, out_dir)
    return card, proto


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
    card = with_runs(card, runs)
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
    xp = ((np.pad(x, ((0, 0), (PAD, PAD), (PAD, PAD))) - MNIST_MEAN) / MNIST_STD)[:, None].astype(np.float32)
    preds = []
    for i in range(0, len(xp), 1000):
        preds.append(sess.run(["prob"], {"input": xp[i:i + 1000]})[0].argmax(1))
    pred = np.concatenate(preds)
    conf = np.zeros((10, 10), np.int64)
    np.add.at(conf, (y, pred), 1)
    return float((pred == y).mean()), conf
