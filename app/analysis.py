"""Parameter, MAC and receptive-field arithmetic for a definition, stage by stage: one pass over its trace."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

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
    Subsample,
    window,
)
from app.nets.trace import BRANCHES, Branch, Shape, StageTrace, Step, conv_out, out_shape, param_count, trace


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
        return None if self.output_shape is None else math.prod(self.output_shape)

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

PART_KIND = {Conv: "conv", BN: "bn", ReLU: "relu", LRN: "lrn", MaxPool: "pool", GlobalAvgPool: "gap",
             Flatten: "flatten", Linear: "fc", ScaledTanh: "tanh", Subsample: "subsample",
             PartialConv: "partialconv", RBF: "rbf"}


def op_macs(op: Op, shape: Shape, out: Shape) -> int:
    """Multiply-accumulates of one op from its input and output shapes."""
    if isinstance(op, Conv):
        return out[0] * out[1] * out[2] * (shape[0] // op.groups) * op.k * op.k
    if isinstance(op, Subsample):  # every input value is accumulated once (the coefficient: 1 per output)
        return out[0] * out[1] * out[2] * op.k * op.k
    if isinstance(op, PartialConv):
        return out[1] * out[2] * op.connections * op.k * op.k
    if isinstance(op, Linear | RBF):
        return shape[0] * op.out
    return 0


def op_rf(op: Op, shape: Shape, rf: RF | None) -> RF | None:
    """The receptive field after ``op``; None once units no longer sit on a grid of the input."""
    win = window(op)
    if rf is None:
        return None
    if win is not None:
        return rf.through(*win)
    if isinstance(op, GlobalAvgPool | RBF | Linear):
        return None
    if isinstance(op, Flatten):
        return rf if len(shape) == 1 or shape[1:] == (1, 1) else None
    return rf  # BN, ReLU, LRN, ScaledTanh keep the receptive field


def op_forward(op: Op, shape: Shape, rf: RF | None) -> tuple[Shape, int, RF | None]:
    """One op: (output shape, MACs, receptive field after it)."""
    out = out_shape(op, shape)
    return out, op_macs(op, shape, out), op_rf(op, shape, rf)


def _rf_dict(rf: RF | None) -> dict[str, float] | None:
    return None if rf is None else {"size": rf.size, "jump": rf.jump, "start": rf.start}


def _set_window(info: LayerInfo, op: Op, shape: Shape) -> None:
    """Kernel, stride, padding, groups and the output-size arithmetic of a windowed op on ``shape``."""
    win = window(op)
    if win is None:
        return
    k, s, p = win
    info.kernel, info.stride, info.padding = [k, k], [s, s], [p] * 4
    info.groups = op.groups if isinstance(op, Conv) else None
    info.arithmetic = [arithmetic(shape[1], k, s, p)]
    if shape[2] != shape[1]:
        info.arithmetic.append(arithmetic(shape[2], k, s, p))


class Measured(NamedTuple):
    """A step with its parameters, MACs and the receptive field after it."""

    step: Step
    params: int
    macs: int
    rf: RF | None


ByBranch = dict[Branch, list[Measured]]


def measure(st: StageTrace, rf: RF | None) -> ByBranch:
    """Every step of a stage measured, by branch; the shortcut starts from the stage's receptive field, the
    ops after the add from the main branch's."""
    rfs = {"main": rf, "shortcut": rf}
    out: ByBranch = {b: [] for b in BRANCHES}
    for step in st.steps:
        line = "shortcut" if step.branch == "shortcut" else "main"
        rfs[line] = op_rf(step.op, step.input_shape, rfs[line])
        out[step.branch].append(Measured(step, param_count(step.op, step.input_shape),
                                         op_macs(step.op, step.input_shape, step.output_shape), rfs[line]))
    return out


def _part(name: str, m: Measured) -> LayerInfo:
    """One op of a block as a layer entry of its own."""
    step = m.step
    onnx_op = ONNX_OP[type(step.op)]
    info = LayerInfo(name=name, kind=PART_KIND[type(step.op)], op=onnx_op, ops=[onnx_op],
                     input_shape=list(step.input_shape), output_shape=list(step.output_shape), params=m.params,
                     macs=m.macs, receptive_field=_rf_dict(m.rf), branch=step.branch)
    _set_window(info, step.op, step.input_shape)
    return info


def block_parts(st: StageTrace, measured: ByBranch, main_out: Shape, rf_main: RF | None) -> list[LayerInfo]:
    """A residual block's parts, each with the fields of a layer: the main branch's ops, the projection
    shortcut's (when the block has one), the add and the ops after it. Parameter-holding parts are named by
    their weight keys (torchvision's: ``layer1.0.conv1``, ``layer1.0.downsample.0``); a ReLU after ``bnN``
    is ``reluN``, the one after the add ``relu``. ``main_out`` and ``rf_main`` are the main branch's."""
    parts: list[LayerInfo] = []
    for branch in BRANCHES:
        if branch == "post" and st.stage.shortcut is not None:
            what = "the projection shortcut" if st.stage.shortcut else "the input (identity shortcut)"
            parts.append(LayerInfo(
                name=f"{st.stage.name}.add", kind="add", op="Add", ops=["Add"], input_shape=list(main_out),
                output_shape=list(main_out), params=0, macs=0, receptive_field=_rf_dict(rf_main), branch="post",
                arithmetic=[f"main branch + {what}"]))
        last = ""
        for m in measured[branch]:
            if m.step.key is not None:
                name = last = m.step.key
            else:
                n = "".join(ch for ch in last.rsplit(".", 1)[-1] if ch.isdigit()) if branch == "main" else ""
                name = f"{st.stage.name}.{PART_KIND[type(m.step.op)]}{n}"
            parts.append(_part(name, m))
    return parts


def _main_op(st: StageTrace) -> str:
    for op in st.stage.ops:  # the 1998 kinds name their stage
        if isinstance(op, Subsample | PartialConv | RBF):
            return ONNX_OP[type(op)]
    return {"conv": "Conv", "pool": "MaxPool", "lrn": "LRN", "fc": "Gemm", "block": "Add",
            "gap": "GlobalAveragePool"}[st.stage.kind]


def stage_info(st: StageTrace, rf: RF | None) -> tuple[LayerInfo, RF | None]:
    """The layer entry of a traced stage entered with receptive field ``rf``, and the field after it."""
    measured = measure(st, rf)
    stage, shape, out = st.stage, st.input_shape, st.output_shape
    main, post = measured["main"], measured["post"]
    main_out, rf_main = (main[-1].step.output_shape, main[-1].rf) if main else (shape, rf)
    out_rf = post[-1].rf if post else rf_main
    every = [m for b in BRANCHES for m in measured[b]]
    names = [ONNX_OP[type(o)] for o in stage.ops]
    if stage.shortcut is not None:
        names.append("Add")
    names += [ONNX_OP[type(o)] for o in stage.post]
    info = LayerInfo(
        name=stage.name, kind=stage.kind, op=_main_op(st), ops=names, input_shape=list(shape),
        output_shape=list(out), params=sum(m.params for m in every), macs=sum(m.macs for m in every),
        receptive_field=_rf_dict(out_rf),
    )
    if stage.kind == "block":
        stride = shape[1] // out[1] if len(out) == 3 else 1
        info.stride = [stride, stride]
        info.children = block_parts(st, measured, main_out, rf_main)
    else:
        first = next((o for o in stage.ops if window(o) is not None), None)
        if first is not None:
            _set_window(info, first, shape)
    return info, out_rf


def analyse(net: Net) -> list[LayerInfo]:
    """The layer table of a definition; raises ValueError if the shapes do not fit."""
    rf: RF | None = INPUT_RF
    layers = []
    for st in trace(net):
        info, rf = stage_info(st, rf)
        layers.append(info)
    return layers


def totals(layers: list[LayerInfo]) -> dict[str, int | None]:
    def total(attr: str) -> int | None:
        vals = [getattr(layer, attr) for layer in layers]
        return None if any(v is None for v in vals) else sum(vals)

    acts = [layer.activation_size for layer in layers]
    return {"params": total("params"), "macs": total("macs"),
            "activations": None if any(a is None for a in acts) else sum(acts),
            "depth": sum(1 for layer in layers for o in layer.ops if o in ("Conv", "Gemm", "PartialConv", "RBF"))}
