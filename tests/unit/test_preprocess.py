"""Digit preprocessing the MNIST way, and photo preprocessing the ImageNet way."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.errors import AppError
from app.serving import preprocess as pre
from tests.helpers.drawn_digits import render


def _close(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two 28x28 images (1 = identical up to brightness)."""
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture
def base() -> np.ndarray:
    return pre.mnistify(render(3))


def test_mnist_geometry(base: np.ndarray) -> None:
    assert base.shape == (28, 28) and 0 <= base.min() and base.max() <= 1
    ys, xs = np.nonzero(base > 0.05)
    assert max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 <= 21  # fits the 20x20 box (+ a pixel of blur)
    total = base.sum()
    cy = (base.sum(1) * np.arange(28)).sum() / total
    cx = (base.sum(0) * np.arange(28)).sum() / total
    assert abs(cy - 13.5) <= 0.75 and abs(cx - 13.5) <= 0.75  # centred by centre of mass


@pytest.mark.parametrize(
    "variant",
    [dict(dx=0.2, dy=-0.15), dict(dx=-0.1, dy=0.12), dict(scale=0.4), dict(scale=0.9), dict(width=10),
     dict(width=34), dict(scale=0.5, dx=0.25, dy=0.25, width=16)],
)
def test_shifted_scaled_thick_thin_preprocess_alike(base: np.ndarray, variant: dict) -> None:
    assert _close(pre.mnistify(render(3, **variant)), base) > 0.75


def test_dark_ink_on_paper_is_inverted(base: np.ndarray) -> None:
    paper = 0.9 - 0.8 * render(3)  # grey-white paper, dark ink
    assert _close(pre.mnistify(paper), base) > 0.95


def test_small_canvas_and_pixels_agree(base: np.ndarray) -> None:
    small = np.asarray(Image.fromarray((render(3) * 255).astype(np.uint8)).resize((28, 28), Image.BILINEAR)) / 255
    assert _close(pre.mnistify(small), base) > 0.8


@pytest.mark.parametrize("blank", [np.zeros((280, 280)), np.ones((50, 50)), np.full((28, 28), 0.5)])
def test_empty_canvas_asks_for_a_digit(blank: np.ndarray) -> None:
    with pytest.raises(AppError, match="draw a digit first") as e:
        pre.mnistify(blank)
    assert e.value.status == 422


def test_digit_tensor_pads_and_normalises(base: np.ndarray) -> None:
    x = pre.digit_tensor(base)
    assert x.shape == (1, 1, 32, 32)
    assert np.allclose(x[0, 0, :2], -pre.MNIST_MEAN / pre.MNIST_STD)


def test_photo_resize_crop_normalise() -> None:
    img = Image.new("RGB", (640, 480), (124, 116, 104))  # the ImageNet mean colour
    x = pre.photo(img, [3, 224, 224], (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert x.shape == (1, 3, 224, 224) and np.abs(x).max() < 0.02
    x = pre.photo(img, [3, 227, 227], (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert x.shape == (1, 3, 227, 227)


@pytest.mark.parametrize("size", [(400, 266), (37, 300), (640, 480), (300, 300)])
def test_photo_resizes_only_what_the_crop_keeps_as_resize_then_crop_would(size: tuple[int, int]) -> None:
    """The crop's box resized from the source equals resizing the whole image and cropping (the textbook
    order), within one grey level (PIL's fixed-point filter weights round a few pixels the other way)."""
    rng = np.random.default_rng(sum(size))
    img = Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype(np.uint8))
    for side, short in ((224, 256), (227, 256), (32, 37)):
        x = pre.photo(img, [3, side, side], (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))[0] * 255
        scale = short / min(size)
        nw, nh = max(side, round(size[0] * scale)), max(side, round(size[1] * scale))
        whole = img.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=None)
        left, top = (nw - side) // 2, (nh - side) // 2
        want = np.asarray(whole.crop((left, top, left + side, top + side)), np.float32).transpose(2, 0, 1)
        assert np.abs(x - want).max() <= 1.0 + 1e-3, (size, side)


def test_a_thin_strip_is_not_blown_up_before_the_crop(monkeypatch) -> None:
    """A 1x100000 strip (a few hundred bytes as PNG): no resize may ask for more than the crop."""
    asked: list[tuple[int, int]] = []
    real = Image.Image.resize

    def watch(self, size, *a, **kw):
        asked.append(tuple(size))
        return real(self, size, *a, **kw)

    monkeypatch.setattr(Image.Image, "resize", watch)
    for strip in (Image.new("RGB", (100_000, 1), (9, 9, 9)), Image.new("RGB", (1, 100_000), (9, 9, 9))):
        x = pre.photo(strip, [3, 224, 224], (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        assert x.shape == (1, 3, 224, 224)
    assert asked and max(w * h for w, h in asked) <= 224 * 224


def test_a_phone_photo_is_read_upright_by_its_exif_orientation() -> None:
    """Orientation 6 (the camera held upright): stored 40 wide and 20 high with red on the left, shown
    rotated 90 degrees clockwise, so 20 wide and 40 high with red on top."""
    import io

    stored = Image.new("RGB", (40, 20), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    img = pre.open_image(buf.getvalue(), 1 << 24)
    assert img.size == (20, 40)
    a = np.asarray(img, np.int16)
    assert a[5, 10, 0] > 200 and a[5, 10, 2] < 60  # the top is red
    assert a[35, 10, 2] > 200 and a[35, 10, 0] < 60  # the bottom blue


def _png_with(kind: bytes, payload: bytes) -> bytes:
    """An 8x8 PNG carrying one more chunk (after IHDR)."""
    import io
    import struct
    import zlib

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    p = buf.getvalue()
    chunk = struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    return p[:33] + chunk + p[33:]


@pytest.mark.parametrize("kind,head", [(b"zTXt", b"k\0\0"), (b"iCCP", b"prof\0\0")])
def test_a_png_with_a_metadata_bomb_is_too_large_not_unsupported(kind: bytes, head: bytes) -> None:
    import zlib

    data = _png_with(kind, head + zlib.compress(b"A" * 50_000_000, 9))  # 50 MB in a ~50 KB chunk
    with pytest.raises(AppError) as e:
        pre.open_image(data, 1 << 24)
    assert e.value.status == 413 and "metadata chunk" in e.value.message


def test_a_header_declaring_too_many_pixels_names_the_servers_limit() -> None:
    import io
    import struct

    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "BMP")
    bmp = bytearray(buf.getvalue())
    struct.pack_into("<ii", bmp, 18, 40000, 40000)  # 1.6 billion pixels declared
    with pytest.raises(AppError) as e:
        pre.open_image(bytes(bmp), 1 << 24)
    assert e.value.status == 413 and "16,777,216" in e.value.message and "178956970" not in e.value.message
