"""VGG's six configurations (A, A-LRN, B, C, D, E) as config lists, torchvision style.

A list entry is a conv3 width (int), a conv1 width (``(N, 1)``), "M" (max pool 2x2/2)
or "LRN". ``cfgs`` is also what the comparison page draws the paper's Table 1 from.
"""

from __future__ import annotations

from app.nets.spec import LRN, Conv, Flatten, Linear, MaxPool, Net, ReLU, Stage

Cfg = list[int | tuple[int, int] | str]

cfgs: dict[str, Cfg] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M", 512, 512, (512, 1), "M",
          512, 512, (512, 1), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}

# product name -> (paper config, weight layers)
variants: dict[str, tuple[str, int]] = {
    "vgg11": ("A", 11),
    "vgg11-lrn": ("A-LRN", 11),
    "vgg13": ("B", 13),
    "vgg16-1": ("C", 16),
    "vgg16-3": ("D", 16),
    "vgg19": ("E", 19),
}


def _stages(cfg: Cfg) -> tuple[Stage, ...]:
    """Conv names follow the paper's blocks (conv3_2 = block 3, second conv); weight keys
    follow torchvision's `features.N` / `classifier.N` module indices."""
    stages: list[Stage] = []
    block, within, idx = 1, 0, 0  # idx: position in torchvision's `features` Sequential
    for v in cfg:
        if v == "M":
            stages.append(Stage(f"pool{block}", "pool", (MaxPool(2, 2),)))
            block, within, idx = block + 1, 0, idx + 1
        elif v == "LRN":
            stages.append(Stage(f"lrn{block}", "lrn", (LRN(5, 1e-4, 0.75, 2.0),)))
            idx += 1
        else:
            out, k = v if isinstance(v, tuple) else (v, 3)
            within += 1
            conv = Conv(out, k, 1, k // 2)
            stages.append(Stage(f"conv{block}_{within}", "conv", (conv, ReLU()), keys=(f"features.{idx}",)))
            idx += 2  # conv + its ReLU
    stages += [
        Stage("fc6", "fc", (Flatten(), Linear(4096), ReLU()), keys=("classifier.0",)),
        Stage("fc7", "fc", (Linear(4096), ReLU()), keys=("classifier.3",)),
        Stage("fc8", "fc", (Linear(1000),), keys=("classifier.6",)),
    ]
    return tuple(stages)


def vgg(name: str) -> Net:
    if name not in variants:
        raise KeyError(f"unknown VGG variant {name!r}; known: {', '.join(variants)}")
    cfg, depth = variants[name]
    return Net(
        name=name,
        title=f"VGG{name[3:].upper()} (config {cfg})",
        family="VGG",
        year=2014,
        input_shape=(3, 224, 224),
        stages=_stages(cfgs[cfg]),
        input_kind="photo",
        num_classes=1000,
        description=f"Simonyan and Zisserman's configuration {cfg}: {depth} weight layers, "
        "stacks of small 3x3 convolutions between 2x2 max pools.",
        paper="Very Deep Convolutional Networks for Large-Scale Image Recognition (2014)",
        aliases=("vgg16",) if name == "vgg16-3" else (),
    )


def table1(params: dict[str, int | None]) -> dict[str, object]:
    """The paper's Table 1 from ``cfgs``: one column per configuration (``variants``' order), rows aligned by
    block, each block closed by its max pool, then the classifier. ``params`` holds each variant's parameter
    count (app.analysis computes them; it sits above this package)."""
    names = list(variants)
    blocks: dict[str, list[list[str]]] = {}
    for n in names:
        per_block: list[list[str]] = [[]]
        for v in cfgs[variants[n][0]]:
            if v == "M":
                per_block.append([])
            elif v == "LRN":
                per_block[-1].append("LRN")
            else:
                out, k = v if isinstance(v, tuple) else (v, 3)
                per_block[-1].append(f"conv{k}-{out}")
        blocks[n] = per_block[:-1]
    rows: list[dict[str, object]] = []
    for b in range(5):
        for r in range(max(len(blocks[n][b]) for n in names)):
            rows.append({"kind": "layers", "cells": [blocks[n][b][r] if r < len(blocks[n][b]) else "" for n in names]})
        rows.append({"kind": "pool", "label": "maxpool"})
    rows += [{"kind": "pool", "label": fc} for fc in ("FC-4096", "FC-4096", "FC-1000", "soft-max")]
    return {"names": names, "configs": [variants[n][0] for n in names], "depths": [variants[n][1] for n in names],
            "rows": rows, "params": [params[n] for n in names]}
