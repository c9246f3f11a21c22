"""Pretrained weights: read a torchvision-format checkpoint (.pth/.pt through torch.load with
weights_only=True, or .safetensors with no torch at all), map it onto a definition with exact
key and shape checks, write the ONNX into the models directory atomically, verify it against
the PyTorch reference when torch is installed; and `download` torchvision's published files."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from app import nets
from app.weights.download import CHECKPOINTS, DEFAULT_URL_BASE
from app.weights.init import weight_shapes

TORCHVISION_FILES = {m: c.file for m, c in CHECKPOINTS.items()}  # file names; the pins live in app.weights.download

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "BF16": None, "I64": np.int64}


class ImportError_(Exception):
    """A checkpoint that cannot be imported; the message names the file and what was wrong."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
        raise ImportError_(f"{path.name}: could not be read as a PyTorch checkpoint (not a torch.save zip: "
                           f"{exc or 'no data.pkl'})") from exc
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
        raise ImportError_(f"{path.name}: could not be read as a PyTorch checkpoint ({exc})") from exc
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise ImportError_(f"{path.name}: not a state dict (a mapping of names to tensors); "
                           f"found {type(obj).__name__}")
    return dict(obj)


def read_torch(path: Path) -> dict[str, np.ndarray]:
    """torch.load(weights_only=True) when PyTorch is installed; the restricted zip reader otherwise."""
    try:
        import torch
    except ImportError:
        return read_torch_zip(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ImportError_(f"{path.name}: could not be read as a PyTorch checkpoint ({exc})") from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ImportError_(f"{path.name}: not a state dict (a mapping of names to tensors); "
                           f"found {type(obj).__name__}")
    return {k: v.detach().cpu().numpy() for k, v in obj.items()}


def read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ImportError_(f"{path}: no such file")
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    if path.suffix in (".pth", ".pt", ".bin", ".ckpt"):
        return read_torch(path)
    raise ImportError_(f"{path.name}: unknown checkpoint type; expected .pth, .pt or .safetensors")


def map_state_dict(name: str, sd: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keys and shapes checked exactly against the definition (torchvision's names)."""
    want = weight_shapes(nets.get(name))
    sd = {k.removeprefix("module."): v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    if not set(sd) & set(want):
        example = next(iter(sd), "nothing")
        raise ImportError_(f"this checkpoint is not a {name}: none of its {len(sd)} keys match "
                           f"(it has e.g. {example!r}, {name} needs e.g. {next(iter(want))!r})")
    for key, shape in want.items():
        if key not in sd:
            raise ImportError_(f"missing key {key!r} (shape {list(shape)}) for {name}")
        if tuple(sd[key].shape) != shape:
            raise ImportError_(f"key {key!r} has shape {list(sd[key].shape)}; {name} needs {list(shape)}")
    extra = sorted(set(sd) - set(want))
    if extra:
        raise ImportError_(f"unexpected key {extra[0]!r} for {name}" + (f" (and {len(extra) - 1} more)"
                                                                         if len(extra) > 1 else ""))
    out = {}
    for k in want:
        a = np.asarray(sd[k], dtype=np.float32)
        if not np.isfinite(a).all():
            raise ImportError_(f"key {k!r} holds NaN or infinite values")
        out[k] = np.ascontiguousarray(a)
    return out


def verify(name: str, onnx_path: Path, weights: dict[str, np.ndarray]) -> str:
    """Compare every layer of the written ONNX against the PyTorch reference (1e-4 of magnitude)."""
    import onnxruntime as ort

    net = nets.get(name)
    x = np.random.default_rng(0).standard_normal((1, *net.input_shape), dtype=np.float32)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [s.name for s in net.stages]
    got = dict(zip(names, sess.run(names, {"input": x}), strict=True))
    try:
        import torch

        from app.backends.torch_ref import NetModule
    except ImportError:
        if not all(np.isfinite(v).all() for v in got.values()):
            raise ImportError_("the imported model produces NaN or infinite activations") from None
        return "runs in onnxruntime; not compared with PyTorch (torch not installed)"
    ref = NetModule(net).load_weights(weights).eval()
    with torch.inference_mode():
        want = ref.forward_all(torch.from_numpy(x))
    worst = 0.0
    for n in names:
        e = want[n].numpy()
        err = float(np.abs(got[n] - e).max()) / max(1.0, float(np.abs(e).max()))
        worst = max(worst, err)
        if err > 1e-4:
            raise ImportError_(f"verification failed at {n}: ONNX and PyTorch differ by {err:.2e} of its magnitude")
    return f"every layer matches PyTorch within {worst:.1e} of its magnitude"


def import_checkpoint(name: str, checkpoint: Path, models_dir: Path, source_url: str | None = None,
                      digest: str | None = None) -> dict[str, Any]:
    """Import, verify, then move into place: nothing half-written is ever left in ``models_dir``.
    ``digest``: the file's sha256 when the caller has just checked it (a download), else computed here."""
    from app.backends.onnx_write import card_path, write_model

    name = nets.canonical(name)
    net = nets.get(name)
    weights = map_state_dict(name, read_checkpoint(checkpoint))
    digest = digest or sha256(checkpoint)
    models_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".import-", dir=models_dir))
    try:
        meta = {"checkpoint": checkpoint.name, "checkpoint_sha256": digest}
        path = write_model(net, weights, stage, "imported", meta)
        verified = verify(name, path, weights)
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
