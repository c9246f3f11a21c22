"""Shape, parameter, MAC and receptive-field arithmetic for a definition, stage by stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from app.nets.spec import (
    BN,
    LRN,
    RBF,
    Conv,
    Flatten,
    GlobalAvgPool,
    Linear,
    MaxPool,
    Net,
    Op,
    PartialConv,
    ReLU,
    ScaledTanh,
    Stage,
    Subsample,
)

Shape = tuple[int, ...]  # (C, H, W) or (N,) -- never the batch


def conv_out(size: int, k: int, s: int, p: int) -> int:
    """Output length of a convolution or pooling window: floor((n + 2p - k) / s) + 1."""
    return (size + 2 * p - k) // s + 1


def arithmetic(size: int, k: int, s: int, p: int) -> str:
    return f"floor(({size} + 2*{p} - {k})/{s}) + 1 = {conv_out(size, k, s, p)}"


@dataclass(frozen=True)
class RF:
    """Receptive field of one output unit: its size, the jump between neighbouring units
    and the centre of the first unit, all in input pixels (Dang-Ha's convention)."""

    size: float
    jump: float
    start: float

    def through(self, k: int, s: int, p: int) -> RF:
        return RF(self.size + (k - 1) * self.jump, self.jump * s, self.start + ((k - 1) / 2 - p) * self.jump)


INPUT_RF = RF(1, 1, 0.5)


@dataclass
class LayerInfo:
    name: str
    kind: str
    op: str  # the stage's main ONNX op type
    ops: list[str]
    input_shape: list[int] | None
    output_shape: list[int] | None
    params: int | None
    macs: int | None
    receptive_field: dict[str, float] | None
    kernel: list[int] | None = None
    stride: list[int] | None = None
    padding: list[int] | None = None
    groups: int | None = None
    arithmetic: list[str] = field(default_factory=list)
    branch: str | None = None  # a block part's place: "main", "shortcut" or "post" (after the add)
    children: list[LayerInfo] | None = None  # a residual block's parts, in graph order

    @property
    def activation_size(self) -> int | None:
        if self.output_shape is None:
            return None
        n = 1
        for d in self.output_shape:
            n *= d
        return n

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["activation_size"] = self.activation_size
        if self.children is not None:
            d["children"] = [c.as_dict() for c in self.children]
        return d


ONNX_OP = {Conv: "Conv", BN: "BatchNormalization", ReLU: "Relu", LRN: "LRN", MaxPool: "MaxPool",
           GlobalAvgPool: "GlobalAveragePool", Flatten: "Flatten", Linear: "Gemm",
           # the 1998 LeNet-5's kinds; their ONNX forms are small subgraphs (app.backends.onnx_build)
           ScaledTanh: "Tanh", Subsample: "Subsample", PartialConv: "PartialConv", RBF: "RBF"}


def op_params(op: Op, shape: Shape) -> int:
    if isinstance(op, Conv):
        return op.out * (shape[0] // op.groups) * op.k * op.k + (op.out if op.bias else 0)
    if isinstance(op, BN):
        return 2 * shape[0]  # gamma, beta (running statistics are buffers, not parameters)
    if isinstance(op, Linear):
        return op.out * shape[0] + op.out
    if isinstance(op, Subsample):
        return 2 * shape[0]  # a coefficient and a bias per map
    if isinstance(op, PartialConv):
        return op.connections * op.k * op.k + op.out
    return 0  # RBF codes are fixed, not trained


def op_forward(op: Op, shape: Shape, rf: RF | None) -> tuple[Shape, int, RF | None]:
    """One op: (output shape, MACs, receptive field after it)."""
    if isinstance(op, Conv):
        c, h, w = shape
        if c % op.groups or op.out % op.groups:
            raise ValueError(f"channels {c}->{op.out} not divisible by groups {op.groups}")
        out = (op.out, conv_out(h, op.k, op.s, op.p), conv_out(w, op.k, op.s, op.p))
        if min(out[1:]) < 1:
            raise ValueError(f"a {op.k}x{op.k} conv does not fit a {h}x{w} input")
        macs = out[0] * out[1] * out[2] * (c // op.groups) * op.k * op.k
        return out, macs, rf.through(op.k, op.s, op.p) if rf else None
    if isinstance(op, MaxPool):
        c, h, w = shape
        return (c, conv_out(h, op.k, op.s, op.p), conv_out(w, op.k, op.s, op.p)), 0, (
            rf.through(op.k, op.s, op.p) if rf else None)
    if isinstance(op, Subsample):  # every input value is accumulated once (the coefficient: 1 per output)
        c, h, w = shape
        out = (c, conv_out(h, op.k, op.k, 0), conv_out(w, op.k, op.k, 0))
        return out, out[0] * out[1] * out[2] * op.k * op.k, rf.through(op.k, op.k, 0) if rf else None
    if isinstance(op, PartialConv):
        c, h, w = shape
        if len(op.table) != op.out or any(not 0 <= i < c for t in op.table for i in t):
            raise ValueError(f"a connection table for {op.out} maps over {c} inputs has {len(op.table)} rows "
                             "or an input out of range")
        out = (op.out, conv_out(h, op.k, 1, 0), conv_out(w, op.k, 1, 0))
        return out, out[1] * out[2] * op.connections * op.k * op.k, rf.through(op.k, 1, 0) if rf else None
    if isinstance(op, RBF):
        if len(shape) != 1 or any(len(c) != shape[0] for c in op.codes):
            raise ValueError(f"RBF codes of length {len(op.codes[0])} do not fit an input of {shape}")
        return (op.out,), shape[0] * op.out, None
    if isinstance(op, GlobalAvgPool):
        return (shape[0], 1, 1), 0, None
    if isinstance(op, Flatten):
        n = 1
        for d in shape:
            n *= d
        return (n,), 0, (rf if len(shape) == 1 or shape[1:] == (1, 1) else None)
    if isinstance(op, Linear):
        if len(shape) != 1:
            raise ValueError(f"a fully connected layer needs a flat input, got {shape}")
        return (op.out,), shape[0] * op.out, None
    return shape, 0, rf  # BN, ReLU, LRN keep shape and receptive field


def _chain(ops: tuple[Op, ...], shape: Shape, rf: RF | None) -> tuple[Shape, int, int, RF | None]:
    params = macs = 0
    for op in ops:
        params += op_params(op, shape)
        shape, m, rf = op_forward(op, shape, rf)
        macs += m
    return shape, params, macs, rf


PART_KIND = {Conv: "conv", BN: "bn", ReLU: "relu", LRN: "lrn", MaxPool: "pool", GlobalAvgPool: "gap",
             Flatten: "flatten", Linear: "fc", ScaledTanh: "tanh", Subsample: "subsample",
             PartialConv: "partialconv", RBF: "rbf"}


def _rf_dict(rf: RF | None) -> dict[str, float] | None:
    return None if rf is None else {"size": rf.size, "jump": rf.jump, "start": rf.start}


def _part(name: str, op: Op, shape: Shape, rf: RF | None, branch: str) -> tuple[LayerInfo, Shape, RF | None]:
    """One op of a block as a layer entry of its own: (entry, output shape, receptive field after it)."""
    params = op_params(op, shape)
    out, macs, out_rf = op_forward(op, shape, rf)
    onnx_op = ONNX_OP[type(op)]
    info = LayerInfo(name=name, kind=PART_KIND[type(op)], op=onnx_op, ops=[onnx_op], input_shape=list(shape),
                     output_shape=list(out), params=params, macs=macs, receptive_field=_rf_dict(out_rf),
                     branch=branch)
    if isinstance(op, Conv | MaxPool):
        info.kernel, info.stride, info.padding = [op.k, op.k], [op.s, op.s], [op.p] * 4
        info.groups = op.groups if isinstance(op, Conv) else None
        info.arithmetic = [arithmetic(shape[1], op.k, op.s, op.p)]
        if shape[2] != shape[1]:
            info.arithmetic.append(arithmetic(shape[2], op.k, op.s, op.p))
    return info, out, out_rf


def block_parts(stage: Stage, shape: Shape, rf: RF | None) -> list[LayerInfo]:
    """A residual block's parts, each with the fields of a layer: the main branch's ops, the projection
    shortcut's (when the block has one), the add and the ops after it. Parameter-holding parts are named by
    their weight keys (torchvision's: ``layer1.0.conv1``, ``layer1.0.downsample.0``); a ReLU after ``bnN``
    is ``reluN``, the one after the add ``relu``."""
    keys = iter(stage.param_keys())
    parts: list[LayerInfo] = []

    def run(ops: tuple[Op, ...], s: Shape, r: RF | None, branch: str) -> tuple[Shape, RF | None]:
        last = ""
        for op in ops:
            if isinstance(op, Conv | BN | Linear):
                name = last = next(keys)
            else:
                n = "".join(ch for ch in last.rsplit(".", 1)[-1] if ch.isdigit()) if branch == "main" else ""
                name = f"{stage.name}.{PART_KIND[type(op)]}{n}"
            info, s, r = _part(name, op, s, r, branch)
            parts.append(info)
        return s, r

    out, out_rf = run(stage.ops, shape, rf, "main")
    if stage.shortcut is not None:
        sc_out, _ = run(stage.shortcut, shape, rf, "shortcut")
        if sc_out != out:
            raise ValueError(f"{stage.name}: shortcut gives {sc_out} but the block gives {out}")
        what = "the projection shortcut" if stage.shortcut else "the input (identity shortcut)"
        parts.append(LayerInfo(
            name=f"{stage.name}.add", kind="add", op="Add", ops=["Add"], input_shape=list(out),
            output_shape=list(out), params=0, macs=0, receptive_field=_rf_dict(out_rf), branch="post",
            arithmetic=[f"main branch + {what}"]))
    run(stage.post, out, out_rf, "post")
    return parts


def _window(stage: Stage) -> tuple[int, int, int, int | None] | None:
    """(kernel, stride, padding, groups) of the stage's first windowed op."""
    for op in stage.ops:
        if isinstance(op, Conv):
            return op.k, op.s, op.p, op.groups
        if isinstance(op, MaxPool):
            return op.k, op.s, op.p, None
        if isinstance(op, Subsample):
            return op.k, op.k, 0, None
        if isinstance(op, PartialConv):
            return op.k, 1, 0, None
    return None


def _main_op(stage: Stage) -> str:
    for op in stage.ops:  # the 1998 kinds name their stage
        if isinstance(op, Subsample | PartialConv | RBF):
            return ONNX_OP[type(op)]
    return {"conv": "Conv", "pool": "MaxPool", "lrn": "LRN", "fc": "Gemm", "block": "Add",
            "gap": "GlobalAveragePool"}[stage.kind]


def stage_info(stage: Stage, shape: Shape, rf: RF | None) -> tuple[LayerInfo, RF | None]:
    out, params, macs, out_rf = _chain(stage.ops, shape, rf)
    if stage.shortcut is not None:
        sc_out, sc_params, sc_macs, _ = _chain(stage.shortcut, shape, rf)
        if sc_out != out:
            raise ValueError(f"{stage.name}: shortcut gives {sc_out} but the block gives {out}")
        params, macs = params + sc_params, macs + sc_macs
    out, p2, m2, out_rf = _chain(stage.post, out, out_rf)
    params, macs = params + p2, macs + m2
    names = [ONNX_OP[type(o)] for o in stage.ops]
    if stage.shortcut is not None:
        names.append("Add")
    names += [ONNX_OP[type(o)] for o in stage.post]
    info = LayerInfo(
        name=stage.name, kind=stage.kind, op=_main_op(stage), ops=names, input_shape=list(shape),
        output_shape=list(out), params=params, macs=macs,
        receptive_field=None if out_rf is None else {"size": out_rf.size, "jump": out_rf.jump,
                                                     "start": out_rf.start},
    )
    win = _window(stage)
    if stage.kind == "block":
        stride = shape[1] // out[1] if len(out) == 3 else 1
        info.stride = [stride, stride]
        info.children = block_parts(stage, shape, rf)
    elif win is not None:
        k, s, p, groups = win
        info.kernel, info.stride, info.padding, info.groups = [k, k], [s, s], [p] * 4, groups
        info.arithmetic = [arithmetic(shape[1], k, s, p)]
        if shape[2] != shape[1]:
            info.arithmetic.append(arithmetic(shape[2], k, s, p))
    return info, out_rf


def analyse(net: Net) -> list[LayerInfo]:
    """The layer table of a definition; raises ValueError if the shapes do not fit."""
    shape: Shape = net.input_shape
    rf: RF | None = INPUT_RF
    layers = []
    for stage in net.stages:
        info, rf = stage_info(stage, shape, rf)
        layers.append(info)
        shape = tuple(info.output_shape or ())
    return layers


def totals(layers: list[LayerInfo]) -> dict[str, int | None]:
    def total(attr: str) -> int | None:
        vals = [getattr(layer, attr) for layer in layers]
        return None if any(v is None for v in vals) else sum(vals)

    acts = [layer.activation_size for layer in layers]
    return {"params": total("params"), "macs": total("macs"),
            "activations": None if any(a is None for a in acts) else sum(acts),
            "depth": sum(1 for layer in layers for o in layer.ops if o in ("Conv", "Gemm", "PartialConv", "RBF"))}
