"""Per-layer lessons: a title, a short text and formulas evaluated on the layer's own numbers.

Every number is computed here from the definition (kernel, stride, channels, shapes); a
formula reads ``label = expression = ... = value`` and its value is the layer's own
``params``, ``output_shape``, ``macs`` or ``receptive_field.size`` (tests/api/test_lessons.py
evaluates each one). ``_`` is the gettext of the answer's language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.analysis import RF, Shape, conv_out, op_forward, op_macs
from app.i18n import N_
from app.nets.spec import BN, RBF, Conv, Flatten, Linear, Op, PartialConv, Stage, Subsample, window
from app.nets.trace import param_count, trace_stage

Gettext = Callable[[str], str]
BYTES_PER_VALUE = 4  # float32


def ksp(op: Op) -> tuple[int, int, int]:
    """(kernel, stride, padding) of a windowed op."""
    win = window(op)
    assert win is not None, op
    return win



# formula labels (translated); the test maps them back to the layer's fields
LABELS = {"params": N_("params"), "macs": N_("MACs"), "output": N_("output"),
          "side": N_("output side"), "rf": N_("receptive field")}


def num(n: float) -> str:
    """A number in full: 295168 -> '295,168'; 24.0 -> '24'."""
    return f"{int(n):,}" if float(n).is_integer() else f"{n:,}"


def shape_str(shape: Shape | list[int]) -> str:
    return "×".join(str(d) for d in shape)


def _dims(shape: Shape) -> str:
    """What a fully connected layer multiplies: 512x7x7 -> '7·7·512' (the issue's order), 120x1x1 -> '120'."""
    if len(shape) == 3 and shape[1] * shape[2] > 1:
        return f"{shape[1]}·{shape[2]}·{shape[0]}"
    return str(shape[0])


@dataclass
class Walk:
    """The arithmetic of a chain of ops, term by term."""

    shape: Shape
    rf: RF | None
    params: list[str] = field(default_factory=list)
    macs: list[str] = field(default_factory=list)
    rf_terms: list[str] = field(default_factory=list)
    windows: list[tuple[Op, Shape, Shape]] = field(default_factory=list)  # (op, input, output)
    flat_from: Shape | None = None  # the shape a Flatten flattened

    def step(self, op: Op) -> None:
        shape = self.flat_from if isinstance(op, Linear) and self.flat_from else self.shape
        if isinstance(op, Conv):
            c = shape[0]
            cin = str(c) if op.groups == 1 else f"({c}/{op.groups})"
            w = f"{op.k}·{op.k}·{cin}"
            self.params.append(f"({w} + 1)·{op.out}" if op.bias else f"{w}·{op.out}")
        elif isinstance(op, BN):
            self.params.append(f"2·{shape[0]}")
        elif isinstance(op, Linear):
            self.params.append(f"{_dims(shape)}·{op.out} + {op.out}")
        elif isinstance(op, Subsample):
            self.params.append(f"2·{shape[0]}")
        elif isinstance(op, PartialConv):
            self.params.append(f"{op.connections}·{op.k}·{op.k} + {op.out}")
        elif param_count(op, self.shape):
            self.params.append(str(param_count(op, self.shape)))  # a kind without a lesson yet: its number
        out, macs, rf = op_forward(op, self.shape, self.rf)
        if isinstance(op, Conv):
            cin = str(shape[0]) if op.groups == 1 else f"({shape[0]}/{op.groups})"
            self.macs.append(f"{out[0]}·{out[1]}·{out[2]}·{op.k}·{op.k}·{cin}")
        elif isinstance(op, Linear):
            self.macs.append(f"{_dims(shape)}·{op.out}")
        elif isinstance(op, Subsample):
            self.macs.append(f"{out[0]}·{out[1]}·{out[2]}·{op.k}·{op.k}")
        elif isinstance(op, PartialConv):
            self.macs.append(f"{out[1]}·{out[2]}·{op.connections}·{op.k}·{op.k}")
        elif isinstance(op, RBF):
            self.macs.append(f"{shape[0]}·{op.out}")
        elif macs:
            self.macs.append(str(macs))
        if window(op) is not None:
            self.windows.append((op, self.shape, out))
            if self.rf is not None:
                self.rf_terms.append(f"({ksp(op)[0]} − 1)·{num(self.rf.jump)}")
        self.flat_from = self.shape if isinstance(op, Flatten) else (None if isinstance(op, Linear) else self.flat_from)
        self.shape, self.rf = out, rf


def _walk(ops: tuple[Op, ...], shape: Shape, rf: RF | None) -> Walk:
    w = Walk(shape, rf)
    for op in ops:
        w.step(op)
    return w


def _side(op: Op, n: int) -> str:
    k, s, p = ksp(op)
    return f"floor(({n} + 2·{p} − {k})/{s}) + 1 = {conv_out(n, k, s, p)}"


def formulas(stage: Stage, shape: Shape, rf: RF | None, _: Gettext) -> tuple[list[str], dict[str, Any]]:
    """The stage's evaluated formulas, and the facts the texts are written from."""
    main = _walk(stage.ops, shape, rf)
    short = _walk(stage.shortcut, shape, rf) if stage.shortcut is not None else None
    post = _walk(stage.post, main.shape, main.rf)
    params = main.params + (short.params if short else []) + post.params
    macs = main.macs + (short.macs if short else []) + post.macs
    out, out_rf = post.shape, post.rf
    steps = trace_stage(stage, shape).steps
    total_params = sum(param_count(s.op, s.input_shape) for s in steps)
    total_macs = sum(op_macs(s.op, s.input_shape, s.output_shape) for s in steps)
    f: list[str] = []
    if params:
        expr = " + ".join(params)
        f.append(f"{_(LABELS['params'])} = {expr} = {num(total_params)}" if expr != num(total_params)
                 else f"{_(LABELS['params'])} = {num(total_params)}")
    win = _size_window(main.windows, out)
    if win is not None:
        op, src, dst = win
        if src[1] == src[2] and dst[1] == dst[2]:
            f.append(f"{_(LABELS['side'])} = {_side(op, src[1])}")
        else:
            f += [f"{_(LABELS['side'])} (H) = {_side(op, src[1])}", f"{_(LABELS['side'])} (W) = {_side(op, src[2])}"]
    f.append(f"{_(LABELS['output'])} = {shape_str(out)}")
    if macs:
        f.append(f"{_(LABELS['macs'])} = {' + '.join(macs)} = {num(total_macs)}")
    if out_rf is not None and rf is not None and main.rf_terms:
        f.append(f"{_(LABELS['rf'])} = {num(rf.size)} + {' + '.join(main.rf_terms)} = {num(out_rf.size)}")
    facts = {"main": main, "short": short, "post": post, "out": out, "rf_in": rf, "rf_out": out_rf,
             "params": total_params, "macs": total_macs}
    return f, facts


def _size_window(windows: list[tuple[Op, Shape, Shape]], out: Shape) -> tuple[Op, Shape, Shape] | None:
    """The window op whose output size is the stage's: the one that changes the size, else the first k>1."""
    if len(out) != 3:
        return None
    changing = [w for w in windows if w[1][1:] != w[2][1:]]
    if len(changing) == 1:
        return changing[0]
    if not changing:
        wide = [w for w in windows if ksp(w[0])[0] > 1]
        return wide[0] if wide else (windows[0] if windows else None)
    return None


def op_kind(op: Op) -> str:
    """conv, fc or other: where a parameter or a MAC is counted in the model's summary."""
    return "conv" if isinstance(op, Conv | PartialConv) else "fc" if isinstance(op, Linear | RBF) else "other"


def by_kind(stage: Stage, shape: Shape) -> tuple[dict[str, int], dict[str, int]]:
    params = {"conv": 0, "fc": 0, "other": 0}
    macs = {"conv": 0, "fc": 0, "other": 0}
    for step in trace_stage(stage, shape).steps:
        params[op_kind(step.op)] += param_count(step.op, step.input_shape)
        macs[op_kind(step.op)] += op_macs(step.op, step.input_shape, step.output_shape)
    return params, macs


def has(stage: Stage, kind: type) -> bool:
    return any(isinstance(o, kind) for o in stage.all_ops())

