"""A set of digits that are not from MNIST: scripted pen strokes, drawn the way the pad draws them
(white round-capped lines on black, 280x280), in several sizes, places, slants and pen widths.
Used to report how LeNet-5 does on drawn input; never used for training or tuning."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

Stroke = list[tuple[float, float]]


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 24) -> Stroke:
    return [(cx + rx * math.cos(math.radians(a0 + (a1 - a0) * i / n)),
             cy + ry * math.sin(math.radians(a0 + (a1 - a0) * i / n))) for i in range(n + 1)]


# unit square, y grows downwards; angles in degrees, 0 = right, 90 = down
TEMPLATES: dict[int, list[Stroke]] = {
    0: [_arc(0.5, 0.5, 0.3, 0.45, 0, 360, 36)],
    1: [[(0.35, 0.2), (0.55, 0.05), (0.55, 0.95)]],
    2: [[*_arc(0.5, 0.3, 0.3, 0.25, 200, 360), (0.75, 0.45), (0.2, 0.95), (0.85, 0.95)]],
    3: [_arc(0.48, 0.28, 0.28, 0.23, 200, 450) + _arc(0.48, 0.72, 0.32, 0.25, 270, 500)],
    4: [[(0.6, 0.05), (0.15, 0.65), (0.85, 0.65)], [(0.62, 0.3), (0.62, 0.98)]],
    5: [[(0.8, 0.05), (0.3, 0.05), (0.25, 0.45), *_arc(0.5, 0.68, 0.32, 0.28, 240, 500)]],
    6: [_arc(0.75, 0.5, 0.45, 0.48, 250, 160, 12) + _arc(0.5, 0.72, 0.27, 0.25, 180, 540)],
    7: [[(0.15, 0.08), (0.85, 0.08), (0.4, 0.95)]],
    8: [_arc(0.5, 0.27, 0.22, 0.22, 90, 450) + _arc(0.5, 0.71, 0.28, 0.24, 270, 630)],
    9: [[*_arc(0.5, 0.3, 0.27, 0.25, 0, 360), (0.77, 0.3), (0.72, 0.95)]],
}


def render(digit: int, scale: float = 0.7, dx: float = 0.0, dy: float = 0.0, slant: float = 0.0,
           width: int = 22, size: int = 280) -> np.ndarray:
    """One drawn digit as a (size, size) float array in [0, 1], white on black."""
    img = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(img)
    box = size * scale
    ox, oy = (size - box) / 2 + dx * size, (size - box) / 2 + dy * size
    for stroke in TEMPLATES[digit]:
        pts = [(ox + (x + slant * (0.5 - y)) * box, oy + y * box) for x, y in stroke]
        d.line(pts, fill=255, width=width, joint="curve")
        for x, y in (pts[0], pts[-1]):  # round caps, as the pad's lineCap = "round"
            d.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    return np.asarray(img, np.float32) / 255.0


def variants() -> list[tuple[int, dict[str, float]]]:
    """5 variants per digit: sizes, offsets, slants, pen widths (fixed, not chosen by results)."""
    vs = [dict(), dict(scale=0.5, dx=-0.15, dy=0.1), dict(scale=0.85, slant=0.2, width=30),
          dict(scale=0.6, dx=0.2, dy=-0.15, width=14), dict(scale=0.75, slant=-0.15, width=26)]
    return [(d, v) for d in range(10) for v in vs]
