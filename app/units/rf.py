"""Receptive-field boxes: which input pixels one unit of a layer depends on, from the layer table."""

from __future__ import annotations

import math
from typing import Any

from app.analysis import LayerInfo
from app.catalog.info import ModelInfo
from app.errors import bad_input


def find_layer(info: ModelInfo, layer: str) -> tuple[int, LayerInfo]:
    """The layer named ``layer`` (and its index); 422 naming the valid layers otherwise."""
    for i, item in enumerate(info.layers):
        if item.name == layer:
            return i, item
    names = ", ".join(item.name for item in info.layers)
    raise bad_input(f"{info.name} has no layer {layer[:100]!r}; its layers: {names}")


def spatial(info: ModelInfo, item: LayerInfo) -> tuple[int, int, int]:
    """(C, H, W) of a layer's output; 422 when the layer has no map of known size."""
    s = item.output_shape
    if s is None or len(s) != 3 or any(d is None for d in s):
        maps = ", ".join(x.name for x in info.layers if x.receptive_field and x.output_shape
                         and len(x.output_shape) == 3)
        raise bad_input(f"layer {item.name!r} of {info.name} has no spatial map (output {s}); layers with one: {maps}")
    return int(s[0]), int(s[1]), int(s[2])


def check_position(item: LayerInfo, shape: tuple[int, int, int], y: int, x: int, channel: int | None = None) -> None:
    c, h, w = shape
    dims = f"{item.name} outputs {c}x{h}x{w}"
    if not 0 <= y < h:
        raise bad_input(f"y={y} is outside 0..{h - 1} ({dims})")
    if not 0 <= x < w:
        raise bad_input(f"x={x} is outside 0..{w - 1} ({dims})")
    if channel is not None and not 0 <= channel < c:
        raise bad_input(f"channel={channel} is outside 0..{c - 1} ({dims})")


def box(size: float, jump: float, start: float, y: int, x: int) -> list[int]:
    """[top, left, bottom, right], inclusive, unclipped: pixel i spans [i, i+1), so a unit whose field is
    centred at start + i*jump covers start + i*jump - size/2 .. that + size - 1. Halves round up, as
    the pages' Math.round does (static/js/unit.js rfBox); an even window can put the edge on a half."""
    top = math.floor(start + y * jump - size / 2 + 0.5)
    left = math.floor(start + x * jump - size / 2 + 0.5)
    return [top, left, top + round(size) - 1, left + round(size) - 1]


def rf_box(info: ModelInfo, layer: str, y: int, x: int) -> dict[str, Any]:
    _, item = find_layer(info, layer)
    rf = item.receptive_field
    if rf is None:
        with_rf = ", ".join(x.name for x in info.layers if x.receptive_field)
        raise bad_input(f"layer {layer!r} has no receptive field on the input of its own (every unit of a fully "
                        f"connected or global-pooling layer sees the whole image); layers with one: {with_rf}")
    shape = spatial(info, item)
    check_position(item, shape, y, x)
    size, jump, start = rf["size"], rf["jump"], rf["start"]
    return {"layer": layer, "y": y, "x": x, "size": size, "jump": jump, "start": start,
            "box": box(size, jump, start, y, x), "input_shape": info.input_shape}
