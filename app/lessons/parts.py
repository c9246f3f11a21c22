"""Lessons for the parts of a residual block (its ``children``): one op each, in graph order."""

from __future__ import annotations

from typing import Any

from app.analysis import RF, Shape, op_forward
from app.lessons.layers import LABELS, Gettext, Walk, num, shape_str
from app.lessons.texts import bn_text, one_by_one, relu_text
from app.nets.spec import BN, Conv, Op, ReLU, Stage
from app.nets.trace import param_count


def _formulas(op: Op, shape: Shape, rf: RF | None, _: Gettext) -> tuple[list[str], Shape, RF | None]:
    w = Walk(shape, rf)
    w.step(op)
    out, macs, out_rf = op_forward(op, shape, rf)
    f: list[str] = []
    if w.params:
        f.append(f"{_(LABELS['params'])} = {' + '.join(w.params)} = {num(param_count(op, shape))}")
    if isinstance(op, Conv) and len(out) == 3:
        f.append(f"{_(LABELS['side'])} = floor(({shape[1]} + 2·{op.p} − {op.k})/{op.s}) + 1 = {out[1]}")
    f.append(f"{_(LABELS['output'])} = {shape_str(out)}")
    if w.macs:
        f.append(f"{_(LABELS['macs'])} = {' + '.join(w.macs)} = {num(macs)}")
    if rf is not None and out_rf is not None and w.rf_terms:
        f.append(f"{_(LABELS['rf'])} = {num(rf.size)} + {' + '.join(w.rf_terms)} = {num(out_rf.size)}")
    return f, out, out_rf


def _text(op: Op, shape: Shape, out: Shape, branch: str, _: Gettext) -> tuple[str, str]:
    if isinstance(op, Conv):
        if branch == "shortcut":
            title = _("Projection shortcut: 1×1 convolution, {cin} → {out} channels, stride {s}").format(
                cin=shape[0], out=op.out, s=op.s)
            return title, _("Makes x the same shape as the main branch's output ({a} → {b}) so that the two can be "
                            "added.").format(a=shape_str(shape), b=shape_str(out))
        title = _("Convolution {k}×{k}, {cin} → {out} channels").format(k=op.k, cin=shape[0], out=op.out)
        if op.s > 1:
            title += _(", stride {s}").format(s=op.s)
        text = _("{out} filters of {k}×{k}×{cin} weights, no bias (the batch norm after it has the shift).").format(
            out=op.out, k=op.k, cin=shape[0])
        if op.k == 1:
            text += " " + one_by_one(_)
        return title, text
    if isinstance(op, BN):
        return _("Batch norm, {c} channels").format(c=shape[0]), bn_text(shape[0], _)
    if isinstance(op, ReLU):
        return "ReLU", relu_text(_)
    return type(op).__name__, ""


def explain_parts(stage: Stage, shape: Shape, rf: RF | None, _: Gettext) -> list[dict[str, Any]]:
    """One explain per child, in the order of ``app.analysis.block_parts``: main ops, shortcut ops, add, post."""
    parts: list[dict[str, Any]] = []

    def run(ops: tuple[Op, ...], s: Shape, r: RF | None, branch: str) -> tuple[Shape, RF | None]:
        for op in ops:
            f, out, r2 = _formulas(op, s, r, _)
            title, text = _text(op, s, out, branch, _)
            parts.append({"title": title, "text": text, "formulas": f})
            s, r = out, r2
        return s, r

    out, out_rf = run(stage.ops, shape, rf, "main")
    if stage.shortcut is not None:
        run(stage.shortcut, shape, rf, "shortcut")
        what = _("the projection shortcut's output") if stage.shortcut else _("the block's input x")
        parts.append({"title": _("Residual add"),
                      "text": _("Adds the main branch's output F(x) and {what}, element by element: same shape, no "
                                "parameters.").format(what=what),
                      "formulas": [f"{_(LABELS['output'])} = {shape_str(out)}"]})
    run(stage.post, out, out_rf, "post")
    return parts
