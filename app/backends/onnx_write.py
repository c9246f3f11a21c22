"""A model's files on disk -- NAME.onnx, its weights NAME.onnx.data, its card NAME.card.json -- and
how they are written: through temporary files and renames, so a crash never leaves half a model.
(Below app.weights, so the importer can write models; app.catalog.store reads them back.)"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import onnx

from app import nets
from app.backends.onnx_build import build


def card_path(models_dir: Path, name: str) -> Path:
    """NAME.card.json: what a built-in model's weights are and where they came from."""
    return models_dir / f"{name}.card.json"


def file_bytes(path: Path) -> int:
    """A model's size on disk, its external data file included."""
    data = path.with_name(path.name + ".data")
    return path.stat().st_size + (data.stat().st_size if data.exists() else 0)


def write_model(net: nets.Net, weights: Any, models_dir: Path, source: str,
                extra_meta: dict[str, Any] | None = None) -> Path:
    """Write NAME.onnx (+ NAME.onnx.data) via temporary files and renames: never half a model."""
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / f"{net.name}.onnx"
    data_path = models_dir / f"{net.name}.onnx.data"
    fd, tmp = tempfile.mkstemp(dir=models_dir, prefix=f".{net.name}.", suffix=".data.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            model = build(net, weights, source, extra_meta, data=f, data_location=data_path.name)
        os.chmod(tmp, 0o644)
        os.replace(tmp, data_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return save_model(model, path, check=True)


def save_model(model: onnx.ModelProto, path: Path, check: bool = False) -> Path:
    """Write via a temporary file and rename, so a crash never leaves half a model behind;
    with ``check``, onnx.checker reads the written file (external data included) first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model.SerializeToString())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; a model file is for everyone to read
        if check:
            onnx.checker.check_model(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
