"""A drawn-digit set in the styles people use, built from pen strokes in code and never used in training:
serif and plain 1, crossed and plain 7, open and closed 4, 9 with a straight and a curved tail, plus two
forms of every other digit; each drawn with a normal, a thick and a thin pen, small, and off-centre."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

Stroke = list[tuple[float, float]]


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 24) -> Stroke:
    """Points on an ellipse from angle a0 to a1 (degrees; 0 = right, 90 = down: y grows downwards)."""
    return [(cx + rx * math.cos(math.radians(a0 + (a1 - a0) * i / n)),
             cy + ry * math.sin(math.radians(a0 + (a1 - a0) * i / n))) for i in range(n + 1)]


# (digit, style) -> strokes in the unit square
STYLES: dict[tuple[int, str], list[Stroke]] = {
    (0, "oval"): [_arc(0.5, 0.5, 0.3, 0.45, -90, 270, 36)],
    (0, "narrow slanted"): [[(0.5 + 0.2 * math.cos(math.radians(a)) + 0.12 * (0.5 - (0.5 + 0.45 * math.sin(
        math.radians(a)))), 0.5 + 0.45 * math.sin(math.radians(a))) for a in range(-90, 275, 10)]],
    (1, "plain"): [[(0.5, 0.05), (0.5, 0.95)]],
    (1, "serif"): [[(0.3, 0.25), (0.52, 0.05), (0.52, 0.95)], [(0.3, 0.95), (0.74, 0.95)]],
    (1, "flag"): [[(0.3, 0.22), (0.55, 0.05), (0.5, 0.95)]],
    (2, "curved"): [[*_arc(0.5, 0.3, 0.3, 0.25, 200, 360), (0.75, 0.45), (0.2, 0.95), (0.85, 0.95)]],
    (2, "looped"): [[*_arc(0.5, 0.3, 0.3, 0.25, 190, 380), (0.3, 0.85), *_arc(0.3, 0.88, 0.08, 0.07, 270, 90, 8),
                     (0.85, 0.92)]],
    (3, "round"): [_arc(0.48, 0.28, 0.28, 0.23, 200, 450) + _arc(0.48, 0.72, 0.32, 0.25, 270, 500)],
    (3, "flat top"): [[(0.2, 0.08), (0.78, 0.08), (0.45, 0.42), *_arc(0.48, 0.68, 0.3, 0.26, 280, 510)]],
    (4, "open"): [[(0.45, 0.05), (0.15, 0.6), (0.85, 0.6)], [(0.65, 0.25), (0.65, 0.97)]],
    (4, "closed"): [[(0.65, 0.97), (0.65, 0.05), (0.12, 0.62), (0.88, 0.62)]],
    (5, "plain"): [[(0.8, 0.05), (0.3, 0.05), (0.25, 0.45), *_arc(0.5, 0.68, 0.32, 0.28, 240, 500)]],
    (5, "two strokes"): [[(0.3, 0.06), (0.25, 0.45), *_arc(0.5, 0.68, 0.32, 0.28, 240, 500)],
                         [(0.3, 0.06), (0.82, 0.06)]],
    (6, "plain"): [_arc(0.75, 0.5, 0.45, 0.48, 250, 160, 12) + _arc(0.5, 0.72, 0.27, 0.25, 180, 540)],
    (6, "straight stem"): [[(0.7, 0.05), (0.28, 0.6), *_arc(0.5, 0.72, 0.25, 0.23, 200, 560)]],
    (7, "plain"): [[(0.15, 0.08), (0.85, 0.08), (0.4, 0.95)]],
    (7, "crossed"): [[(0.15, 0.08), (0.85, 0.08), (0.4, 0.95)], [(0.35, 0.52), (0.8, 0.52)]],
    (7, "serif"): [[(0.15, 0.2), (0.15, 0.08), (0.85, 0.08), (0.45, 0.95)]],
    (8, "two loops"): [_arc(0.5, 0.27, 0.22, 0.22, 90, 450) + _arc(0.5, 0.71, 0.28, 0.24, 270, 630)],
    (8, "figure"): [[*_arc(0.5, 0.25, 0.24, 0.2, 0, -180, 16), (0.75, 0.7), *_arc(0.5, 0.72, 0.25, 0.23, 0, 180, 16),
                     (0.75, 0.25)]],
    (9, "straight tail"): [[*_arc(0.5, 0.3, 0.27, 0.25, 0, 360), (0.77, 0.3), (0.77, 0.95)]],
    (9, "curved tail"): [[*_arc(0.5, 0.3, 0.27, 0.25, 0, 360), (0.77, 0.3), (0.75, 0.75),
                          *_arc(0.55, 0.75, 0.2, 0.2, 0, 150, 10)]],
}

# how each style is drawn: pen width in pixels on the 280x280 pad, size, offset (fixed, not chosen by results)
PENS: dict[str, dict[str, float]] = {
    "normal": {"width": 20, "scale": 0.7},
    "thick pen": {"width": 36, "scale": 0.7},
    "thin pen": {"width": 8, "scale": 0.7},
    "small": {"width": 14, "scale": 0.35},
    "off-centre": {"width": 20, "scale": 0.5, "dx": 0.2, "dy": -0.18},
}


def render(strokes: list[Stroke], width: float = 20, scale: float = 0.7, dx: float = 0.0, dy: float = 0.0,
           size: int = 280) -> np.ndarray:
    """Strokes drawn as the pad draws them (white round-capped lines on black), (size, size) in [0, 1]."""
    img = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(img)
    box = size * scale
    ox, oy = (size - box) / 2 + dx * size, (size - box) / 2 + dy * size
    w = round(width)
    for stroke in strokes:
        pts = [(ox + x * box, oy + y * box) for x, y in stroke]
        d.line(pts, fill=255, width=w, joint="curve")
        for x, y in pts:  # round caps and joints, as the pad's lineCap/lineJoin = "round"
            d.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=255)
    return np.asarray(img, np.float32) / 255.0


def styled_set() -> list[tuple[int, str, str, np.ndarray]]:
    """(digit, style, pen, 280x280 image) for every style under every pen."""
    return [(d, style, pen, render(strokes, **PENS[pen])) for (d, style), strokes in STYLES.items() for pen in PENS]


def accuracy(session: object, mean: float | None = None, std: float | None = None) -> tuple[float, list[str]]:
    """Accuracy of an onnxruntime session (a 32x32 digit model) on the set through the app's own
    preprocessing, and the misread ones as 'digit style / pen -> read'."""
    from app.serving import preprocess as pre

    kw = {k: v for k, v in (("mean", mean), ("std", std)) if v is not None}
    items = styled_set()
    x = np.concatenate([pre.digit_tensor(pre.mnistify(img), **kw) for _, _, _, img in items])
    pred = session.run(["prob"], {"input": x})[0].argmax(1)  # type: ignore[attr-defined]
    wrong = [f"{d} {s} / {p} -> {int(y)}" for (d, s, p, _), y in zip(items, pred, strict=True) if y != d]
    return 1 - len(wrong) / len(items), wrong
