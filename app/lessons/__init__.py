"""Lessons: what each layer of a built-in network does and why its numbers are what they are,
in the request's language, plus the model-level answers (where parameters, compute and memory live)."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from app import nets
from app.analysis import INPUT_RF, RF, Shape, analyse
from app.i18n import gettext_for
from app.lessons.layers import BYTES_PER_VALUE, Gettext, by_kind, formulas, num
from app.lessons.parts import explain_parts
from app.lessons.texts import explain_stage, one_by_one
from app.nets import resnet, vgg


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}" if whole else "0"


@cache
def lessons(name: str, lang: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(one explain per layer, the model's explain) of a built-in network, in ``lang``."""
    _ = gettext_for(lang)
    net = nets.get(name)
    layers = analyse(net)
    shape: Shape = net.input_shape
    rf: RF | None = INPUT_RF
    out: list[dict[str, Any]] = []
    params = {"conv": 0, "fc": 0, "other": 0}
    macs = {"conv": 0, "fc": 0, "other": 0}
    for i, (stage, info) in enumerate(zip(net.stages, layers, strict=True)):
        f, facts = formulas(stage, shape, rf, _)
        ex = explain_stage(stage, shape, f, facts, net.family, i == len(layers) - 1, _)
        if info.children is not None:
            ex["children"] = explain_parts(stage, shape, rf, _)
        out.append(ex)
        p, m = by_kind(stage, shape)
        for k in params:
            params[k] += p[k]
            macs[k] += m[k]
        shape, rf = tuple(info.output_shape or ()), facts["rf_out"]
    sizes = [layer.activation_size or 0 for layer in layers]
    model = {"text": _model_text(net, layers, params, macs, sizes, _), "params_by_kind": params,
             "macs_by_kind": macs, "activation_bytes": sum(sizes) * BYTES_PER_VALUE}
    return out, model


def _model_text(net: nets.Net, layers: list, params: dict[str, int], macs: dict[str, int], sizes: list[int],
                _: Gettext) -> str:
    tp, tm = sum(params.values()), sum(macs.values())
    text = [_("Where the numbers live: {pfc}% of the {tp} parameters are in the fully connected layers and {pconv}% "
              "in the convolutions; {mconv}% of the {tm} MACs are in the convolutions and {mfc}% in the fully "
              "connected layers.").format(pfc=_pct(params["fc"], tp), tp=num(tp), pconv=_pct(params["conv"], tp),
                                          mconv=_pct(macs["conv"], tm), tm=num(tm), mfc=_pct(macs["fc"], tm))]
    heavy = max(layers, key=lambda layer: layer.params or 0)
    if heavy.params:
        text.append(_("The layer with the most parameters is {name}: {p}, {pct}% of all.").format(
            name=heavy.name, p=num(heavy.params), pct=_pct(heavy.params, tp)))
    big = max(range(len(layers)), key=lambda i: sizes[i])
    text.append(_("Memory: one image's activations (every layer's output, float32) take {b} bytes; the largest is "
                  "{name}'s output, {lb} bytes.").format(b=num(sum(sizes) * BYTES_PER_VALUE), name=layers[big].name,
                                                          lb=num(sizes[big] * BYTES_PER_VALUE)))
    spatial = [layer for layer in layers if layer.receptive_field and layer.output_shape
               and len(layer.output_shape) == 3]
    if spatial:
        last = spatial[-1]
        text.append(_("Receptive field: it grows from 1 pixel to {rf}×{rf} pixels at {name}, the last layer with a "
                      "spatial map: each k×k window adds (k − 1) × jump, and every stride multiplies the jump. It "
                      "may exceed the {side}-pixel input, because padding counts too.").format(
            rf=num(last.receptive_field["size"]), name=last.name, side=net.input_shape[1]))
    if net.family == "ResNet":
        text.append(why_shortcuts(_))
    return " ".join(text)


def why_shortcuts(_: Gettext) -> str:
    return _("Why shortcuts: stacking more plain layers made networks worse, even on the training set (the "
             "degradation problem), so it is a matter of optimisation, not overfitting. With a shortcut, each block "
             "only has to learn the residual F(x) = H(x) − x, and keeping the identity is easy. In the paper (He et "
             "al. 2015, Table 2, ImageNet top-1 error, 10-crop), plain-34 was worse than plain-18 (28.54% against "
             "27.94%), while ResNet-34 was better than ResNet-18 (25.03% against 27.88%).")


def attach(detail: dict[str, Any], lang: str) -> dict[str, Any]:
    """A model's detail with ``explain`` on the model and on each layer (built-in networks only)."""
    if detail.get("source") != "builtin":
        return detail
    try:
        per_layer, model = lessons(nets.canonical(detail["name"]), lang)
    except KeyError:
        return detail
    layers = detail.get("layers") or []
    if len(per_layer) != len(layers):
        return detail
    return {**detail, "explain": copy.deepcopy(model),
            "layers": [_with_explain(layer, e) for layer, e in zip(layers, per_layer, strict=True)]}


def lean(detail: dict[str, Any]) -> dict[str, Any]:
    """A detail for the page's JSON: block parts without their explain (the page shows those as HTML;
    scripts use the layers' own formulas), a third of ResNet-152's page."""
    layers = [{**layer, "children": [{k: v for k, v in c.items() if k != "explain"} for c in layer["children"]]}
              if layer.get("children") else layer for layer in detail.get("layers") or []]
    return {**detail, "layers": layers}


def _with_explain(layer: dict[str, Any], e: dict[str, Any]) -> dict[str, Any]:
    e = copy.deepcopy(e)
    parts = e.pop("children", None)
    out = {**layer, "explain": e}
    if parts is not None and layer.get("children") is not None and len(parts) == len(layer["children"]):
        out["children"] = [{**c, "explain": p} for c, p in zip(layer["children"], parts, strict=True)]
    return out


def vgg_c_vs_d(lang: str) -> str:
    """What VGG16-1 (config C) changes from VGG16-3 (D), computed from the two definitions."""
    _ = gettext_for(lang)
    c, d = analyse(nets.get("vgg16-1")), analyse(nets.get("vgg16-3"))
    differ = [a.name for a, b in zip(c, d, strict=True) if a.kernel != b.kernel]
    pc, pd = sum(x.params or 0 for x in c), sum(x.params or 0 for x in d)
    return " ".join([_("VGG16-1 (configuration C) and VGG16-3 (D) differ only in {layers}: C has 1×1 convolutions "
                       "there and D 3×3 ones, so D has {diff} more parameters ({pd} against {pc}).").format(
        layers=", ".join(differ), diff=num(pd - pc), pd=num(pd), pc=num(pc)), one_by_one(_)])


def describe(detail: dict[str, Any], lang: str) -> str:
    """A built-in model's description in ``lang`` (a file's own description as it is)."""
    desc = detail.get("description") or ""
    if detail.get("source") != "builtin" or lang == "en":
        return desc
    _ = gettext_for(lang)
    try:
        net = nets.get(detail["name"])
    except KeyError:
        return desc
    if net.family == "LeNet":
        return _("LeCun et al.'s handwritten-digit network, modern form: ReLU and max pooling.")
    if net.name == "alexnet":
        return _("Krizhevsky, Sutskever and Hinton's ILSVRC-2012 winner as in the paper: two GPU streams (grouped "
                 "convolutions), local response normalisation, overlapping pooling.")
    if net.family == "AlexNet":
        return _("The single-stream AlexNet that torchvision ships (from Krizhevsky's 'one weird trick' paper): "
                 "64-192-384-256-256 filters, no LRN, no groups.")
    if net.family == "VGG":
        cfg, depth = vgg.variants[net.name]
        return _("Simonyan and Zisserman's configuration {cfg}: {depth} weight layers, stacks of small 3x3 "
                 "convolutions between 2x2 max pools.").format(cfg=cfg, depth=depth)
    if net.family == "ResNet":
        depth = int(net.name[len("resnet"):])
        bottleneck, blocks = resnet.depths[depth]
        kind = _("bottleneck") if bottleneck else _("basic")
        return _("He et al.'s residual network, {depth} layers of {kind} blocks ({blocks} per stage); batch norm after "
                 "every convolution.").format(depth=depth, kind=kind, blocks=" ".join(map(str, blocks)))
    return desc
