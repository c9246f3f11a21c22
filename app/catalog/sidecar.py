"""NAME.json beside a foreign NAME.onnx: what the graph cannot say (title, kind, normalisation, labels),
validated key by key; a bad sidecar is a ValueError naming the key and what was wrong."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from app import jsonio
from app.catalog.info import ModelInfo

KNOWN = {"title", "description", "kind", "input_shape", "mean", "std", "pixel_range", "channel_order", "labels"}
MAX_BYTES = 512 << 10  # 21k class names fit; a sidecar is read on every scan
MAX_TEXT = {"title": 200, "description": 5000}  # characters


def parse_sidecar(data: bytes) -> Any:
    """The sidecar's JSON, read as strictly as the API reads a body: UTF-8, no NaN or Infinity, no key
    given twice, not nested without end (ValueError saying what is wrong)."""
    try:
        return jsonio.loads(data.decode("utf-8"), constants=False)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def apply_sidecar(info: ModelInfo, side: Any, n_out: int | None) -> ModelInfo:
    """``info`` with what the sidecar declares. Keys (all optional): title, description,
    kind ("photo" | "digit"), input_shape [C, H, W] (NCHW), mean, std, pixel_range (1 or 255),
    channel_order ("RGB" | "BGR"), labels ("imagenet" | "mnist" | "index" | [names])."""
    if not isinstance(side, dict):
        raise ValueError("must be a JSON object")
    unknown = sorted(set(side) - KNOWN)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}; known: {', '.join(sorted(KNOWN))}")
    new: dict[str, Any] = {}
    for key, cap in MAX_TEXT.items():
        if key in side:
            if not isinstance(side[key], str):
                raise ValueError(f"{key} must be a string")
            if len(side[key]) > cap:
                raise ValueError(f"{key} is {len(side[key]):,} characters long; the limit is {cap:,}")
            new[key] = side[key]
    if "kind" in side:
        if side["kind"] not in ("photo", "digit"):
            raise ValueError("kind must be 'photo' or 'digit'")
        new["input_kind"] = side["kind"]
    shape = info.input_shape
    if "input_shape" in side:
        shape = side["input_shape"]
        if not (isinstance(shape, list) and len(shape) == 3
                and all(_number(d) and isinstance(d, int) and d > 0 for d in shape)):
            raise ValueError("input_shape must be [C, H, W] of positive integers (NCHW without the batch)")
        if any(g is not None and g != d for g, d in zip(info.input_shape, shape, strict=False)):
            raise ValueError(f"input_shape {shape} contradicts the graph's {info.input_shape}")
        new["input_shape"] = shape
    channels = shape[0] or 3
    for key in ("mean", "std"):
        if key in side:
            v = side[key]
            if not (isinstance(v, list) and len(v) == channels and all(_number(x) for x in v)):
                raise ValueError(f"{key} must be a list of {channels} finite numbers")
            if key == "std" and any(x <= 0 for x in v):
                raise ValueError("std must be positive")
            new[key] = tuple(float(x) for x in v)
    if "pixel_range" in side:
        if not _number(side["pixel_range"]) or side["pixel_range"] not in (1, 255):
            raise ValueError("pixel_range must be 1 or 255")
        new["pixel_range"] = float(side["pixel_range"])
    if "channel_order" in side:
        if side["channel_order"] not in ("RGB", "BGR"):
            raise ValueError("channel_order must be 'RGB' or 'BGR'")
        new["bgr"] = side["channel_order"] == "BGR"
    if "labels" in side:
        new["labels"], new["label_names"] = _labels(side["labels"], n_out)
    declared = set(side)
    new["assumed"] = [a for a in info.assumed if not (
        ("normalisation" in a and {"mean", "std"} <= declared) or ("labels" in a and "labels" in declared))]
    new["card"] = {"sidecar": side}
    return replace(info, **new)


def _labels(labels: Any, n_out: int | None) -> tuple[str, list[str] | None]:
    """(labels kind, class names): a known label set by name, or the model's own list of names."""
    if labels in ("imagenet", "mnist", "index"):
        return labels, None
    if isinstance(labels, list) and all(isinstance(x, str) for x in labels):
        if n_out is not None and len(labels) != n_out:
            raise ValueError(f"labels has {len(labels)} names but the model has {n_out} outputs")
        return "sidecar", labels
    raise ValueError("labels must be 'imagenet', 'mnist', 'index' or a list of names")
