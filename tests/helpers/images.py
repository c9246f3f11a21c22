"""Inputs for requests: a random photo as PNG bytes, a drawn seven as 28x28 pixels and /predict bodies."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def png(a: np.ndarray, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG", **kw)
    return buf.getvalue()


PHOTO = png((np.random.default_rng(0).random((64, 80, 3)) * 255).astype(np.uint8))
_seven = np.zeros((28, 28))
_seven[6:9, 8:21] = 1
for _i in range(9, 24):
    _seven[_i, 19 - (_i - 9) // 2: 22 - (_i - 9) // 2] = 1
SEVEN = _seven  # 28x28 in [0, 1]
SEVEN_PIXELS = _seven.tolist()
GOOD = {"model": "lenet5", "pixels": SEVEN_PIXELS}  # a valid JSON /predict body


def digit_body(model: str) -> dict:
    """A JSON /predict body for ``model``: a vertical bar (a one) as 28x28 pixels."""
    px = np.zeros((28, 28))
    px[5:23, 12:16] = 1
    return {"model": model, "pixels": px.tolist()}
