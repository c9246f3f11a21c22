"""One walk over a net: every op in execution order, with its shapes and its weight tensors.

The ONNX builder, the PyTorch reference, the seeded weights and the analysis all read this walk
instead of each stepping through ``ops``, ``shortcut`` and ``post`` themselves: a stage's ops run
on the stage's input ("main"), a residual block's shortcut ops run on the same input and are
added back, and the ``post`` ops run on the sum. Shapes are worked out here, once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from app.nets.spec import (
    BN,
    RBF,
    Conv,
    Flatten,
    GlobalAvgPool,
    Linear,
    Net,
    Op,
    PartialConv,
    Stage,
    Subsample,
    has_params,
    window,
)

Shape = tuple[int, ...]  # (C, H, W) or (N,) -- never the batch
Branch = Literal["main", "shortcut", "post"]
BRANCHES: tuple[Branch, ...] = ("main", "shortcut", "post")
BUFFERS = ("running_mean", "running_var")  # tensors a net holds that are not trained


def conv_out(size: int, k: int, s: int, p: int) -> int:
    """Output length of a convolution or pooling window: floor((n + 2p - k) / s) + 1."""
    return (size + 2 * p - k) // s + 1


def out_shape(op: Op, shape: Shape) -> Shape:
    """The shape ``op`` makes of an input of ``shape``; ValueError if it does not fit."""
    if isinstance(op, Conv) and (shape[0] % op.groups or op.out % op.groups):
        raise ValueError(f"channels {shape[0]}->{op.out} not divisible by groups {op.groups}")
    if isinstance(op, PartialConv) and (len(op.table) != op.out or any(not 0 <= i < shape[0]
                                                                       for t in op.table for i in t)):
        raise ValueError(f"a connection table for {op.out} maps over {shape[0]} inputs has {len(op.table)} rows "
                         "or an input out of range")
    win = window(op)
    if win is not None:
        c, h, w = shape
        k, s, p = win
        out = (op.out if isinstance(op, Conv | PartialConv) else c, conv_out(h, k, s, p), conv_out(w, k, s, p))
        if isinstance(op, Conv) and min(out[1:]) < 1:
            raise ValueError(f"a {op.k}x{op.k} conv does not fit a {h}x{w} input")
        return out
    if isinstance(op, RBF):
        if len(shape) != 1 or any(len(c) != shape[0] for c in op.codes):
            raise ValueError(f"RBF codes of length {len(op.codes[0])} do not fit an input of {shape}")
        return (op.out,)
    if isinstance(op, GlobalAvgPool):
        return (shape[0], 1, 1)
    if isinstance(op, Flatten):
        return (math.prod(shape),)
    if isinstance(op, Linear):
        if len(shape) != 1:
            raise ValueError(f"a fully connected layer needs a flat input, got {shape}")
        return (op.out,)
    return shape  # BN, ReLU, LRN, ScaledTanh keep the shape


def tensors(op: Op, key: str, shape: Shape) -> tuple[tuple[str, Shape], ...]:
    """The weight tensors of ``op`` on an input of ``shape``, named ``key.<name>`` (torchvision's names and
    layout, in the order an ONNX node takes them); () for an op without parameters (RBF codes are fixed)."""
    c = shape[0]
    if isinstance(op, Conv):
        own: tuple[tuple[str, Shape], ...] = (("weight", (op.out, c // op.groups, op.k, op.k)),)
        own += (("bias", (op.out,)),) if op.bias else ()
    elif isinstance(op, Linear):
        own = (("weight", (op.out, c)), ("bias", (op.out,)))
    elif isinstance(op, BN):
        own = tuple((t, (c,)) for t in ("weight", "bias", *BUFFERS))
    elif isinstance(op, Subsample):  # one coefficient and one bias per map
        own = (("coef", (c,)), ("bias", (c,)))
    elif isinstance(op, PartialConv):  # one k x k kernel per connection of the table
        own = (("weight", (op.connections, op.k, op.k)), ("bias", (op.out,)))
    else:
        own = ()
    return tuple((f"{key}.{name}", s) for name, s in own)


def param_count(op: Op, shape: Shape) -> int:
    """Trained parameters of ``op`` on an input of ``shape`` (batch-norm running statistics are buffers)."""
    return sum(math.prod(s) for name, s in tensors(op, "", shape) if not name.endswith(BUFFERS))


@dataclass(frozen=True)
class Step:
    """One op of a stage as it runs: its branch, shapes, and (for an op with parameters) its weights."""

    op: Op
    branch: Branch
    index: int  # position within its branch
    input_shape: Shape
    output_shape: Shape
    key: str | None = None  # the weight-name prefix of an op with parameters
    tensors: tuple[tuple[str, Shape], ...] = ()  # (full name, shape) of each weight tensor


@dataclass(frozen=True)
class StageTrace:
    """A stage with its input and output shapes and its steps in execution order: main, shortcut, post."""

    stage: Stage
    input_shape: Shape
    output_shape: Shape
    steps: tuple[Step, ...]

    def branch(self, name: Branch) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.branch == name)


def trace_stage(stage: Stage, shape: Shape) -> StageTrace:
    """Walk one stage from an input of ``shape``; ValueError if a shape does not fit."""
    keys = iter(stage.param_keys())
    steps: list[Step] = []

    def run(ops: tuple[Op, ...], s: Shape, branch: Branch) -> Shape:
        for i, op in enumerate(ops):
            key = next(keys) if has_params(op) else None
            out = out_shape(op, s)
            steps.append(Step(op, branch, i, s, out, key, tensors(op, key, s) if key else ()))
            s = out
        return s

    out = run(stage.ops, shape, "main")
    if stage.shortcut is not None:
        sc_out = run(stage.shortcut, shape, "shortcut")
        if sc_out != out:
            raise ValueError(f"{stage.name}: shortcut gives {sc_out} but the block gives {out}")
    out = run(stage.post, out, "post")
    return StageTrace(stage, shape, out, tuple(steps))


@lru_cache(maxsize=64)
def trace(net: Net) -> tuple[StageTrace, ...]:
    """Every stage of ``net`` in order, each fed the previous one's output (immutable, so kept per net)."""
    out: list[StageTrace] = []
    shape: Shape = net.input_shape
    for stage in net.stages:
        out.append(trace_stage(stage, shape))
        shape = out[-1].output_shape
    return tuple(out)


def steps(net: Net) -> list[tuple[StageTrace, Step]]:
    """Every op of ``net`` in execution order, beside its stage."""
    return [(st, s) for st in trace(net) for s in st.steps]


def weight_shapes(net: Net) -> dict[str, Shape]:
    """Every weight tensor the definition needs, with its shape (torchvision's layout), in graph order."""
    return {name: s for _, step in steps(net) for name, s in step.tensors}
