"""The words of the per-layer lessons: a title and a few sentences per kind, filled with computed numbers."""

from __future__ import annotations

import math
from typing import Any

from app.analysis import Shape
from app.lessons.layers import BYTES_PER_VALUE, Gettext, has, num, shape_str
from app.nets.spec import (
    BN,
    LRN,
    RBF,
    Conv,
    Flatten,
    GlobalAvgPool,
    Linear,
    MaxPool,
    PartialConv,
    ReLU,
    ScaledTanh,
    Stage,
    Subsample,
)


def _conv(stage: Stage, shape: Shape, out: Shape, _: Gettext) -> tuple[str, list[str]]:
    conv = next(o for o in stage.ops if isinstance(o, Conv))
    c, h, w = shape
    if conv.k == 1:
        title = _("1×1 convolution, {cin} → {out} channels").format(cin=c, out=conv.out)
    else:
        title = _("Convolution {k}×{k}, {cin} → {out} channels").format(k=conv.k, cin=c, out=conv.out)
    if conv.s > 1:
        title += _(", stride {s}").format(s=conv.s)
    cin = c // conv.groups
    text = [_("Each of the {out} filters is a {k}×{k}×{cin} block of weights{bias}. It slides over the {h}×{w} "
              "input with stride {s} and padding {p}; at every position it multiplies its {kkc} weights with "
              "the values under it and adds them up: one {ho}×{wo} feature map per filter.").format(
        out=conv.out, k=conv.k, cin=cin, h=h, w=w, s=conv.s, p=conv.p, kkc=num(conv.k * conv.k * cin),
        ho=out[1] if len(out) == 3 else 1, wo=out[2] if len(out) == 3 else 1,
        bias=_(" plus one bias") if conv.bias else "")]
    if conv.groups > 1:
        text.append(_("groups = {g}: the channels are split into {g} groups, as on AlexNet's two GPUs; each filter "
                      "sees only {cin} of the {c} input channels, so this layer has 1/{g} of the weights and MACs "
                      "it would have without groups.").format(g=conv.groups, cin=cin, c=c))
    if conv.k == 1:
        text.append(one_by_one(_))
    return title, text


def one_by_one(_: Gettext) -> str:
    return _("A 1×1 convolution looks at one position at a time: it mixes the channels there into new ones, like a "
             "small fully connected layer applied at every pixel. It leaves the receptive field unchanged and, "
             "followed by ReLU, adds a non-linearity. VGG's configuration C (vgg16-1) has 1×1 convolutions where "
             "D (vgg16-3) has 3×3 ones; the paper found C better than B (the extra non-linearity helps) but worse "
             "than D (spatial context matters too).")


def lrn_text(op: LRN, family: str, _: Gettext) -> list[str]:
    text = [_("Local response normalisation divides each value a by a sum over the squares of the values at the same "
              "position in the {n} neighbouring channels (itself included): b = a / (k + α/n · Σ a²)^β, here with "
              "k = {k}, n = {n}, α = {alpha}, β = {beta}. A strongly active channel damps its neighbours ('lateral "
              "inhibition'). No parameters; shape and receptive field unchanged.").format(
        n=op.size, k=f"{op.k:g}", alpha=f"{op.alpha:g}", beta=f"{op.beta:g}")]
    if family == "VGG":
        text.append(_("The VGG paper tested this layer (configuration A-LRN against A) and found that LRN does not "
                      "improve accuracy but costs memory and computation time, so its deeper configurations leave "
                      "it out."))
    return text


def _pool(stage: Stage, shape: Shape, out: Shape, _: Gettext) -> tuple[str, list[str]]:
    op = next(o for o in stage.ops if isinstance(o, MaxPool))
    title = _("Max pooling {k}×{k}, stride {s}").format(k=op.k, s=op.s)
    text = [_("Keeps the largest value of each {k}×{k} window, channel by channel, moving {s} pixels at a time: "
              "the maps shrink from {h}×{w} to {ho}×{wo}, the {c} channels stay, and there is nothing to learn "
              "(0 parameters).").format(k=op.k, s=op.s, h=shape[1], w=shape[2], ho=out[1], wo=out[2], c=shape[0])]
    if op.k > op.s:
        text.append(_("The windows overlap (window {k} > stride {s}): AlexNet's overlapping pooling.").format(
            k=op.k, s=op.s))
    return title, text


def _fc(stage: Stage, shape: Shape, out: Shape, _: Gettext) -> tuple[str, list[str]]:
    lin = next(o for o in stage.ops if isinstance(o, Linear))
    n_in = math.prod(shape)
    title = _("Fully connected, {cin} → {out}").format(cin=num(n_in), out=num(lin.out))
    text = []
    if has(stage, Flatten) and len(shape) == 3:
        text.append(_("First the {shape} feature maps are flattened into one vector of {n} numbers (no "
                      "parameters).").format(shape=shape_str(shape), n=num(n_in)))
    text.append(_("Each of the {out} outputs is a weighted sum of all {cin} inputs plus a bias: {cin}·{out} "
                  "weights and {out} biases.").format(cin=num(n_in), out=num(lin.out)))
    return title, text


def _gap(stage: Stage, shape: Shape, out: Shape, _: Gettext) -> tuple[str, list[str]]:
    title = _("Global average pooling")
    text = [_("Averages each of the {c} maps of {h}×{w} values to one number, so the feature maps become a vector "
              "of {c}; no parameters. The layer after it sees the whole image.").format(
        c=shape[0], h=shape[1], w=shape[2])]
    return title, text


def _block(stage: Stage, shape: Shape, out: Shape, facts: dict[str, Any], _: Gettext) -> tuple[str, list[str]]:
    convs = [o for o in stage.ops if isinstance(o, Conv)]
    stride = max(c.s for c in convs)
    cin, cout = shape[0], out[0]
    bottleneck = len(convs) == 3
    if bottleneck:
        title = _("Bottleneck block: 1×1 → 3×3 → 1×1, {cin} → {mid} → {out} channels").format(
            cin=cin, mid=convs[0].out, out=cout)
    else:
        title = _("Basic block: two 3×3 convolutions, {cin} → {out} channels").format(cin=cin, out=cout)
    if stride > 1:
        title += _(", stride {s}").format(s=stride)
    text = [_("The block computes F(x) with its convolutions (each followed by batch norm, ReLU between them) and adds "
              "its input back: y = ReLU(F(x) + x), the residual connection. If F has nothing useful to add, it can "
              "learn to be 0, so the block can always pass its input on unchanged. The addition has no parameters "
              "and its additions are not counted as MACs.")]
    if bottleneck:
        mid = convs[0].out
        weights = cin * mid + 9 * mid * mid + mid * cout
        two = 2 * 9 * cout * cout
        text.append(_("The first 1×1 convolution reduces {cin} channels to {mid}, the 3×3 works at that narrow width, "
                      "and the last 1×1 expands to {out}: the three hold {cin}·{mid} + 3·3·{mid}·{mid} + {mid}·{out} "
                      "= {w} weights, where two 3×3 convolutions at the full width of {out} channels would hold "
                      "2·3·3·{out}·{out} = {two}, {ratio} times as many. That is why ResNet-50, -101 and -152 use "
                      "bottlenecks.").format(cin=cin, mid=mid, out=cout, w=num(weights), two=num(two),
                                             ratio=f"{two / weights:.1f}"))
        if stride > 1:
            text.append(_("Stride placement (ResNet v1.5, as in torchvision): the stride 2 sits in the 3×3 "
                          "convolution. The original paper (v1) put it in the first 1×1, which then simply skips "
                          "three of every four positions; v1.5 is slightly more accurate and costs a little more "
                          "compute."))
    short = facts["short"]
    if short is not None and short.params:
        sc = next(o for o in stage.shortcut or () if isinstance(o, Conv))
        text.append(_("Here the shape changes ({a} → {b}), so x cannot be added as it is: the shortcut is a 1×1 "
                      "convolution with stride {s} plus batch norm (a projection shortcut), {cin}·{out} + 2·{out} = "
                      "{p} parameters.").format(a=shape_str(shape), b=shape_str(out), s=sc.s, cin=cin, out=cout,
                                                p=num(cin * cout + 2 * cout)))
    else:
        text.append(_("The shortcut is the identity: x is added unchanged (0 parameters)."))
    return title, text


def _subsample(stage: Stage, shape: Shape, out: Shape, _: Gettext) -> tuple[str, list[str]]:
    op = next(o for o in stage.ops if isinstance(o, Subsample))
    title = _("Trainable subsampling {k}×{k}, stride {k}").format(k=op.k)
    text = [_("LeNet-5's 1998 pooling: each {k}×{k} block of a map is summed, multiplied by one trainable "
              "coefficient of that map and shifted by one trainable bias: y = c·(x₁ + x₂ + x₃ + x₄) + b. The {c} "
              "maps shrink from {h}×{w} to {ho}×{wo}; 2 parameters per map. Today's networks use max pooling "
              "here, with nothing to learn.").format(k=op.k, c=shape[0], h=shape[1], w=shape[2], ho=out[1],
                                                     wo=out[2])]
    return title, text


def _partial(stage: Stage, shape: Shape, out: Shape, _: Gettext) -> tuple[str, list[str]]:
    op = next(o for o in stage.ops if isinstance(o, PartialConv))
    sizes = sorted({len(t) for t in op.table})
    count = {n: sum(1 for t in op.table if len(t) == n) for n in sizes}
    title = _("Partially connected convolution {k}×{k}, {cin} → {out} maps").format(k=op.k, cin=shape[0], out=op.out)
    text = [_("Each output map reads only some of the {cin} input maps, by a fixed table (the paper's Table I): "
              "{groups}, {n} connections in all. Each connection is its own {k}×{k} kernel, so there are "
              "{n}·{k}·{k} weights plus {out} biases, where a full convolution would have {full}. The paper gives two "
              "reasons: fewer connections, and broken symmetry, so that different maps learn different "
              "features.").format(cin=shape[0], n=op.connections, k=op.k, out=op.out,
                                  full=num((shape[0] * op.k * op.k + 1) * op.out),
                                  groups=", ".join(_("{m} of them read {n}").format(m=count[n], n=n) for n in sizes))]
    return title, text


def _rbf(stage: Stage, shape: Shape, _: Gettext) -> tuple[str, list[str]]:
    op = next(o for o in stage.ops if isinstance(o, RBF))
    title = _("Euclidean RBF output, {cin} → {out}").format(cin=shape[0], out=op.out)
    text = [_("Each of the {out} units compares the {cin} inputs with a fixed code, a stylised 7×12 bitmap of its "
              "digit with values ±1, and outputs the squared distance y_i = Σ_j (x_j − w_ij)²: the nearest code "
              "wins. The codes are chosen, not learned: 0 parameters. The graph hands on −y_i, so the softmax "
              "after it gives the paper's exp(−y_i) / Σ_k exp(−y_k); today's networks use a fully connected layer "
              "here.").format(cin=shape[0], out=op.out)]
    return title, text


def tanh_text(op: ScaledTanh, _: Gettext) -> str:
    return _("Then the squashing function f(a) = {a}·tanh({s}·a), the paper's scaled tanh: f(1) = 1 and f(−1) = −1, "
             "and the outputs stay between −{a} and {a}; no parameters, same shape.").format(
        a=f"{op.a:g}", s="2/3" if abs(op.s - 2 / 3) < 1e-9 else f"{op.s:g}")


def bn_text(c: int, _: Gettext) -> str:
    return _("Batch norm keeps 4 numbers per channel (mean, variance, scale γ, shift β); only γ and β are learned, "
             "so it adds 2·{c} = {n} parameters.").format(c=c, n=num(2 * c))


def relu_text(_: Gettext) -> str:
    return _("ReLU then sets every negative value to 0 (max(0, x)): no parameters, same shape.")


def explain_stage(stage: Stage, shape: Shape, formulas: list[str], facts: dict[str, Any], family: str,
                  last: bool, _: Gettext) -> dict[str, Any]:
    out: Shape = facts["out"]
    kind = stage.kind
    if kind == "block":
        title, text = _block(stage, shape, out, facts, _)
    elif kind == "conv" and has(stage, Conv):
        title, text = _conv(stage, shape, out, _)
    elif kind == "conv" and has(stage, PartialConv):
        title, text = _partial(stage, shape, out, _)
    elif kind == "pool" and has(stage, Subsample):
        title, text = _subsample(stage, shape, out, _)
    elif kind == "fc" and has(stage, RBF):
        title, text = _rbf(stage, shape, _)
    elif kind == "pool" and has(stage, MaxPool):
        title, text = _pool(stage, shape, out, _)
    elif kind == "fc" and has(stage, Linear):
        title, text = _fc(stage, shape, out, _)
    elif kind == "gap" and has(stage, GlobalAvgPool):
        title, text = _gap(stage, shape, out, _)
    elif kind == "lrn":
        title, text = _("Local response normalisation (LRN)"), []
    else:
        title, text = stage.name, []
    if kind != "block":
        if has(stage, BN):
            text.append(bn_text(out[0], _))
        if has(stage, ReLU):
            text.append(relu_text(_))
        for op in stage.ops:
            if isinstance(op, ScaledTanh):
                text.append(tanh_text(op, _))
    for op in stage.all_ops():
        if isinstance(op, LRN):
            text += lrn_text(op, family, _)
    rf_in, rf_out = facts["rf_in"], facts["rf_out"]
    if rf_out is not None and rf_in is not None and facts["main"].rf_terms:
        text.append(_("Receptive field: one output unit sees {size}×{size} input pixels: the previous {prev} plus "
                      "(k − 1) × jump for each window, where the jump (here {jump}) is the product of all "
                      "strides before it.").format(size=num(rf_out.size), prev=num(rf_in.size), jump=num(rf_in.jump)))
    if last:
        text.append(_("The graph ends with softmax, p_i = exp(z_i) / Σ_j exp(z_j): the {n} scores become "
                      "probabilities that add up to 1.").format(n=num(out[0])))
    size = math.prod(out)
    text.append(_("Output: {n} numbers, {b} bytes per image in float32.").format(
        n=num(size), b=num(size * BYTES_PER_VALUE)))
    return {"title": title, "text": " ".join(text), "formulas": formulas}
