"""What excites a channel of a photo model: the nine strongest units of one channel over the bundled sample
photos (static/samples/*.jpg), each with its receptive-field crop of the photo as the network saw it.

Only for trained or imported weights: with seeded random weights the winning crops are noise. Each layer's
table (top nine per channel) is computed on first use with one onnxruntime run per photo and kept in memory
per model file version; the photos as seen (4 x 3 x 224 x 224 floats) are kept beside it for the crops.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from PIL import Image

from app.config import STATIC_DIR
from app.errors import AppError, bad_input
from app.registry import ModelInfo
from app.service import Service, ort_errors
from app.units import rf as rfmod
from app.units.examples import TOP, png

CROP_SIDE = 112  # crops larger than this are scaled down for the page (deep ResNet fields pass 400 px)


def samples() -> list[str]:
    return sorted(p.name for p in (STATIC_DIR / "samples").glob("*.jpg"))


class PhotoExamples:
    """Per (model, file version, layer): the top nine (photo, y, x, value) of every channel."""

    def __init__(self) -> None:
        self._tables: dict[tuple[str, Any, str], dict[str, np.ndarray]] = {}
        self._seen: dict[tuple[str, Any], np.ndarray] = {}
        self._lock = threading.Lock()

    async def get(self, service: Service, info: ModelInfo, item: Any, layer: str, channel: int) -> list[dict[str, Any]]:
        if info.weights not in ("trained", "imported", "file"):
            raise bad_input(f"{info.name} has seeded random weights: the places that excite a channel would be "
                            "noise. Get trained weights first (the page's 'get trained weights', or "
                            f"convscope download {info.name}), then ask again")
        names = samples()
        if not names:
            raise bad_input("no sample photos are installed (static/samples/*.jpg)")
        version = service.registry.get(info.name).signature
        key = (info.name, version, layer)
        if key not in self._tables:
            await self._compute(service, info, names, layer, key)
        t, seen = self._tables[key], self._seen[(info.name, version)]
        rf = item.receptive_field or {}
        out = []
        for k in range(t["photo"].shape[1]):
            n, y, x = (int(t[f][channel, k]) for f in ("photo", "y", "x"))
            box = rfmod.box(rf["size"], rf["jump"], rf["start"], y, x)
            out.append({"sample": names[n], "y": y, "x": x, "value": float(t["value"][channel, k]), "box": box,
                        "crop": png(_crop_rgb(seen[n], box))})
        return out

    async def _compute(self, service: Service, info: ModelInfo, names: list[str], layer: str,
                       key: tuple[str, Any, str]) -> None:
        tensor = info.outputs[rfmod.find_layer(info, layer)[0]]
        xs, seens = zip(*[await service.blocking(service.photo_input, info, (STATIC_DIR / "samples" / f).read_bytes())
                          for f in names], strict=True)
        outs = []
        async with service.slot():
            sess, _ = await service.blocking(service.registry.session_and_info, info.name)
            for x in xs:  # one run per photo: a foreign graph's batch size may be fixed at 1
                try:
                    outs.append(await service.within_budget(
                        lambda opts, x=x: sess.run([tensor], {info.input_name: x}, opts)[0][0]))
                except ort_errors() as exc:  # a foreign graph failing at run time: the model's fault, not a 500
                    raise AppError(503, "run_failed", f"model {info.name!r} failed while running: "
                                   f"{str(exc).splitlines()[0][:300]}") from exc
        acts = np.stack(outs)  # (photos, C, H, W)
        _, c, h, w = acts.shape
        flat = acts.transpose(1, 0, 2, 3).reshape(c, -1)  # (C, photos*H*W)
        top = min(TOP, flat.shape[1])
        part = np.argpartition(-flat, top - 1, axis=1)[:, :top]  # the nine largest, unordered
        order = np.take_along_axis(part, np.argsort(-np.take_along_axis(flat, part, axis=1), axis=1), axis=1)
        table = {"photo": order // (h * w), "y": order % (h * w) // w, "x": order % w,
                 "value": np.take_along_axis(flat, order, axis=1)}
        with self._lock:
            self._tables[key] = table
            self._seen[key[:2]] = np.stack(seens)


def _crop_rgb(seen: np.ndarray, box: list[int]) -> np.ndarray:
    """The inclusive box of a (3, H, W) image in [0, 1] as (h, w, 3), black outside the image (padding),
    scaled down to CROP_SIDE when larger."""
    top, left, bottom, right = box
    out = np.zeros((bottom - top + 1, right - left + 1, seen.shape[0]), np.float32)
    _, h, w = seen.shape
    r0, r1, c0, c1 = max(top, 0), min(bottom + 1, h), max(left, 0), min(right + 1, w)
    if r0 < r1 and c0 < c1:
        out[r0 - top:r1 - top, c0 - left:c1 - left] = seen[:, r0:r1, c0:c1].transpose(1, 2, 0)
    if max(out.shape[:2]) > CROP_SIDE:
        u8 = Image.fromarray(np.rint(out * 255).astype(np.uint8))
        u8.thumbnail((CROP_SIDE, CROP_SIDE), Image.Resampling.BILINEAR)
        out = np.asarray(u8, np.float32) / 255
    return out
