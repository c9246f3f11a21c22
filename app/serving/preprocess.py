"""User input -> the tensor a network expects: untrusted image bytes, photos the ImageNet way,
digits the MNIST way (invert, crop, fit 20x20, centre by mass in 28x28, pad to 32x32)."""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
import warnings

import numpy as np
from PIL import Image, ImageOps

from app.catalog.info import MNIST_MEAN, MNIST_STD
from app.errors import AppError, bad_input

ALLOWED_FORMATS = {"PNG", "JPEG", "GIF", "WEBP", "BMP"}
_DATA_URL = re.compile(r"^data:(?P<mime>[\w/+.-]*)(?:;[\w=.-]+)*?(?P<b64>;base64)?,", re.I)


def decode_base64(text: str, max_bytes: int) -> bytes:
    """A data URL or bare base64 -> bytes; 413 when its implied size is over the limit (before decoding)."""
    m = _DATA_URL.match(text)
    payload = text[m.end():] if m else text
    payload = re.sub(r"\s+", "", payload)
    if len(payload) * 3 // 4 > max_bytes:
        raise AppError(413, "too_large", f"the image is about {len(payload) * 3 // 4:,} bytes; the limit is "
                       f"{max_bytes:,}")
    try:
        return base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad_input(f"the image is not valid base64 ({exc}); send a data URL like "
                        "'data:image/png;base64,...' or plain base64", 400, "bad_base64") from exc


def open_image(data: bytes, max_pixels: int, min_side: int | None = None) -> Image.Image:
    """Decode untrusted bytes: allow-listed formats only, size checked before pixels are allocated,
    decompression-bomb warnings treated as errors; the first frame of an animation; RGB or L.
    With ``min_side``, a big JPEG is decoded at a reduced DCT scale whose short side is still at
    least ``min_side`` (up to 8x less work, and less time holding the interpreter lock)."""
    if not data:
        raise bad_input("the image is empty", 400, "empty_image")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # PIL's own ceiling
            raise AppError(413, "too_many_pixels", f"the image declares too many pixels to decode; the limit "
                           f"is {max_pixels:,}") from exc
        except ValueError as exc:
            if "too large" in str(exc).lower():  # PIL: "Decompressed data too large" (a PNG text or ICC chunk)
                raise AppError(413, "too_large", "the image carries a metadata chunk (text or colour profile) "
                               "too large to read") from exc
            raise _unsupported() from exc
        except Exception as exc:
            raise _unsupported() from exc
        w, h = img.size
        if w * h > max_pixels:
            raise AppError(413, "too_many_pixels", f"the image is {w}x{h} = {w * h:,} pixels; the limit is "
                           f"{max_pixels:,}")
        if w < 1 or h < 1:
            raise bad_input("the image has no pixels", 400, "empty_image")
        try:
            img.seek(0)
            if min_side and img.format == "JPEG" and img.mode in ("RGB", "L") and min(w, h) >= 2 * min_side:
                k = min_side / min(w, h)
                img.draft(img.mode, (math.ceil(w * k), math.ceil(h * k)))
            img.load()
            ImageOps.exif_transpose(img, in_place=True)  # a phone photo's EXIF orientation: upright, as shown
            if img.mode in ("P", "PA", "LA", "RGBA", "I;16", "I;16B", "I;16L", "I", "F", "CMYK", "YCbCr",
                            "1", "LAB", "HSV"):
                img = _flatten(img)
            elif img.mode not in ("RGB", "L"):
                img = img.convert("RGB")
        except (OSError, ValueError, SyntaxError) as exc:
            raise bad_input(f"the image could not be decoded ({exc}); is the file complete?", 400,
                            "broken_image") from exc
    return img


def _unsupported() -> AppError:
    return AppError(415, "unsupported_image", "the file is not an image in an accepted format "
                    f"({', '.join(sorted(ALLOWED_FORMATS))})")


def _flatten(img: Image.Image) -> Image.Image:
    """Transparent images onto white; 16-bit and float scaled to 8 bits; other modes to RGB."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        return Image.fromarray(np.clip(a / hi * 255, 0, 255).astype(np.uint8), "L")
    if (img.mode == "P" and "transparency" in img.info) or img.mode in ("PA", "LA", "RGBA"):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return img.convert("RGB")


def photo(img: Image.Image, shape: list[int], mean: tuple[float, ...], std: tuple[float, ...],
          pixel_range: float = 1.0, bgr: bool = False) -> np.ndarray:
    """ImageNet convention: short side to 256 (224/227 crops), centre crop, [0,1] (or [0,255] for
    Caffe-style models, optionally BGR), per-channel normalisation. Returns (1, C, H, W) float32."""
    c, h, w = shape
    img = img.convert("L" if c == 1 else "RGB")
    short = 256 if 224 <= h <= 256 else round(h / 0.875)
    iw, ih = img.size
    scale = short / min(iw, ih)
    nw, nh = max(w, round(iw * scale)), max(h, round(ih * scale))  # the resized image the crop is taken from
    left, top = (nw - w) // 2, (nh - h) // 2
    # only the part the crop keeps is resized (its box in the source, at the same per-axis scale): a 1x100000
    # image would otherwise be scaled to 25,600,000x256 first (~20 GB) to keep 224x224 of it
    sx, sy = nw / iw, nh / ih
    img = img.resize((w, h), Image.Resampling.BILINEAR, box=(left / sx, top / sy, (left + w) / sx, (top + h) / sy),
                     reducing_gap=None)
    a = np.asarray(img, dtype=np.float32) * np.float32(pixel_range / 255.0)
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    if bgr and a.shape[0] == 3:
        a = a[::-1]
    m = np.asarray(mean, np.float32).reshape(-1, 1, 1)
    s = np.asarray(std, np.float32).reshape(-1, 1, 1)
    return ((a - m) / s)[None].astype(np.float32)


def gray(img: Image.Image) -> np.ndarray:
    """An image as float grayscale in [0, 1]."""
    return np.asarray(ImageOps.grayscale(img), dtype=np.float32) / 255.0


def mnistify(a: np.ndarray) -> np.ndarray:
    """Any grayscale digit (H, W) in [0,1] -> MNIST's 28x28: white ink on black, fitted into
    20x20 keeping the aspect ratio, centred by centre of mass. 422 when there is no ink."""
    a = np.asarray(a, dtype=np.float32)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if np.median(border) > 0.5:  # dark ink on a light background (a photo of paper): invert
        a, border = 1.0 - a, 1.0 - border
    a = np.clip(a - np.median(border), 0, 1)
    peak = float(a.max())
    ink = a > max(0.1, 0.25 * peak)
    if peak < 0.15 or ink.sum() == 0:
        raise bad_input("draw a digit first: the image has no ink (it is blank or nearly uniform)", 422, "no_digit")
    ys, xs = np.nonzero(ink)
    crop = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1] / peak
    h, w = crop.shape
    s = 20.0 / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    img = Image.fromarray(crop.astype(np.float32), "F").resize((nw, nh), Image.Resampling.LANCZOS)
    box = np.clip(np.asarray(img, dtype=np.float32), 0, 1)
    total = box.sum()
    cy = (box.sum(1) * np.arange(nh)).sum() / total
    cx = (box.sum(0) * np.arange(nw)).sum() / total
    top, left = round(13.5 - cy), round(13.5 - cx)
    top, left = min(max(top, 0), 28 - nh), min(max(left, 0), 28 - nw)
    out = np.zeros((28, 28), np.float32)
    out[top:top + nh, left:left + nw] = box
    return out


def digit_tensor(mnist28: np.ndarray, size: int = 32, mean: float = MNIST_MEAN, std: float = MNIST_STD,
                 pixel_range: float = 1.0) -> np.ndarray:
    """28x28 in [0,1] -> (1, 1, size, size): padded to 32x32 when the model wants it (LeNet-5),
    scaled to [0, pixel_range] and normalised; the defaults are LeNet-5's training statistics."""
    if size not in (28, 32):
        raise ValueError(f"digits come as 28x28 or 32x32, not {size}x{size}")
    x = mnist28 if size == 28 else np.pad(mnist28, 2)
    return ((x * pixel_range - mean) / std)[None, None].astype(np.float32)


def pixels(value: object) -> np.ndarray:
    """Validate a 28x28 nested list of numbers in [0, 1] (422 otherwise), vectorised."""
    try:
        a = np.asarray(value)
    except (ValueError, TypeError):  # ragged rows
        a = np.asarray([], dtype=object)
    if a.shape != (28, 28):
        raise bad_input(f"pixels must be 28 rows of 28 numbers in [0, 1]; got shape {list(a.shape) or 'ragged'}")
    if a.dtype.kind not in "iuf":  # strings, booleans, nested lists, None
        raise bad_input("pixels must hold numbers only (no strings, booleans or nested lists)")
    a = a.astype(np.float32)
    if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        raise bad_input("every pixel must be a finite number in [0, 1] (white ink = 1 on black = 0)")
    return a


def data_url(a: np.ndarray, fmt: str = "PNG") -> str:
    """A [0,1] grayscale (H,W) or (1,H,W), or colour (3,H,W) array as an image data URL, for showing what the
    network saw: PNG for small digits, JPEG for photos (PNG of a 224x224 photo costs ~20 ms)."""
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 3:  # (3, H, W) as colour; a one-channel photo model's (1, H, W) as grey
        a = a.transpose(1, 2, 0) if a.shape[0] == 3 else a[0]
    lo, hi = float(a.min()), float(a.max())
    u8 = ((a - lo) * (255 / (hi - lo if hi > lo else 1))).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()
