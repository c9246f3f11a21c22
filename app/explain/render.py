"""From a raw explanation map to what people see and what the checks need: bilinear upsampling to
the input, the colour map, the overlay PNG, and the Spearman rank correlation of two maps."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

# inferno, 9 control points (the heat map's colours; the pages draw the legend from this list)
COLORMAP: list[list[int]] = [[0, 0, 4], [31, 12, 72], [85, 15, 109], [136, 34, 106], [186, 54, 85],
                             [227, 89, 51], [249, 140, 10], [249, 201, 50], [252, 255, 164]]


def _lut() -> np.ndarray:
    t = np.linspace(0, len(COLORMAP) - 1, 256)
    k = np.minimum(t.astype(int), len(COLORMAP) - 2)
    f = (t - k)[:, None]
    stops = np.asarray(COLORMAP, np.float64)
    return np.rint(stops[k] * (1 - f) + stops[k + 1] * f).astype(np.uint8)


LUT = _lut()


def upsample(m: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resize with half-pixel centres (PyTorch's align_corners=False, OpenCV's resize)."""
    def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (pos - lo).astype(np.float32)

    y0, y1, fy = axis(m.shape[0], h)
    x0, x1, fx = axis(m.shape[1], w)
    rows = m[y0] * (1 - fy)[:, None] + m[y1] * fy[:, None]
    return (rows[:, x0] * (1 - fx) + rows[:, x1] * fx).astype(np.float32)


def scale(m: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Values -> [0, 1] over [min(0, lowest), highest]; returns the scaled map and that range."""
    lo, hi = min(0.0, float(m.min())), float(m.max())
    return np.clip((m - lo) / (hi - lo if hi > lo else 1.0), 0, 1), lo, hi


def overlay_png(m: np.ndarray) -> str:
    """A map (already at the input's size) as an opaque colour-mapped PNG data URL."""
    u = scale(m)[0]
    rgb = LUT[np.rint(u * 255).astype(np.uint8)]
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(a, kind="stable")
    s = a[order]
    first = np.r_[True, s[1:] != s[:-1]]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(a)]
    avg = (starts + ends + 1) / 2.0
    r = np.empty(len(a))
    r[order] = avg[group]
    return r


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rank correlation (ties averaged); None when either map is constant."""
    ra, rb = _ranks(np.ravel(a).astype(np.float64)), _ranks(np.ravel(b).astype(np.float64))
    ra -= ra.mean()
    rb -= rb.mean()
    den = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return None if den == 0 else round(float((ra * rb).sum() / den), 6)
