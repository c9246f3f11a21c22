"""Reading checkpoints without trusting them: .safetensors (no torch needed), torch.save() zips through
torch.load(weights_only=True) or, without PyTorch, a restricted unpickler that knows only tensors;
every reader hands back a plain state dict of numpy arrays, unwrapped one way."""

from __future__ import annotations

import hashlib
import io
import json
import math
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "BF16": None, "I64": np.int64}


class ImportError_(Exception):
    """A checkpoint that cannot be imported; the message names the file and what was wrong."""


def sha256(path: Path) -> str:
    """The file's sha256, read in 1 MB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """A checkpoint file (by its suffix) as a state dict of numpy arrays; ImportError_ otherwise."""
    if not path.is_file():
        raise ImportError_(f"{path}: no such file")
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    if path.suffix in (".pth", ".pt", ".bin", ".ckpt"):
        return read_torch(path)
    raise ImportError_(f"{path.name}: unknown checkpoint type; expected .pth, .pt or .safetensors")


def state_dict(path: Path, obj: Any, tensor: type | tuple[type, ...]) -> Mapping[str, Any]:
    """What torch.save() wrote, as a state dict: a mapping of names to ``tensor``s, or such a mapping
    under "state_dict" (a training checkpoint); ImportError_ naming the file otherwise."""
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, tensor) for v in obj.values()):
        raise ImportError_(f"{path.name}: not a state dict (a mapping of names to tensors); "
                           f"found {type(obj).__name__}")
    return obj


def _unreadable(path: Path, exc: object) -> ImportError_:
    text = str(exc)
    if "weights_only" in text or "Unsupported global" in text or "Unsupported operand" in text:
        # torch's own text goes on to suggest weights_only=False, which would run whatever the file holds
        why = "it holds objects other than tensors; convscope reads state dicts of tensors only, and never runs code"
    else:
        why = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)[:200]
    return ImportError_(f"{path.name}: could not be read as a PyTorch checkpoint ({why})")


def read_torch(path: Path) -> dict[str, np.ndarray]:
    """torch.load(weights_only=True) when PyTorch is installed; the restricted zip reader otherwise."""
    try:
        import torch
    except ImportError:
        return read_torch_zip(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise _unreadable(path, exc) from exc
    return {k: v.detach().cpu().numpy() for k, v in state_dict(path, obj, torch.Tensor).items()}


def _st_bad(path: Path, what: str) -> ImportError_:
    return ImportError_(f"{path.name}: malformed safetensors header: {what}")


def _st_entry(path: Path, name: str, meta: Any, base: int, size: int) -> tuple[Any, tuple[int, ...], int, int]:
    """One tensor's header entry, checked: (dtype, shape, start, end) or a one-line ImportError_."""
    if not isinstance(meta, dict):
        raise _st_bad(path, f"tensor {name[:80]!r} is described by a {type(meta).__name__}, not an object")
    dtype = _ST_DTYPES.get(meta.get("dtype"), "unknown")  # type: ignore[arg-type]
    if dtype == "unknown":
        raise ImportError_(f"{path.name}: tensor {name[:80]!r} has unsupported dtype {str(meta.get('dtype'))[:20]}")
    shape, offs = meta.get("shape"), meta.get("data_offsets")
    if not (isinstance(shape, list) and len(shape) <= 8 and all(type(d) is int and 0 <= d < 1 << 31 for d in shape)):
        raise _st_bad(path, f"tensor {name[:80]!r} has shape {str(shape)[:60]} (want up to 8 sizes in [0, 2^31))")
    if not (isinstance(offs, list) and len(offs) == 2 and all(type(o) is int for o in offs)):
        raise _st_bad(path, f"tensor {name[:80]!r} has data_offsets {str(offs)[:60]} (want [start, end])")
    start, end = offs
    if start < 0 or end < start:
        raise _st_bad(path, f"tensor {name[:80]!r} has data_offsets {offs}: negative or reversed")
    if base + end > size:
        raise ImportError_(f"{path.name}: tensor {name!r} lies past the end of the file (truncated?)")
    item = 2 if dtype is None else np.dtype(dtype).itemsize
    if math.prod(shape) * item != end - start:
        raise _st_bad(path, f"tensor {name[:80]!r} holds {end - start} bytes; shape {shape} needs "
                      f"{math.prod(shape) * item}")
    return dtype, tuple(shape), start, end


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """A .safetensors file as numpy arrays, strictly checked (header, dtypes, offsets): every
    malformed header is a one-line ImportError_ naming what is wrong."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ImportError_(f"{path.name}: too short to be a safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, 100 << 20):
            raise ImportError_(f"{path.name}: header length {n} is impossible for a {size}-byte file (truncated?)")
        try:
            header = json.loads(f.read(n))
        except (ValueError, RecursionError) as exc:
            raise ImportError_(f"{path.name}: the safetensors header is not JSON ({str(exc)[:100]})") from exc
        if not isinstance(header, dict):
            raise _st_bad(path, f"it is a JSON {type(header).__name__}, not an object")
        meta = header.get("__metadata__", {})
        if not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
            raise _st_bad(path, "__metadata__ must be an object of strings")
        base = 8 + n
        out: dict[str, np.ndarray] = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            dtype, shape, start, end = _st_entry(path, name, entry, base, size)
            f.seek(base + start)
            raw = f.read(end - start)
            if dtype is None:  # bfloat16: the top half of a float32
                a = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                a = np.frombuffer(raw, dtype)
            out[name] = a.reshape(shape)
    return out


_STORAGES = {"FloatStorage": np.float32, "HalfStorage": np.float16, "DoubleStorage": np.float64,
             "LongStorage": np.int64, "IntStorage": np.int32, "BFloat16Storage": "bf16"}


class _Storage:
    def __init__(self, data: np.ndarray) -> None:
        self.data = data


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
                    *_: object) -> np.ndarray:
    """A tensor as a view of its storage, every index checked to lie inside the storage before
    the view is built (an unchecked as_strided reads, or crashes on, memory outside it)."""
    import pickle

    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor without a storage")
    ints = (offset, *size, *stride) if isinstance(size, tuple) and isinstance(stride, tuple) else None
    if ints is None or not all(type(v) is int for v in ints) or len(size) != len(stride) or len(size) > 8:
        raise pickle.UnpicklingError(f"a tensor with a malformed size {str(size)[:40]} or stride {str(stride)[:40]}")
    n = storage.data.size
    if offset < 0 or any(v < 0 for v in size) or any(v < 0 for v in stride):
        raise pickle.UnpicklingError(f"a tensor with a negative offset, size or stride ({offset}, {size}, {stride})")
    numel = math.prod(size)
    if numel and (offset + sum((d - 1) * s for d, s in zip(size, stride, strict=True)) >= n or numel > n):
        raise pickle.UnpicklingError(f"a tensor of size {list(size)} (stride {list(stride)}, offset {offset}) "
                                     f"reaches past its storage of {n} values")
    if not numel:
        return np.zeros(size, storage.data.dtype)
    item = storage.data.itemsize
    return np.lib.stride_tricks.as_strided(storage.data[offset:], shape=size,
                                           strides=[x * item for x in stride]).copy()


def read_torch_zip(path: Path) -> dict[str, np.ndarray]:
    """A torch.save() zip checkpoint read without PyTorch: a restricted unpickler that knows only
    OrderedDict, tensor rebuilding and typed storages (anything else in the pickle is refused)."""
    import pickle
    import zipfile

    try:
        z = zipfile.ZipFile(path)
        pkl = next(n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl")
    except (zipfile.BadZipFile, StopIteration, OSError) as exc:
        raise _unreadable(path, f"not a torch.save zip: {exc or 'no data.pkl'}") from exc
    prefix = pkl[: -len("data.pkl")]

    class Restricted(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if (module, name) == ("collections", "OrderedDict"):
                import collections

                return collections.OrderedDict
            if (module, name) in (("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor")):
                return _rebuild_tensor
            if module == "torch" and name in _STORAGES:
                return name
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a state dict")

        def persistent_load(self, pid: Any) -> _Storage:
            _, kind, key, _location, numel = pid
            entry = z.getinfo(f"{prefix}data/{key}")
            if entry.compress_type != zipfile.ZIP_STORED or entry.file_size > path.stat().st_size:
                raise pickle.UnpicklingError(f"storage {key} is compressed or larger than the file (torch.save "
                                             "stores storages as they are)")
            raw = z.read(entry)
            dtype = _STORAGES[kind]
            if dtype == "bf16":
                a = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                a = np.frombuffer(raw, dtype)
            if a.size < numel:
                raise pickle.UnpicklingError(f"storage {key} is truncated")
            return _Storage(a)

    try:
        obj = Restricted(io.BytesIO(z.read(pkl))).load()
    except Exception as exc:
        raise _unreadable(path, exc) from exc
    return dict(state_dict(path, obj, np.ndarray))
