"""LeNet-5 in 1998 and today, layer by layer: each side's ops, output and parameters (from the analysis of
both definitions) and what changed (message ids; /compare translates them)."""

from __future__ import annotations

from functools import cache

from app.analysis import analyse
from app.i18n import N_
from app.nets.lenet import lenet5, lenet5_1998
from app.nets.spec import RBF, Conv, Flatten, Linear, MaxPool, PartialConv, ReLU, ScaledTanh, Subsample

_NAMES = {ScaledTanh: N_("scaled tanh"), ReLU: N_("ReLU"), Subsample: N_("trainable subsampling"),
          MaxPool: N_("max pooling"), PartialConv: N_("partial convolution (Table I)"), Conv: N_("convolution"),
          Linear: N_("fully connected"), RBF: N_("Euclidean RBF (fixed codes)")}

# why each 1998 kind became its modern counterpart (what changed, row by row)
_CHANGES = {
    (ScaledTanh, ReLU): N_("squashing 1.7159·tanh(2a/3) → ReLU max(0, a): no saturation, faster training"),
    (Subsample, MaxPool): N_("2×2 sum × a coefficient + a bias (2 parameters per map) → the largest of each 2×2 "
                             "(nothing to learn)"),
    (PartialConv, Conv): N_("each map reads 3, 4 or 6 S2 maps by a fixed table (60 connections) → every map reads "
                            "all 6 (96)"),
    (RBF, Linear): N_("squared distances to fixed ±1 7×12 codes (0 parameters) → a trained weighted sum per class"),
}
_DROPPED_TANH = N_("squashing after the pooling → none (the values pooled have been through ReLU already)")
_SAME = N_("the same")


@cache
def history_table() -> list[dict[str, object]]:
    """The 1998 LeNet-5 against the modern one, layer by layer: each side's ops (message ids), output and
    parameters (from the analysis of both definitions) and what changed (message ids)."""
    old, new = lenet5_1998(), lenet5()
    rows = []
    for so, sn, lo, ln in zip(old.stages, new.stages, analyse(old), analyse(new), strict=True):
        ops_o = [o for o in so.ops if not isinstance(o, Flatten)]
        ops_n = [o for o in sn.ops if not isinstance(o, Flatten)]
        changes = [_CHANGES[(type(a), type(b))] for a, b in zip(ops_o, ops_n, strict=False)
                   if (type(a), type(b)) in _CHANGES]
        if len(ops_o) > len(ops_n) and isinstance(ops_o[-1], ScaledTanh):
            changes.append(_DROPPED_TANH)
        rows.append({"name": lo.name, "old": [_NAMES[type(o)] for o in ops_o], "new": [_NAMES[type(o)] for o in ops_n],
                     "shape": "×".join(map(str, lo.output_shape or ())), "old_params": lo.params,
                     "new_params": ln.params, "changes": changes or [_SAME]})
    return rows
