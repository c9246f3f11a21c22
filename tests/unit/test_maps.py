"""The compact 8-bit maps: decoding them gives back the (pooled) activations within one step."""

from __future__ import annotations

import base64

import numpy as np

from app.serving.run import MapOptions, encode_maps


def _decode(m: dict) -> np.ndarray:
    u8 = np.frombuffer(base64.b64decode(m["data"]), np.uint8).reshape(m["channels"], m["height"], m["width"])
    lo, hi = np.array(m["min"])[:, None, None], np.array(m["max"])[:, None, None]
    return lo + u8 / 255 * (hi - lo)


def test_maps_round_trip_with_pooling() -> None:
    a = np.random.default_rng(0).random((40, 224, 224), dtype=np.float32)
    m = encode_maps(a, MapOptions(offset=8, channels=16, size=56))
    assert (m["offset"], m["channels"], m["total_channels"], m["height"], m["width"], m["downsample"]) == (
        8, 16, 40, 56, 56, 4)
    ref = a[8:24].reshape(16, 56, 4, 56, 4).mean(axis=(2, 4))  # plain average pooling
    step = (ref.max(axis=(1, 2)) - ref.min(axis=(1, 2)))[:, None, None] / 255
    assert np.all(np.abs(_decode(m) - ref) <= step / 2 + 1e-6)


def test_small_maps_are_sent_whole_and_vectors_are_strips() -> None:
    a = np.arange(6 * 5 * 5, dtype=np.float32).reshape(6, 5, 5)
    m = encode_maps(a, MapOptions())
    assert (m["channels"], m["height"], m["width"], m["downsample"]) == (6, 5, 5, 1)
    assert np.allclose(_decode(m), a, atol=(24 / 255) / 2 + 1e-5)
    v = encode_maps(np.linspace(-1, 1, 84, dtype=np.float32), MapOptions())
    assert (v["channels"], v["height"], v["width"]) == (1, 1, 84)
    c5 = encode_maps(np.ones((120, 1, 1), np.float32), MapOptions())
    assert (c5["channels"], c5["height"], c5["width"]) == (1, 1, 120)
    assert c5["min"] == c5["max"] == [1.0]  # a constant map decodes to itself


def test_answer_bytes_are_json_dumps_bytes_with_maps_spliced_in() -> None:
    import json

    from app.serving.service import _dumps

    rng = np.random.default_rng(0)
    maps = [encode_maps(rng.standard_normal((c, 20, 20)).astype(np.float32), MapOptions(channels=c)) for c in (3, 5)]
    answer = {"model": "m\"<x>", "layers": [
        {"name": 'a", "data": "', "maps": maps[0]},
        {"name": "no maps", "mean": 1.5},
        {"name": "\u2028é", "maps": maps[1]},
    ], "top_k": [{"label": "猫", "probability": 0.5}]}
    want = json.dumps(answer, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    assert _dumps(answer) == want
    assert _dumps({"layers": []}) == b'{"layers":[]}' and json.loads(_dumps(answer))["layers"][2]["maps"] == maps[1]
