"""Weight dictionaries for a definition: their names and shapes, and seeded He initialisation.

Names follow torchvision where it has the model (``features.0.weight``, ``layer1.0.bn1.running_var``),
so imported checkpoints map onto a definition by key.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Mapping

import numpy as np

from app.analysis import op_forward
from app.nets.spec import BN, PARAM_OPS, Conv, Linear, Net, Op, PartialConv, Subsample

Weights = Mapping[str, np.ndarray]


def param_ops(net: Net) -> list[tuple[str, Op, tuple[int, ...]]]:
    """Every parameter-holding op: (key, op, its input shape), in graph order."""
    out: list[tuple[str, Op, tuple[int, ...]]] = []
    shape: tuple[int, ...] = net.input_shape
    for stage in net.stages:
        keys = iter(stage.param_keys())
        stage_in = shape
        for branch, start in ((stage.ops, stage_in), (stage.shortcut or (), stage_in)):
            s = start
            for op in branch:
                if isinstance(op, PARAM_OPS):
                    out.append((next(keys), op, s))
                s, _, _ = op_forward(op, s, None)
            if branch is stage.ops:
                shape = s
        for op in stage.post:
            if isinstance(op, PARAM_OPS):
                out.append((next(keys), op, shape))
            shape, _, _ = op_forward(op, shape, None)
    return out


def weight_shapes(net: Net) -> dict[str, tuple[int, ...]]:
    """Every tensor the definition needs, with its shape (torchvision's layout)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for key, op, s in param_ops(net):
        if isinstance(op, Conv):
            shapes[f"{key}.weight"] = (op.out, s[0] // op.groups, op.k, op.k)
            if op.bias:
                shapes[f"{key}.bias"] = (op.out,)
        elif isinstance(op, Linear):
            shapes[f"{key}.weight"] = (op.out, s[0])
            shapes[f"{key}.bias"] = (op.out,)
        elif isinstance(op, BN):
            for t in ("weight", "bias", "running_mean", "running_var"):
                shapes[f"{key}.{t}"] = (s[0],)
        elif isinstance(op, Subsample):  # one coefficient and one bias per map
            shapes[f"{key}.coef"] = (s[0],)
            shapes[f"{key}.bias"] = (s[0],)
        elif isinstance(op, PartialConv):  # one k x k kernel per connection of the table
            shapes[f"{key}.weight"] = (op.connections, op.k, op.k)
            shapes[f"{key}.bias"] = (op.out,)
    return shapes


class HeWeights(Mapping[str, np.ndarray]):
    """Deterministic He-initialised weights (uniform), zero biases, and batch norms that pass activations on,
    generated one tensor at a time on access (a 550 MB VGG never sits in memory twice).

    Each tensor's random stream is seeded by (seed, crc32 of its name), so a tensor does not
    depend on the order of access. The last batch norm of each residual branch is scaled by
    1/sqrt(number of blocks) so the residual sum grows by about e over the whole network
    instead of doubling per block: activations stay finite and readable at every depth of an
    untrained ResNet-152.
    """

    def __init__(self, net: Net, seed: int = 0) -> None:
        self.shapes = weight_shapes(net)
        self.seed = seed
        self.blocks = sum(1 for st in net.stages if st.shortcut is not None)
        self.last_bn = {stage.param_keys()[sum(isinstance(o, PARAM_OPS) for o in stage.ops) - 1]
                        for stage in net.stages if stage.shortcut is not None}

    def shape_of(self, name: str) -> tuple[int, ...]:
        return self.shapes[name]

    def __getitem__(self, name: str) -> np.ndarray:
        shape = self.shapes[name]
        key, _, kind = name.rpartition(".")
        if kind == "weight" and len(shape) > 1:
            # He (Kaiming) uniform: U(-b, b), b = sqrt(6 / fan_in), variance 2 / fan_in as He-normal,
            # and uniform draws are ~2x faster than normal ones (VGG's 138M weights in ~2 s)
            rng = np.random.default_rng([self.seed, zlib.crc32(name.encode())])
            a = rng.random(shape, dtype=np.float32)
            a -= np.float32(0.5)
            a *= np.float32(2 * math.sqrt(6.0 / int(np.prod(shape[1:]))))
            return a
        if kind == "coef":  # a subsampling's coefficient: 1/4 of a 2x2 sum is the average
            return np.full(shape, 0.25, dtype=np.float32)
        if kind in ("weight", "running_var"):  # BN scale and variance
            scale = 1.0 / math.sqrt(self.blocks) if (kind == "weight" and key in self.last_bn) else 1.0
            return np.full(shape, scale, dtype=np.float32)
        return np.zeros(shape, dtype=np.float32)  # biases, BN shift and mean

    def __iter__(self) -> Iterator[str]:
        return iter(self.shapes)

    def __len__(self) -> int:
        return len(self.shapes)


def he_init(net: Net, seed: int = 0) -> dict[str, np.ndarray]:
    """All of ``HeWeights`` as a plain dict."""
    return dict(HeWeights(net, seed))


def check_weights(net: Net, weights: Weights) -> None:
    """Raise ValueError naming the first missing, unexpected or misshapen tensor."""
    want = weight_shapes(net)
    for name, shape in want.items():
        if name not in weights:
            raise ValueError(f"{net.name}: missing weight {name!r} (shape {list(shape)})")
        shape_of = getattr(weights, "shape_of", None)
        got = tuple(shape_of(name) if shape_of else weights[name].shape)
        if got != shape:
            raise ValueError(f"{net.name}: weight {name!r} has shape {list(got)}, expected {list(shape)}")
    extra = sorted(set(weights) - set(want))
    if extra:
        raise ValueError(f"{net.name}: unexpected weight {extra[0]!r}" +
                         (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
