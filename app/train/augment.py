"""Training-time distortions of MNIST digits, batched in torch: a random affine composed with an elastic
distortion (Simard et al. 2003), pen-width variation, and serif flags drawn on a share of the 1s."""

from __future__ import annotations

import math
from typing import Any

# Simard, Steinkraus & Platt (2003), "Best practices for convolutional neural networks applied to visual
# document analysis": a uniform(-1, 1) displacement field per axis, smoothed by a Gaussian of std SIGMA
# pixels and scaled by ALPHA pixels (their values for MNIST).
ELASTIC_SIGMA = 4.0
ELASTIC_ALPHA = 34.0
THICKER = THINNER = 0.25  # the shares of a batch whose strokes get thicker / thinner
FLAG_LENGTH = (3.5, 8.0)  # a serif flag's length in pixels, uniform in this range
FLAG_ANGLE = (15.0, 55.0)  # and its angle below the horizontal in degrees


def _gauss_matrix(n: int, sigma: float) -> Any:
    """(n, n + 2r) matrix whose product with a margin-padded vector is its 'valid' convolution with a
    normalised Gaussian of std ``sigma`` (radius r = ceil(3 sigma))."""
    import torch

    r = math.ceil(3 * sigma)
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-t * t / (2 * sigma * sigma))
    k = k / k.sum()
    m = torch.zeros(n, n + 2 * r)
    for i in range(n):
        m[i, i:i + 2 * r + 1] = k
    return m


def elastic_field(b: int, h: int, w: int, gen: Any, sigma: float = ELASTIC_SIGMA,
                  alpha: Any = ELASTIC_ALPHA) -> Any:
    """(b, h, w, 2) displacements in pixels (x, y): uniform(-1, 1) noise on a margin-padded field, smoothed by
    a separable Gaussian as two batched matrix products (a 'valid' convolution: no edge damping), times
    ``alpha`` (a number or one per image)."""
    import torch

    mh, mw = _gauss_matrix(h, sigma), _gauss_matrix(w, sigma)
    r = (mh.shape[1] - h) // 2
    noise = torch.rand(b, 2, h + 2 * r, w + 2 * r, generator=gen) * 2 - 1
    f = mh @ noise @ mw.T  # (b, 2, h, w)
    alpha = torch.as_tensor(alpha, dtype=torch.float32).reshape(-1, 1, 1, 1)
    return (alpha * f).permute(0, 2, 3, 1)


def stroke_width(x: Any, gen: Any) -> Any:
    """Pen-width variation: THICKER of the batch thicker (a random blend towards a 1-px dilation), THINNER
    thinner (a soft 2x2 erosion with a random floor), the rest unchanged."""
    import torch
    import torch.nn.functional as F

    b = x.shape[0]
    r = torch.rand(b, generator=gen)
    amt = (0.3 + 0.7 * torch.rand(b, generator=gen)).view(-1, 1, 1, 1)
    x = x.clone()
    thick, thin = (r < THICKER).nonzero()[:, 0], (r > 1 - THINNER).nonzero()[:, 0]
    xs = x[thick]
    x[thick] = xs + amt[thick] * (F.max_pool2d(xs, 3, 1, 1) - xs)
    xs = x[thin]
    ero = F.pad(-F.max_pool2d(-xs, 2, 1, 0), (0, 1, 0, 1))
    x[thin] = torch.minimum(xs, ero + 0.2 + 0.4 * (1 - amt[thin]))
    return x


def augment(x: Any, gen: Any, spec: dict[str, float], elastic: bool = True) -> Any:
    """Random affine (rotation +-``rotate`` deg, scale 1 +- ``scale``, shear +-``shear``, shift +-``shift`` px)
    composed with an elastic distortion (Simard's sigma; alpha uniform in [0, ``alpha``] per image, on a share
    ``elastic_p`` of the images: at Simard's full strength on top of the affine the digits broke) in one
    ``grid_sample``, then stroke-width variation, on a (B, 1, 28, 28) batch, all batched in torch. ``spec`` is
    one of the recipe's augmentation strengths (train.recipe.FULL_AUG, LIGHT_AUG)."""
    import torch
    import torch.nn.functional as F

    a = spec
    b, _, h, w = x.shape
    ang = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(a["rotate"])
    sc = 1 - a["scale"] + torch.rand(b, generator=gen) * 2 * a["scale"]
    sh = (torch.rand(b, generator=gen) * 2 - 1) * a["shear"]
    tx, ty = ((torch.rand(2, b, generator=gen) * 2 - 1) * (a["shift"] / 14))
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin + sh, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if elastic:  # pixels -> normalised coordinates (align_corners=False: 2 / size per pixel)
        alpha = torch.rand(b, generator=gen) * a["alpha"]
        if a["elastic_p"] < 1:
            alpha = alpha * (torch.rand(b, generator=gen) < a["elastic_p"])
        d = elastic_field(b, h, w, gen, alpha=alpha)
        grid = grid + d * torch.tensor([2.0 / w, 2.0 / h])
    x = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    return stroke_width(x, gen)


def flag_ones(x: Any, y: Any, gen: Any, p: float = 0.3) -> Any:
    """A serif flag on a share ``p`` of the MNIST 1s of a (B, 1, 28, 28) batch: a straight segment from the top
    of the real handwritten stroke, FLAG_LENGTH px long, FLAG_ANGLE degrees below the horizontal towards the
    left, as wide as the 1's own stroke, anti-aliased and drawn into the 28x28 image before the affine and
    elastic distortions. Not the held-out styled-digit set's flag (tests/helpers/styled_digits.py draws one
    fixed polyline with PIL on a 280x280 pad that goes through the app's preprocessing): no shared strokes or
    code."""
    import torch

    idx = ((y == 1) & (torch.rand(len(y), generator=gen) < p)).nonzero()[:, 0]
    k = len(idx)
    if not k:
        return x
    n = x.shape[-1]
    ar = torch.arange(n, dtype=torch.float32)
    xs = x[idx, 0]
    on = xs > 0.5
    rows = on.any(2)
    top = torch.where(rows, ar.view(1, -1), float(n)).min(1).values  # first inked row
    band = on & (ar.view(1, n, 1) >= top.view(-1, 1, 1)) & (ar.view(1, n, 1) <= top.view(-1, 1, 1) + 1)
    cx = (band.float() * ar.view(1, 1, n)).sum((1, 2)) / band.float().sum((1, 2)).clamp(min=1)
    width = (on.float().sum((1, 2)) / rows.float().sum(1).clamp(min=1)).clamp(1.5, 3.5)
    length = FLAG_LENGTH[0] + (FLAG_LENGTH[1] - FLAG_LENGTH[0]) * torch.rand(k, generator=gen)
    angle = torch.deg2rad(FLAG_ANGLE[0] + (FLAG_ANGLE[1] - FLAG_ANGLE[0]) * torch.rand(k, generator=gen))
    x0, y0 = cx.view(-1, 1, 1), top.view(-1, 1, 1)
    dx, dy = (-length * torch.cos(angle)).view(-1, 1, 1), (length * torch.sin(angle)).view(-1, 1, 1)
    px, py = ar.view(1, 1, n), ar.view(1, n, 1)
    t = (((px - x0) * dx + (py - y0) * dy) / (dx * dx + dy * dy)).clamp(0, 1)
    dist = torch.hypot(px - (x0 + t * dx), py - (y0 + t * dy))
    ink = (width.view(-1, 1, 1) / 2 + 0.5 - dist).clamp(0, 1)
    x = x.clone()
    ok = idx[top < n]
    x[ok, 0] = torch.maximum(xs, ink)[top < n]
    return x
