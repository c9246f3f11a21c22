"""The pictures of the units panel's examples: the nine winners per channel, their crops, PNG data URLs."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

TOP = 9  # examples per channel


def png(a: np.ndarray) -> str:
    u8 = np.rint(np.clip(a, 0, 1) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def crop(image: np.ndarray, box: list[int]) -> np.ndarray:
    """The inclusive box [top, left, bottom, right] of an (..., H, W) ``image``, zeros outside it (padding)."""
    top, left, bottom, right = box
    out = np.zeros((*image.shape[:-2], bottom - top + 1, right - left + 1), np.float32)
    h, w = image.shape[-2:]
    r0, r1, c0, c1 = max(top, 0), min(bottom + 1, h), max(left, 0), min(right + 1, w)
    if r0 < r1 and c0 < c1:
        out[..., r0 - top:r1 - top, c0 - left:c1 - left] = image[..., r0:r1, c0:c1]
    return out
