"""Checkpoints written without PyTorch: torch.save()'s zip layout (data.pkl + data/N storages)
and safetensors, so the readers' refusal cases run where torch is not installed."""

from __future__ import annotations

import collections
import io
import json
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path
from typing import Any

import numpy as np


class Tensor:
    """A tensor as torch.save() pickles it: a view (offset, size, stride) of a numbered storage."""

    def __init__(self, storage: np.ndarray, offset: int = 0, size: tuple | None = None,
                 stride: tuple | None = None) -> None:
        self.storage = np.ascontiguousarray(storage, np.float32).ravel()
        self.offset, self.size = offset, tuple(storage.shape if size is None else size)
        if stride is None:
            stride, acc = [], 1
            for d in reversed(self.size):
                stride.insert(0, acc)
                acc *= d
        self.stride = tuple(stride)


def write_torch_zip(path: Path, tensors: dict[str, Any]) -> Path:
    """``tensors``: name -> numpy array or Tensor (anything else is pickled as it is)."""
    fake_torch, fake_utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args: Any) -> None:
        pass

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    fake_torch.FloatStorage, fake_utils._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2  # type: ignore[attr-defined]
    storages: list[np.ndarray] = []

    class Ref:
        def __init__(self, t: Tensor) -> None:
            self.t = t

        def __reduce__(self) -> tuple:
            storages.append(self.t.storage)
            pid = ("storage", FloatStorage, str(len(storages) - 1), "cpu", self.t.storage.size)
            return (_rebuild_tensor_v2, (_Pid(pid), self.t.offset, self.t.size, self.t.stride, False,
                                         collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            return obj.pid if isinstance(obj, _Pid) else None

    obj = collections.OrderedDict(
        (k, Ref(v if isinstance(v, Tensor) else Tensor(v)) if isinstance(v, np.ndarray | Tensor) else v)
        for k, v in tensors.items())
    missing = object()
    saved = {m: sys.modules.get(m, missing) for m in ("torch", "torch._utils")}
    sys.modules["torch"], sys.modules["torch._utils"] = fake_torch, fake_utils
    try:
        buf = io.BytesIO()
        Pickler(buf, protocol=2).dump(obj)
    finally:
        for m, mod in saved.items():
            if mod is missing:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = mod
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/version", "3\n")
        z.writestr("archive/byteorder", "little")
        for i, s in enumerate(storages):
            z.writestr(f"archive/data/{i}", s.tobytes())
    return path


class _Pid:
    def __init__(self, pid: tuple) -> None:
        self.pid = pid


def write_safetensors(path: Path, header: Any, data: bytes = b"") -> Path:
    """A safetensors file with exactly this header (any JSON, well-formed or not) and data."""
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)
    return path
