"""What excites a channel: for a digit model's conv layers, the nine MNIST test images that drive each
channel highest, computed once over the 10,000 test images with onnxruntime and cached beside the model
(photo models: app/units/photo_examples.py, over the bundled sample photos)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.catalog.info import ModelInfo
from app.catalog.store import read_regular
from app.errors import AppError, bad_input
from app.serving.run import run_rows
from app.serving.service import Service
from app.units import rf as rfmod
from app.units.images import TOP, crop, png
from app.units.photo_examples import PhotoExamples

log = logging.getLogger("convscope")
CHUNK = 500
MAX_CACHE_BYTES = 64 << 20  # a table is ~0.2 MB for LeNet-5; anything far larger is not ours
FORMAT = 1


def conv_layers(info: ModelInfo) -> list[str]:
    """The layers examples are computed for: convolutions with a spatial map."""
    return [item.name for item in info.layers
            if item.kind == "conv" and item.output_shape and len(item.output_shape) == 3 and item.receptive_field]


def batch_tensor(images: np.ndarray, info: ModelInfo) -> np.ndarray:
    """(N, 28, 28) MNIST images in [0,1] -> the model's (N, 1, S, S) input, as the pad's digits are fed."""
    size = int(info.input_shape[1] or 28)
    x = images if size == 28 else np.pad(images, ((0, 0), (2, 2), (2, 2)))
    return ((x * info.pixel_range - info.mean[0]) / info.std[0])[:, None].astype(np.float32)


def seen(image: np.ndarray, info: ModelInfo) -> np.ndarray:
    """One 28x28 image as the network sees it (padded to 32x32 for LeNet-5), in [0,1]."""
    return image if int(info.input_shape[1] or 28) == 28 else np.pad(image, 2)


class Examples:
    """Per model file (by sha256): the computed table, the task computing it and its progress."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self.progress: dict[str, dict[str, Any]] = {}
        self.photos = PhotoExamples()

    @staticmethod
    def _key(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    def _model(self, service: Service, name: str) -> tuple[ModelInfo, Path]:
        info = service.registry.info(name)
        if info.input_kind != "digit":
            raise bad_input(f"dataset examples are computed over MNIST for digit models; {info.name} takes photos")
        service.registry.ensure_available(info.name)
        return info, service.registry.get(info.name).onnx_path()

    def status(self, service: Service, name: str) -> dict[str, Any]:
        _, path = self._model(service, name)
        key = self._key(path)
        table = self.tables.get(key)
        if table is not None or self._cache_file(path, key).is_file():  # (a FIFO there is not "ready")
            ms = float(table["compute_ms"]) if table is not None else None
            return {"state": "ready", "done": 10000, "total": 10000, "compute_ms": ms}
        p = self.progress.get(key)
        return {"state": "computing", **p} if p else {"state": "missing", "done": 0, "total": 10000}

    @staticmethod
    def _cache_file(path: Path, key: str) -> Path:
        return path.with_name(f"{path.stem}.examples-{key[:16]}.npz")

    async def table(self, service: Service, name: str) -> tuple[ModelInfo, dict[str, Any]]:
        info, path = await service.blocking(self._model, service, name)
        key = await service.blocking(self._key, path)
        if key in self.tables:
            return info, self.tables[key]
        cached = await service.blocking(self._load, self._cache_file(path, key), info)
        if cached is not None:
            self.tables[key] = cached
            return info, cached
        task = self.tasks.get(key)
        if task is None:
            task = self.tasks[key] = asyncio.get_running_loop().create_task(self._compute(service, info, path, key))
            task.add_done_callback(lambda _t: self.tasks.pop(key, None))
        return info, await asyncio.shield(task)

    @staticmethod
    def _load(file: Path, info: ModelInfo) -> dict[str, Any] | None:
        """The cached table beside the model, or None (recompute) for one that is missing or is not a
        table of this format for this model's layers: a file in the models folder is not trusted."""
        if not file.exists() and not file.is_symlink():
            return None
        try:
            with np.load(io.BytesIO(read_regular(file, MAX_CACHE_BYTES))) as z:
                table = {k: z[k] for k in z.files}
            if int(table["format"]) != FORMAT or table["compute_ms"].shape != ():
                raise ValueError("another format")
            found = table["images/index"]
            if found.ndim != 1 or not {"images/pixels", "images/label"} <= table.keys():
                raise ValueError("no images")
            for name in conv_layers(info):
                c = int(info.layers[rfmod.find_layer(info, name)[0]].output_shape[0])  # type: ignore[index]
                if any(table[f"{name}/{f}"].shape != (c, TOP) for f in ("index", "y", "x", "value")):
                    raise ValueError(f"{name}'s rows are not {c}x{TOP}")
                if not np.isin(table[f"{name}/index"], found).all():
                    raise ValueError(f"{name} names images the table lacks")
            return table
        except Exception as exc:  # unreadable, a FIFO, a zip of something else, a table of other shapes
            log.warning("ignoring the examples cache %s (recomputed): %s", file.name, str(exc)[:200])
            return None

    async def _compute(self, service: Service, info: ModelInfo, path: Path, key: str) -> dict[str, Any]:
        from app import data

        t0 = time.perf_counter()
        self.progress[key] = {"done": 0, "total": 10000}
        try:
            try:
                images, labels = (await service.blocking(data.load))["test"]
            except Exception as exc:  # no MNIST here (offline, no cache): say so
                raise AppError(503, "no_data", f"the MNIST test images are not available: {exc}") from exc
            layers = conv_layers(info)
            tensors = [info.outputs[rfmod.find_layer(info, name)[0]] for name in layers]
            n = len(images)
            self.progress[key]["total"] = n
            best: dict[str, list[np.ndarray]] = {name: [] for name in layers}
            where: dict[str, list[np.ndarray]] = {name: [] for name in layers}
            whole = True  # whether the graph takes a batch (run_rows finds out)
            for i in range(0, n, CHUNK):
                x = batch_tensor(images[i:i + CHUNK], info)
                async with service.slot():
                    sess = service.registry.cached(info.name) or await service.blocking(
                        service.registry.session, info.name)
                    outs, whole = await service.within_budget(
                        lambda opts, x=x, sess=sess, whole=whole: run_rows(sess, tensors, info.input_name, x, opts,
                                                                           whole), info.name)
                for name, out in zip(layers, outs, strict=True):
                    flat = out.reshape(out.shape[0], out.shape[1], -1)  # (N, C, H*W)
                    where[name].append(flat.argmax(axis=2))
                    best[name].append(flat.max(axis=2))
                self.progress[key]["done"] = min(n, i + CHUNK)
            table: dict[str, Any] = {"format": np.array(FORMAT)}
            keep: set[int] = set()
            for name in layers:
                vals, pos = np.concatenate(best[name]), np.concatenate(where[name])  # (N, C)
                order = np.argsort(-vals, axis=0, kind="stable")[:TOP].T  # (C, 9) image indices
                w = int(info.layers[rfmod.find_layer(info, name)[0]].output_shape[2])  # type: ignore[index]
                p = np.take_along_axis(pos.T, order, axis=1)
                table[f"{name}/index"] = order
                table[f"{name}/y"], table[f"{name}/x"] = p // w, p % w
                table[f"{name}/value"] = np.take_along_axis(vals.T, order, axis=1)
                keep.update(int(j) for j in order.ravel())
            idx = np.array(sorted(keep))
            table["images/index"], table["images/pixels"], table["images/label"] = idx, images[idx], labels[idx]
            ms = (time.perf_counter() - t0) * 1000
            table["compute_ms"] = np.array(ms)
            log.info("computed %s's dataset examples over %d MNIST test images in %.0f ms", info.name, n, ms)
            await service.blocking(self._save, self._cache_file(path, key), table)
            self.tables[key] = table
            return table
        finally:
            self.progress.pop(key, None)

    @staticmethod
    def _save(file: Path, table: dict[str, Any]) -> None:
        tmp = file.with_name(f".{file.name}.tmp")
        try:
            with open(tmp, "wb") as f:
                np.savez(f, **table)
            tmp.replace(file)
        except OSError as exc:  # a read-only models directory: keep it in memory only
            tmp.unlink(missing_ok=True)
            log.warning("could not cache dataset examples in %s: %s", file, exc)

    async def get(self, service: Service, name: str, layer: str, channel: int) -> list[dict[str, Any]]:
        info = await service.available(name)  # 503 for a model that cannot serve, photo models too
        _, item = rfmod.find_layer(info, layer)
        layers = conv_layers(info)
        if layer not in layers:
            raise bad_input(f"dataset examples exist for {info.name}'s convolution layers "
                            f"{', '.join(layers) or '(none)'}, not {layer!r}")
        c = int(item.output_shape[0])  # type: ignore[index]
        if not 0 <= channel < c:
            raise bad_input(f"channel={channel} is outside 0..{c - 1} ({layer} has {c} channels)")
        if info.input_kind != "digit":  # photo models: over the bundled sample photos, trained weights only
            return await self.photos.get(service, info, item, layer, channel)
        info, t = await self.table(service, name)
        rf = item.receptive_field or {}
        row = {int(j): k for k, j in enumerate(t["images/index"])}
        out = []
        for k in range(TOP):
            j, y, x = (int(t[f"{layer}/{f}"][channel, k]) for f in ("index", "y", "x"))
            box = rfmod.box(rf["size"], rf["jump"], rf["start"], y, x)
            img = seen(t["images/pixels"][row[j]], info)
            out.append({"mnist_index": j, "label": int(t["images/label"][row[j]]), "y": y, "x": x,
                        "value": float(t[f"{layer}/value"][channel, k]), "box": box, "crop": png(crop(img, box))})
        return out
