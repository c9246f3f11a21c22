"""What excites a channel of a photo model: the nine strongest units of one channel over the bundled sample
photos (static/samples/*.jpg), each with its receptive-field crop of the photo as the network saw it.

Only for trained or imported weights: with seeded random weights the winning crops are noise. Each layer's
table (top nine per channel, and the photos as seen for the crops: 4 x 3 x 224 x 224 floats) is computed on
first use with one onnxruntime run per photo and kept in memory for the model file's current version.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from PIL import Image

from app.catalog.info import ModelInfo
from app.config import STATIC_DIR
from app.errors import bad_input
from app.serving.service import Service
from app.units import rf as rfmod
from app.units.images import TOP, crop, png

CROP_SIDE = 112  # crops larger than this are scaled down for the page (deep ResNet fields pass 400 px)


def samples() -> list[str]:
    return sorted(p.name for p in (STATIC_DIR / "samples").glob("*.jpg"))


class PhotoExamples:
    """Per (model, file version, layer): the photos' names, the photos as seen and the top nine
    (photo, y, x, value) of every channel; one computation per key at a time, older versions dropped."""

    def __init__(self) -> None:
        self._tables: dict[tuple[str, Any, str], dict[str, Any]] = {}
        self._tasks: dict[tuple[str, Any, str], asyncio.Task[dict[str, Any]]] = {}

    async def get(self, service: Service, info: ModelInfo, item: Any, layer: str, channel: int) -> list[dict[str, Any]]:
        if info.weights not in ("trained", "imported", "file"):
            raise bad_input(f"{info.name} has seeded random weights: the places that excite a channel would be "
                            "noise. Get trained weights first (the page's 'get trained weights', or "
                            f"convscope download {info.name}), then ask again")
        version = service.registry.get(info.name).signature
        key = (info.name, version, layer)
        table = self._tables.get(key)
        if table is None:
            task = self._tasks.get(key)
            if task is None:
                task = self._tasks[key] = asyncio.get_running_loop().create_task(self._compute(service, info, layer))
                task.add_done_callback(lambda _t: self._tasks.pop(key, None))
            table = await asyncio.shield(task)
            for old in [k for k in self._tables if k[0] == info.name and k[1] != version]:
                del self._tables[old]  # a replaced file's tables
            self._tables[key] = table
        return await service.blocking(_answer, table, item, channel)

    async def _compute(self, service: Service, info: ModelInfo, layer: str) -> dict[str, Any]:
        names = await service.blocking(samples)
        if not names:
            raise bad_input("no sample photos are installed (static/samples/*.jpg)")
        tensor = info.outputs[rfmod.find_layer(info, layer)[0]]

        def load(f: str) -> tuple[np.ndarray, np.ndarray]:
            return service.photo_input(info, (STATIC_DIR / "samples" / f).read_bytes())

        xs, seens = zip(*[await service.blocking(load, f) for f in names], strict=True)
        outs = []
        async with service.slot():
            sess, _ = await service.blocking(service.registry.session_and_info, info.name)
            for x in xs:  # one run per photo: a foreign graph's batch size may be fixed at 1
                outs.append(await service.within_budget(
                    lambda opts, x=x: sess.run([tensor], {info.input_name: x}, opts)[0][0], info.name))
        acts = np.stack(outs)  # (photos, C, H, W)
        _, c, h, w = acts.shape
        flat = acts.transpose(1, 0, 2, 3).reshape(c, -1)  # (C, photos*H*W)
        top = min(TOP, flat.shape[1])
        part = np.argpartition(-flat, top - 1, axis=1)[:, :top]  # the nine largest, unordered
        order = np.take_along_axis(part, np.argsort(-np.take_along_axis(flat, part, axis=1), axis=1), axis=1)
        return {"names": names, "seen": np.stack(seens), "photo": order // (h * w), "y": order % (h * w) // w,
                "x": order % w, "value": np.take_along_axis(flat, order, axis=1)}


def _answer(table: dict[str, Any], item: Any, channel: int) -> list[dict[str, Any]]:
    """The channel's nine places with their crops (PNG encoding: on a worker thread)."""
    rf = item.receptive_field or {}
    out = []
    for k in range(table["photo"].shape[1]):
        n, y, x = (int(table[f][channel, k]) for f in ("photo", "y", "x"))
        box = rfmod.box(rf["size"], rf["jump"], rf["start"], y, x)
        out.append({"sample": table["names"][n], "y": y, "x": x, "value": float(table["value"][channel, k]),
                    "box": box, "crop": png(_crop_rgb(table["seen"][n], box))})
    return out


def _crop_rgb(seen: np.ndarray, box: list[int]) -> np.ndarray:
    """The inclusive box of a (3, H, W) image in [0, 1] as (h, w, 3), black outside the image (padding),
    scaled down to CROP_SIDE when larger."""
    out = crop(seen, box).transpose(1, 2, 0)
    if max(out.shape[:2]) > CROP_SIDE:
        u8 = Image.fromarray(np.rint(out * 255).astype(np.uint8))
        u8.thumbnail((CROP_SIDE, CROP_SIDE), Image.Resampling.BILINEAR)
        out = np.asarray(u8, np.float32) / 255
    return out
